## A GPU host: the driver answers, and a container started with --gpus all sees the GPU.
nvidia-smi >/dev/null || fail "nvidia-smi cannot reach the NVIDIA driver"

echo "gpu-hosts: running nvidia-smi -L in $IMAGE with --gpus all"
in_container="$(as_root docker run --rm --gpus all "$IMAGE" nvidia-smi -L)"
echo "$in_container"
grep -q "^GPU " <<<"$in_container" || fail "no GPU visible inside a container"

