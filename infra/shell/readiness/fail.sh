## fail(): on a server (no cloud-init log to show).
fail() {
  echo "gpu-hosts: host NOT ready: $*" >&2
  exit 1
}
