## A GPU host whose driver needs the reboot cloud-init's power_state makes. REBOOTING_EXIT_CODE is
## bound in place (infra/shell/host.ts).
# The setup script writes the boot id into the marker when the driver needs a reboot.
if [ -e "$REBOOT_MARKER" ] && ! nvidia-smi >/dev/null 2>&1; then
  if [ "$(cat "$REBOOT_MARKER")" = "$(cat "$BOOT_ID_FILE")" ]; then
    echo "gpu-hosts: the host is rebooting to load the NVIDIA driver; wait a minute, then run 'pulumi up' again." >&2
    exit "${REBOOTING_EXIT_CODE}"
  fi
  fail "the NVIDIA driver still does not load after the reboot (Secure Boot without a signed module? see: sudo dmesg | grep -i nvidia)"
fi
