#!/usr/bin/env bash
# What the end-to-end runs need beyond `npm test`'s tools: Debian's Docker engine (docker.io: dockerd
# and its CLI), debootstrap for the stand-in base image, and sudo for the SSH host's user. Root on Debian/Ubuntu installs them with
# apt-get; elsewhere it prints the command and fails.
set -euo pipefail
missing=()
PATH="$PATH:/usr/sbin:/sbin" command -v dockerd >/dev/null || missing+=(docker.io)
PATH="$PATH:/usr/sbin:/sbin" command -v debootstrap >/dev/null || missing+=(debootstrap)
# The ssh host kind's run: the user's passwordless sudo (sshd itself comes with npm test's tools).
command -v sudo >/dev/null || missing+=(sudo)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "e2e setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "e2e setup: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
