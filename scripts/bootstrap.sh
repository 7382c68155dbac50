#!/usr/bin/env bash
# Makes a fresh clone testable: `npm test` runs this first (npm's pretest).
# - Node dependencies of the program and of the bundled app, when missing (npm ci from the lockfiles).
# - The OS tools the suites run for real: redis-server, cloud-init, shellcheck, caddy, sshd, ssh, git.
#   As root on Debian/Ubuntu they are installed with apt-get; otherwise this prints the exact
#   command and the suites that need a missing tool skip it, except under CI=true, where a missing
#   tool fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ensure_deps .
ensure_deps app

# tool -> Debian package
declare -A PACKAGES=(
  [redis-server]=redis-server [cloud-init]=cloud-init [shellcheck]=shellcheck [caddy]=caddy
  [sshd]=openssh-server [ssh]=openssh-client [ssh-keygen]=openssh-client [git]=git [openssl]=openssl
)
missing=()
for tool in "${!PACKAGES[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null || missing+=("${PACKAGES[$tool]}")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "bootstrap: these tools are missing: ${missing[*]}" >&2
echo "bootstrap: install them with: sudo apt-get install -y ${missing[*]}   (macOS: brew install redis shellcheck caddy)" >&2
if [ "${CI:-}" = "true" ]; then
  echo "bootstrap: CI=true: every suite must run, so a missing tool fails the run" >&2
  exit 1
fi
echo "bootstrap: the suites that need them will be skipped" >&2
