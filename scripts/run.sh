#!/usr/bin/env bash
# Runs an operator script, scripts/<name>.ts, with the project's ts-node: what `npm run up`, `release`,
# `status`... call. On a fresh clone it installs the dependencies first (npm ci from the lockfile),
# so `npm run up` is the only command an operator needs. The Pulumi CLI is the pinned `pulumi` npm
# package's (node_modules/.bin is on PATH under npm run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: scripts/run.sh <script> [args...]}"
shift
[ -f "scripts/$name.ts" ] || { echo "no such script: scripts/$name.ts" >&2; exit 2; }
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ensure_deps . >&2
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
# --swc: transpiled by @swc/core, without type-checking (npm test's tsc --noEmit checks the types):
# ts-node's own transpiler took ~1.8 s more of every command's start here (docs/tests.md, "Start-up").
exec node_modules/.bin/ts-node --swc "scripts/$name.ts" "$@"
