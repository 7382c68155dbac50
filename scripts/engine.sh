#!/usr/bin/env bash
# Makes the real Pulumi engine available to `npm run up`, the Automation API, the engine suites and
# the end-to-end runs: the CLI, its Node.js language host, and the docker, command, random and tls
# provider plugins at the versions the project's SDK packages pin. Prints the CLI's path last.
#
# 1. Already installed where the pinned `pulumi` npm launcher runs it
#    ($PULUMI_HOME/versions/<launcher version>/bin, PULUMI_HOME defaulting to ~/.pulumi; see
#    node_modules/pulumi/lib/resolve.js), with the language host beside it and the plugins: done.
# 2. Otherwise the offline engine bundle: $GPU_HOSTS_ENGINE_BUNDLE, else ../shared/engine beside this
#    checkout, else beside the local repository it was cloned from (CI runs a clone in a temporary
#    directory, whose origin is the project's checkout): its install.sh puts exactly that in place (about 15 s; it checks the archives'
#    checksums). Its README lists the versions and the upstream sources they were built from.
# 3. Otherwise it says what is missing and fails. On an operator's machine with internet access none
#    of this is needed: the npm launcher downloads the CLI and the plugins on first use.
#
# An earlier version built the CLI from the Go module proxy; the proxy serves neither the Node.js
# language host nor the provider plugins, so that CLI could not run this program and the build is gone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "engine: $*" >&2; }

launcher="$(node -p 'require("./node_modules/pulumi/package.json").version' 2>/dev/null || true)"
[ -n "$launcher" ] || { say "node_modules/pulumi is missing: run npm ci first"; exit 1; }
home="${PULUMI_HOME:-$HOME/.pulumi}"
bin="$home/versions/$launcher/bin"
plugins=(docker:5.2.0 command:1.2.1 random:4.21.2 tls:5.6.1)

installed() {
  [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ] || return 1
  local p
  for p in "${plugins[@]}"; do [ -d "$home/plugins/resource-${p%%:*}-v${p#*:}" ] || return 1; done
}

if installed; then
  say "installed: $bin/pulumi ($("$bin/pulumi" version)) with its Node.js language host and the ${plugins[*]} plugins"
  echo "$bin/pulumi"
  exit 0
fi

candidates=("$(cd .. && pwd)/shared/engine")
origin="$(git remote get-url origin 2>/dev/null || true)"
if [ -n "$origin" ] && [ -d "$origin" ]; then candidates+=("$(cd "$origin/.." && pwd)/shared/engine"); fi
bundle="${GPU_HOSTS_ENGINE_BUNDLE:-}"
if [ -z "$bundle" ]; then
  for c in "${candidates[@]}"; do
    if [ -x "$c/install.sh" ]; then bundle="$c"; break; fi
  done
fi
bundle="${bundle:-${candidates[0]}}"
if [ -x "$bundle/install.sh" ]; then
  start=$SECONDS
  PULUMI_HOME="$home" bash "$bundle/install.sh" "$launcher" >/dev/null
  installed || { say "$bundle/install.sh ran, but $bin is still incomplete"; exit 1; }
  say "installed from $bundle in $((SECONDS - start)) s: $bin/pulumi ($("$bin/pulumi" version)), its language host, ${plugins[*]}"
  echo "$bin/pulumi"
  exit 0
fi

say "no engine: nothing installed in $bin, and no offline bundle at $bundle (set GPU_HOSTS_ENGINE_BUNDLE)."
say "With internet access, node_modules/.bin/pulumi downloads the CLI and plugins itself on first use."
exit 1
