set -euo pipefail
keep=aws-app-green:v3-0123456789abcdef0123
docker image ls --format '{{.Repository}}:{{.Tag}}' aws-app-green | while read -r ref; do
  [ "$ref" = "$keep" ] && continue
  if docker image rm "$ref" >/dev/null; then echo "removed previous image $ref"; else echo "kept $ref: still in use" >&2; fi
done
