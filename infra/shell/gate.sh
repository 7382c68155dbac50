## The SSH gate (infra/shell/gate.ts renders it): POSIX sh, run on the operator's machine, that retries
## until the host answers over SSH, with the host key the stack pinned, and has finished its first boot
## (BOOT_PROBE, probe.sh on a cloud VM, exits REBOOTING_EXIT_CODE while the host reboots for the driver). Every input is bound in place,
## where the gate carried it inline before it was a file: SSH_OPTIONS (the client options, a list:
## written as a bash array here, which makes this file bash to shellcheck while the rendered gate is
## POSIX sh), SSH_TARGET, BOOT_PROBE, TIMEOUT_SECONDS and REBOOTING_EXIT_CODE.
set -u
# ssh expands ~ in -i and UserKnownHostsFile itself, exactly as for the Docker provider.
# shellcheck disable=SC2088
set -- "${SSH_OPTIONS[@]}"
target="${SSH_TARGET}"
# The probe runs, and expands, on the host.
# shellcheck disable=SC2016
probe="${BOOT_PROBE}"
deadline=$(( $(date +%s) + "${TIMEOUT_SECONDS}" ))
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
attempt=0
while :; do
  attempt=$((attempt + 1))
  rc=0
  ssh -n "$@" -- "$target" "$probe" 2>"$err" || rc=$?
  case "$rc" in
    0) echo "gpu-hosts: $target answers over SSH and has finished its first boot"; exit 0 ;;
    "${REBOOTING_EXIT_CODE}") echo "gpu-hosts: $target is rebooting to load the NVIDIA driver (attempt $attempt)" ;;
    255)
      # A host key other than the pinned one does not go away by waiting: stop now, in one line
      # (ssh prints the fingerprint the host sent on a line of its own).
      if grep -q 'Host key verification failed' "$err"; then
        echo "gpu-hosts: $target presents an SSH host key ($(grep -o -m 1 'SHA256:[A-Za-z0-9+/]*' "$err" || echo 'fingerprint not shown')) other than the one the stack pinned; nothing was sent to it" >&2
        exit 1
      fi
      why="$(tail -n 1 "$err" | tr -d '\r')"
      echo "gpu-hosts: $target does not accept SSH yet (attempt $attempt${why:+: $why})" ;;
    *) cat "$err" >&2; echo "gpu-hosts: the boot probe on $target exited $rc; the readiness gate will tell why"; exit 0 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "gpu-hosts: $target did not come up within ${TIMEOUT_SECONDS}s" >&2
    exit 1
  fi
  sleep 10
done
