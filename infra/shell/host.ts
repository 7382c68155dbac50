// What the host scripts agree on: the files the setup script leaves for the gates, the exit code
// that means "rebooting for the driver", and the format the engine's platform is printed in.

/** The setup script's state directory on a host. */
export const STATE_DIR = "/var/lib/gpu-hosts";
/** Written last by the setup script; the readiness gate requires it. */
export const SETUP_DONE_MARKER = `${STATE_DIR}/setup-done`;
/**
 * Written by the setup script when the NVIDIA driver loads only after a reboot; it holds the boot id,
 * so the gates tell "reboot pending" from "rebooted and still broken". cloud-init's power_state
 * reboots a cloud VM while it exists.
 */
export const REBOOT_REQUIRED_MARKER = `${STATE_DIR}/reboot-required`;

/** Exit code of the readiness gate and the SSH gate's probe while the host reboots for the driver (EX_TEMPFAIL): run `pulumi up` again. */
export const READINESS_REBOOTING_EXIT_CODE = 75;

/** The engine's platform as Docker names it ("linux/amd64"): `docker version --format` of the ready commands. */
export const PLATFORM_FORMAT = "{{.Server.Os}}/{{.Server.Arch}}";
