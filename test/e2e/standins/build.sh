#!/usr/bin/env bash
# Builds local stand-ins for the images the local and SSH stacks pull, on a machine where no
# registry is reachable, and tags them with the pinned names, so `pulumi up` finds them in the engine
# and pulls nothing. Each is labelled org.gpu-hosts.stand-in; none is the real image:
#   node:<pin>    debootstrap'd Debian bookworm + this machine's Node 20 and npm (the app's and key
#                 service's base, app/Dockerfile ARG NODE_IMAGE)
#   redis:<pin>   Debian's redis-server
#   caddy:<pin>   the pinned caddy release built from source (caddy.sh: go install through the Go
#                 module proxy) + wget; Debian's caddy 2.6.2 only where that build cannot be had (said)
#   ollama:<pin>  ollama.js, a small fake that answers the Ollama API calls the stack makes
# Built once per machine: an image is rebuilt only when its inputs change (label
# org.gpu-hosts.stand-in-inputs holds their digest), and the Debian root file system is kept in
# ${XDG_CACHE_HOME:-~/.cache}/gpu-hosts/standins, so even a wiped engine skips debootstrap.
# Needs root (debootstrap, chroot), docker, debootstrap and node 20. Prints one line per image.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/gpu-hosts/standins"
mkdir -p "$cache"
say() { echo "stand-ins: $*"; }
die() { echo "stand-ins: $*" >&2; exit 1; }
for t in docker debootstrap node; do command -v "$t" >/dev/null || die "$t is missing (apt-get install -y docker.io debootstrap)"; done
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot)"

# The pins, from the project itself: Pulumi.yaml's image defaults and app/Dockerfile's NODE_IMAGE.
pins="$(cd "$root" && node -e '
  const y = require("yaml"), fs = require("fs");
  const img = y.parse(fs.readFileSync("Pulumi.yaml", "utf8")).config.images.default;
  const node = /^ARG NODE_IMAGE=(\S+)$/m.exec(fs.readFileSync("app/Dockerfile", "utf8"))[1];
  console.log([node, img.redis, img.proxy, img.ollama].join(" "));')"
read -r NODE_PIN REDIS_PIN CADDY_PIN OLLAMA_PIN <<<"$pins"
BASE=gpu-hosts-standin/debian:bookworm

digest() { cat "$@" | sha256sum | cut -c1-16; }
have() { # image inputs-digest: the image exists and was built from these inputs
  [ "$(docker image inspect -f '{{index .Config.Labels "org.gpu-hosts.stand-in-inputs"}}' "$1" 2>/dev/null)" = "$2" ]
}

# 1. Debian bookworm (minbase), the root of every stand-in.
node_bin="$(readlink -f "$(command -v node)")"
node_version="$("$node_bin" --version)"
case "$node_version" in v20.*) ;; *) die "this machine's node is $node_version; the stand-in for $NODE_PIN needs v20" ;; esac
rootfs_tar="$cache/debian-bookworm-minbase.tar"
base_inputs="$(echo "bookworm minbase ca-certificates $(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum)" | sha256sum | cut -c1-16)"
if ! have "$BASE" "$base_inputs"; then
  if [ ! -s "$rootfs_tar" ] || [ "$(cat "$rootfs_tar.inputs" 2>/dev/null)" != "$base_inputs" ]; then
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | tr -d ' ' || true)
    tmp="$(mktemp -d)"
    say "debootstrap --variant=minbase bookworm (once per machine, ~30 s)"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$tmp/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $cache/debootstrap.log"
    # This machine's extra CAs (a TLS-intercepting egress proxy signs the npm registry's certificate).
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$tmp/rootfs/usr/local/share/ca-certificates/"
      chroot "$tmp/rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    chroot "$tmp/rootfs" apt-get clean
    rm -rf "$tmp/rootfs"/var/lib/apt/lists/*
    tar -C "$tmp/rootfs" -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
    echo "$base_inputs" >"$rootfs_tar.inputs"
    rm -rf "$tmp"
  fi
  docker import --change "LABEL org.gpu-hosts.stand-in-inputs=$base_inputs" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$rootfs_tar" "$BASE" >/dev/null
fi
say "$BASE ready"

# 2. node: the base plus this machine's node and npm, and the official image's node user (uid 1000).
npm_dir="$(dirname "$(dirname "$node_bin")")/lib/node_modules/npm"
[ -f "$npm_dir/bin/npm-cli.js" ] || die "no npm beside $node_bin (looked in $npm_dir)"
node_inputs="$(echo "$base_inputs $(sha256sum "$node_bin" | cut -c1-64) $(cat "$npm_dir/package.json" | sha256sum)" | sha256sum | cut -c1-16)"
if ! have "$NODE_PIN" "$node_inputs"; then
  ctx="$(mktemp -d)"
  cp "$node_bin" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  rm -f "$ctx/npm/npmrc"   # a distribution's built-in npmrc; the official image has none
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=${node_version#v} NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL org.gpu-hosts.stand-in="$NODE_PIN, Debian bookworm with this machine's node $node_version" org.gpu-hosts.stand-in-inputs=$node_inputs
CMD ["node"]
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t "$NODE_PIN" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
say "$NODE_PIN ready ($(docker run --rm "$NODE_PIN" node --version))"

# 3. redis and ollama: one Dockerfile each, beside this script.
build() { # pin dir base-arg-name base-image
  local inputs
  inputs="$(echo "$4 $(docker image inspect -f '{{.Id}}' "$4") $(digest "$here/$2"/*)" | sha256sum | cut -c1-16)"
  if ! have "$1" "$inputs"; then
    DOCKER_BUILDKIT=0 docker build -q --build-arg "$3=$4" --label "org.gpu-hosts.stand-in-inputs=$inputs" -t "$1" "$here/$2" >/dev/null \
      || die "docker build of the $2 stand-in failed"
  fi
  say "$1 ready"
}
build "$REDIS_PIN" redis BASE_IMAGE "$BASE"
build "$OLLAMA_PIN" ollama NODE_IMAGE "$NODE_PIN"

# 4. caddy: the Dockerfile beside this script, with the pinned release's binary in its context.
caddy_ctx="$(mktemp -d)"
cp "$here/caddy/Dockerfile" "$caddy_ctx/"
if caddy_bin="$(bash "$here/caddy.sh")"; then
  cp "$caddy_bin" "$caddy_ctx/caddy"
  caddy_what="caddy $("$caddy_bin" version | cut -d' ' -f1) built from source (go install)"
else
  caddy_what="Debian's caddy package (2.6.2): the pinned release could not be built here"
  say "WARNING: $CADDY_PIN stands in as $caddy_what (see above)"
fi
caddy_inputs="$(echo "$BASE $(docker image inspect -f '{{.Id}}' "$BASE") $(digest "$caddy_ctx"/*)" | sha256sum | cut -c1-16)"
if ! have "$CADDY_PIN" "$caddy_inputs"; then
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$BASE" --label "org.gpu-hosts.stand-in-inputs=$caddy_inputs" \
    --label "org.gpu-hosts.stand-in=$CADDY_PIN, $caddy_what" -t "$CADDY_PIN" "$caddy_ctx" >/dev/null \
    || { rm -rf "$caddy_ctx"; die "docker build of the caddy stand-in failed"; }
fi
rm -rf "$caddy_ctx"
say "$CADDY_PIN ready ($caddy_what)"
