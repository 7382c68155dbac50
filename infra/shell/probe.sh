## Run on a cloud VM by the SSH gate (infra/shell/gate.ts): waits for cloud-init, then exits
## REBOOTING_EXIT_CODE while the setup script has asked for a reboot in this boot (the marker holds the
## boot id) and the driver is not loaded. REBOOT_MARKER and REBOOTING_EXIT_CODE are bound in place.
cloud-init status --wait >/dev/null 2>&1 || true
m="${REBOOT_MARKER}"
if [ -e "$m" ] && [ "$(cat "$m")" = "$(cat /proc/sys/kernel/random/boot_id)" ] && ! nvidia-smi >/dev/null 2>&1; then
  exit "${REBOOTING_EXIT_CODE}"
fi
