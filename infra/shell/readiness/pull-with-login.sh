## A GPU host with a Docker Hub login (gpu-hosts:registry.username): the image the next part runs is
## pulled with that login first, from a docker client config the gate reads on its stdin (never argv,
## never a file left behind), instead of anonymously by `docker run`. An image the host has already
## is not pulled at all, so a re-run gate, a retry or a recover on the same machine pulls nothing.
if ! as_root docker image inspect "$IMAGE" >/dev/null 2>&1; then
  login_dir="$(mktemp -d)"
  trap 'rm -rf "$login_dir"' EXIT
  (umask 077 && cat >"$login_dir/config.json")
  echo "gpu-hosts: pulling $IMAGE with the Docker Hub login"
  as_root env DOCKER_CONFIG="$login_dir" docker pull --quiet "$IMAGE" >/dev/null ||
    fail "could not pull $IMAGE with the Docker Hub login of gpu-hosts:registry.username (see the error above)"
  rm -rf "$login_dir"
fi

