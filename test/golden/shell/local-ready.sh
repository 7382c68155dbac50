if ! out="$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}' 2>&1)"; then
  echo "no Docker engine answers at $DOCKER_HOST: $out" >&2
  exit 1
fi
echo "$out"
