## A GPU host: one parseable line per GPU (infra/shell/readiness.ts GPU_LINE).

gpus="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
while IFS=, read -r name driver; do
  echo "GPU: $name, driver ${driver# }"
done <<<"$gpus"
