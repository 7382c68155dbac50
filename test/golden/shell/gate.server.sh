set -u
# ssh expands ~ in -i and UserKnownHostsFile itself, exactly as for the Docker provider.
# shellcheck disable=SC2088
set -- -i '~/.ssh/gpu-hosts/gpu-hosts-prod-box1' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-prod-box1.known_hosts' -o BatchMode=yes -o ServerAliveInterval=15 -o Port=2222 -o ConnectTimeout=10 -o ServerAliveCountMax=4
target=gpuops@gpu1.example.com
# The probe runs, and expands, on the host.
# shellcheck disable=SC2016
probe='true
'
deadline=$(( $(date +%s) + 120 ))
attempt=0
while :; do
  attempt=$((attempt + 1))
  rc=0
  ssh -n "$@" -- "$target" "$probe" || rc=$?
  case "$rc" in
    0) echo "gpu-hosts: $target answers over SSH and has finished its first boot"; exit 0 ;;
    75) echo "gpu-hosts: $target is rebooting to load the NVIDIA driver (attempt $attempt)" ;;
    255) echo "gpu-hosts: $target does not accept SSH yet (attempt $attempt)" ;;
    *) echo "gpu-hosts: the boot probe on $target exited $rc; the readiness gate will tell why"; exit 0 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "gpu-hosts: $target did not come up within 120s" >&2
    exit 1
  fi
  sleep 10
done
