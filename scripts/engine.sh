#!/usr/bin/env bash
# Makes a real Pulumi CLI available to `npm run up`, the Automation API and the engine tests
# (test/engine.test.ts), and prints its path as the last line.
#
# 1. A `pulumi` CLI already installed on PATH (not the `pulumi` npm launcher) is used as it is.
# 2. Otherwise the CLI is built from Go modules (the module proxy) and installed where the npm
#    launcher (node_modules/pulumi, run by node_modules/.bin/pulumi) looks first:
#    $PULUMI_HOME/versions/<launcher version>/bin/pulumi (PULUMI_HOME defaults to ~/.pulumi; see
#    node_modules/pulumi/lib/cache.js and resolve.js). The launcher then runs it without downloading.
#    Built once per machine: skipped when that binary already reports the pinned version; Go's module
#    and build caches are kept (go env GOMODCACHE/GOCACHE), so a rebuild after that is warm.
#
# Why this version: the newest github.com/pulumi/pulumi/pkg/v3 whose source the proxy serves here.
# v3.260.0 answers .info but its .zip is refused (403 "This module version is not available");
# v3.265.0 (the launcher's version) is refused outright. Override with PULUMI_ENGINE_VERSION.
#
# The Node.js language host (module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
# has no tags, and the proxy refuses its version list, v<version>, and the pseudo-versions of the
# release commit. It is tried once per build; when it is not served, only the CLI is installed, so a
# Node.js program cannot run under this CLI alone (the tests bring a stand-in: test/engine/langhost).
#
# pkg/go.mod has `replace` lines (sdk/v3 => ../sdk, a clipboard fork), so `go install pkg@version` is
# refused; the build uses a throwaway main module that requires pkg/v3 and sdk/v3 at the same version
# and copies the non-local replace.
#
# Usage: bash scripts/engine.sh          (PULUMI_ENGINE_FORCE=1 rebuilds even if installed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="${PULUMI_ENGINE_VERSION:-3.259.0}"
say() { echo "engine: $*" >&2; }

is_launcher() { # the npm `pulumi` package's run.js, under any symlink
  local real
  real="$(readlink -f "$1" 2>/dev/null || echo "$1")"
  case "$real" in */node_modules/pulumi/run.js) return 0 ;; esac
  return 1
}

launcher_version="$(node -p 'require("./node_modules/pulumi/package.json").version' 2>/dev/null || true)"
if [ -z "$launcher_version" ]; then
  say "node_modules/pulumi is missing: run npm ci first"
  exit 1
fi
home="${PULUMI_HOME:-$HOME/.pulumi}"
dest_dir="$home/versions/$launcher_version/bin"
dest="$dest_dir/pulumi"

# 1. An installed CLI wins (operators, CI runners with Pulumi's setup).
IFS=: read -r -a path_dirs <<<"${PATH:-}"
for d in "${path_dirs[@]}"; do
  if [ -z "$d" ] || [ ! -x "$d/pulumi" ] || [ ! -f "$d/pulumi" ]; then continue; fi
  if is_launcher "$d/pulumi" || [ "$(readlink -f "$d/pulumi")" = "$(readlink -f "$dest" 2>/dev/null)" ]; then
    continue
  fi
  say "using the installed CLI $d/pulumi ($("$d/pulumi" version 2>/dev/null || echo 'version unknown'))"
  echo "$d/pulumi"
  exit 0
done

# 2. Already built here?
if [ -z "${PULUMI_ENGINE_FORCE:-}" ] && [ -x "$dest" ] && [ "$("$dest" version 2>/dev/null)" = "v$version" ]; then
  say "already built: $dest (v$version)"
  echo "$dest"
  exit 0
fi

command -v go >/dev/null || { say "no \`pulumi\` CLI installed and no Go toolchain to build one"; exit 1; }

build="${XDG_CACHE_HOME:-$HOME/.cache}/gpu-hosts/engine-build/v$version"
mkdir -p "$build/bin"
cd "$build"
start=$SECONDS
say "building pulumi v$version from the Go module proxy in $build (cold: 5-7 min on 2 cores; warm Go caches: ~15 s)"

langhost=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
have_langhost=""
# One try per build; a refusal is reported and the build goes on with the CLI only.
if out="$(go list -m -json "$langhost@v$version" 2>&1)"; then
  have_langhost=1
else
  say "the Node.js language host is not served: go list -m $langhost@v$version: $(echo "$out" | tr '\n' ' ' | cut -c1-300)"
fi

cat >go.mod <<EOF
module gpuhosts/enginebuild

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 v$version
	github.com/pulumi/pulumi/sdk/v3 v$version
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
EOF
{
  echo '//go:build tools'
  echo
  echo 'package tools'
  echo
  echo 'import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"'
  [ -n "$have_langhost" ] && echo "import _ \"$langhost\""
} >tools.go
if [ -n "$have_langhost" ]; then
  # Its go.mod replaces pkg/sdk with ../../../../pkg and ../../../../sdk: the requires above stand in.
  go mod edit -require="$langhost@v$version"
fi

GOFLAGS=-mod=mod go mod tidy
ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
go build -ldflags "$ldflags" -o bin/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
if [ -n "$have_langhost" ]; then
  go build -ldflags "$ldflags" -o bin/pulumi-language-nodejs "$langhost"
fi

mkdir -p "$dest_dir"
install -m 0755 bin/pulumi "$dest"
[ -n "$have_langhost" ] && install -m 0755 bin/pulumi-language-nodejs "$dest_dir/pulumi-language-nodejs"
say "built and installed $dest ($("$dest" version)) in $((SECONDS - start)) s"
echo "$dest"
