## Run beside the operator's own engine (infra/hosts/local.ts, bash, DOCKER_HOST set): prints the
## engine's platform, or fails naming the endpoint that did not answer. PLATFORM_FORMAT is bound in
## place (infra/shell/host.ts).
if ! out="$(docker version --format "${PLATFORM_FORMAT}" 2>&1)"; then
  echo "no Docker engine answers at $DOCKER_HOST: $out" >&2
  exit 1
fi
echo "$out"
