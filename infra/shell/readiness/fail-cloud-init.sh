## fail(): on a cloud VM, with the tail of the cloud-init log.
fail() {
  echo "gpu-hosts: host NOT ready: $*" >&2
  echo "--- last 80 lines of $CLOUD_INIT_LOG ---" >&2
  as_root tail -n 80 "$CLOUD_INIT_LOG" >&2 || echo "(cannot read $CLOUD_INIT_LOG)" >&2
  exit 1
}
