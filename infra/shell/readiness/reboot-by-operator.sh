## A GPU server whose driver needs a reboot: nothing reboots an operator's own server by itself. The
## same block as reboot-by-cloud-init.sh but for this one line of advice (byte-identity: see
## infra/shell/readiness.ts). REBOOTING_EXIT_CODE is bound in place (infra/shell/host.ts).
# The setup script writes the boot id into the marker when the driver needs a reboot.
if [ -e "$REBOOT_MARKER" ] && ! nvidia-smi >/dev/null 2>&1; then
  if [ "$(cat "$REBOOT_MARKER")" = "$(cat "$BOOT_ID_FILE")" ]; then
    echo "gpu-hosts: the NVIDIA driver was installed and loads only after a reboot: reboot the server, then run 'npm run up' again." >&2
    exit "${REBOOTING_EXIT_CODE}"
  fi
  fail "the NVIDIA driver still does not load after the reboot (Secure Boot without a signed module? see: sudo dmesg | grep -i nvidia)"
fi
