## The login user's Docker, as the Docker provider will use it. PLATFORM_FORMAT is bound in place
## (infra/shell/host.ts).
# As the user, in a fresh login (sudo re-reads its groups): what the Docker provider will do.
me="$(id -un)"
if [ "$me" = root ]; then as_me=(); else as_me=(sudo -n -u "$me"); fi
if ! platform="$("${as_me[@]}" docker version --format "${PLATFORM_FORMAT}" 2>&1)"; then
  fail "user $me cannot use Docker without sudo: $platform"
fi
echo "gpu-hosts: docker platform $platform"
