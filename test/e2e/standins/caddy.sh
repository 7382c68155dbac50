#!/usr/bin/env bash
# Prints the path of a caddy binary of the version the program pins (Pulumi.yaml's images.proxy
# default, e.g. caddy:2.11.6-alpine -> v2.11.6), built from its source once per machine and cached in
# ${XDG_CACHE_HOME:-~/.cache}/gpu-hosts/standins/caddy-<version>. No registry is reachable here, but
# the Go module proxy is: `go install github.com/caddyserver/caddy/v2/cmd/caddy@<version>` builds the
# real release (static, CGO off; CustomVersion set, since `caddy version` otherwise finds no version
# in a binary built as the main module). The first build takes minutes (tens of minutes on a busy
# 2-core machine); later runs find the cached binary. The stand-in caddy image (build.sh), the
# rotation and swap benchmarks and the caddy tools tests use it.
# Fails, saying why, when Go or the module proxy cannot give it; callers then fall back to Debian's
# caddy and say so.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/gpu-hosts/standins"
pin="$(cd "$root" && node -e 'console.log(require("yaml").parse(require("fs").readFileSync("Pulumi.yaml", "utf8")).config.images.default.proxy)')"
version="v$(sed -E 's/^caddy:([0-9]+\.[0-9]+\.[0-9]+)(-.*)?$/\1/' <<<"$pin")"
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "caddy.sh: cannot read a caddy version from the pin $pin" >&2; exit 1; }
bin="$cache/caddy-$version"
if [ -x "$bin" ] && [ "$("$bin" version 2>/dev/null | cut -d' ' -f1)" = "$version" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "caddy.sh: no go on PATH to build caddy $version" >&2; exit 1; }
mkdir -p "$cache"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "caddy.sh: building caddy $version from source (go install, once per machine; minutes)" >&2
if ! GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -trimpath \
    -ldflags "-s -w -X github.com/caddyserver/caddy/v2.CustomVersion=$version" \
    "github.com/caddyserver/caddy/v2/cmd/caddy@$version" >"$tmp/build.log" 2>&1; then
  echo "caddy.sh: go install github.com/caddyserver/caddy/v2/cmd/caddy@$version failed: $(tail -n 3 "$tmp/build.log" | tr '\n' ' ')" >&2
  exit 1
fi
[ "$("$tmp/caddy" version | cut -d' ' -f1)" = "$version" ] || { echo "caddy.sh: the built caddy reports $("$tmp/caddy" version), not $version" >&2; exit 1; }
mv "$tmp/caddy" "$bin"
echo "$bin"
