// The SSH gate (gate.sh) and the probes it runs on the host (probe.sh). The installed
// @pulumi/command's remote connection dials only a few times, so a still-booting VM (sshd not up, the
// user not yet created, a driver reboot) would fail the remote commands; the gate, run on the
// operator's machine before them, retries until the host answers with the provider's own client
// options (without multiplexing: infra/hosts/ssh.ts says why) and has finished its first boot.
import { READINESS_REBOOTING_EXIT_CODE, REBOOT_REQUIRED_MARKER } from "./host";
import { renderShell } from "./render";

/**
 * Run on a cloud VM by the SSH gate: waits for cloud-init, then exits 75 while the setup script
 * has asked for a reboot in this boot (the marker holds the boot id) and the driver is not loaded.
 */
export const SSH_GATE_PROBE = renderShell({
    file: "probe.sh",
    inPlace: { REBOOT_MARKER: REBOOT_REQUIRED_MARKER, REBOOTING_EXIT_CODE: READINESS_REBOOTING_EXIT_CODE },
});

/**
 * Run on an operator's server by the SSH gate: nothing to wait for, it is running already. Never
 * cloud-init's wait: a server with cloud-init installed but not in use (seen on this project's own
 * test host) would make `cloud-init status --wait` wait forever. One word: no file of its own.
 */
export const SERVER_GATE_PROBE = "true\n";

export interface SshGateOptions {
    /** user@address. */
    readonly target: string;
    /** The client options, without multiplexing (see infra/hosts/ssh.ts). */
    readonly sshOptions: readonly string[];
    /** The host's SSH port. */
    readonly port: number;
    /** Seconds to keep trying (infra/config/fixed.ts: a cloud VM's first boot, or a running server). */
    readonly timeoutSeconds: number;
    /** What to run once in: SSH_GATE_PROBE on a cloud VM, SERVER_GATE_PROBE on a server. */
    readonly probe: string;
}

/** The SSH gate (POSIX sh) for `o`. Throws on multiplexed options or a timeout that is not a positive integer. */
export function sshGateScript(o: SshGateOptions): string {
    // A master connection opened before the setup keeps the user's old groups (infra/hosts/ssh.ts).
    if (o.sshOptions.some((x) => /^Control(Master|Path|Persist)=/.test(x))) throw new Error("the SSH gate must not multiplex (see infra/hosts/ssh.ts)");
    if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 0) throw new Error(`the SSH gate's timeout must be a whole number of seconds, got ${o.timeoutSeconds}`);
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new Error(`the SSH gate's port must be from 1 to 65535, got ${o.port}`);
    return renderShell({
        file: "gate.sh",
        inPlace: {
            SSH_OPTIONS: [...o.sshOptions, "-o", `Port=${o.port}`, "-o", "ConnectTimeout=10", "-o", "ServerAliveCountMax=4"],
            SSH_TARGET: o.target,
            BOOT_PROBE: o.probe,
            TIMEOUT_SECONDS: o.timeoutSeconds,
            REBOOTING_EXIT_CODE: READINESS_REBOOTING_EXIT_CODE,
        },
    });
}
