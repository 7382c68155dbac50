## Waits for cloud-init (a cloud VM), at most TIMEOUT_SECONDS.
command -v cloud-init >/dev/null 2>&1 || fail "cloud-init is not installed"
echo "gpu-hosts: waiting up to ${TIMEOUT_SECONDS}s for cloud-init"
rc=0
timeout "$TIMEOUT_SECONDS" cloud-init status --wait >/dev/null || rc=$?
case "$rc" in
  0) ;;
  2)
    # cloud-init 23.4+: done, with recoverable errors (e.g. a deprecated key).
    echo "gpu-hosts: WARNING: cloud-init finished with recoverable errors:" >&2
    cloud-init status --long >&2 || true
    ;;
  1)
    cloud-init status --long >&2 || true
    fail "cloud-init failed"
    ;;
  124) fail "cloud-init did not finish within ${TIMEOUT_SECONDS}s" ;;
  *) fail "cloud-init status --wait exited $rc" ;;
esac

