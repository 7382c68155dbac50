// The readiness gate: a bash script a host runs over SSH (a Pulumi remote command) before its Docker
// provider is used. On a cloud VM it first waits for cloud-init. It checks that the setup script
// finished, proves the GPU is visible inside a container (GPU hosts), and that the login user itself
// can use Docker without sudo (the Docker provider dials the engine as that user). Exits 0 and prints
// the engine's platform and, per GPU, `GPU: <name>, driver <version>` when the host is ready; exits
// READINESS_REBOOTING_EXIT_CODE while the host reboots to load the driver; otherwise prints why (and
// on a cloud VM the tail of the cloud-init log) and exits 1.
//
// The script is the files of readiness/, concatenated: each is real shell, and the GPU and cloud-init
// parts are left out on a host without them. Not one file with run-time conditions, because the
// gate's text is its command's input: the text each kind of host runs today must stay byte for byte
// (a changed byte re-runs the gate on every host), and today's text has no such conditions. Two
// parts come in two variants for the same reason: fail() shows the cloud-init log only where there
// is one, and the reboot advice names who reboots (cloud-init, or the operator).
import { IMAGE_PIN, matches } from "../validators";
import { PLATFORM_FORMAT, READINESS_REBOOTING_EXIT_CODE, REBOOT_REQUIRED_MARKER, SETUP_DONE_MARKER } from "./host";
import { ShellPart, ShellValues, renderShell } from "./render";

/** Options for {@link readinessScript}; every value resolved by the caller (config, infra/config/fixed.ts). */
export interface ReadinessOptions {
    /** Image that runs `nvidia-smi -L` with `--gpus all` on a GPU host; the toolkit injects nvidia-smi. */
    readonly image: string;
    /** Seconds to wait for cloud-init to finish (first boot installs the driver); used with `cloudInit`. */
    readonly timeoutSeconds: number;
    /** Whether the host has a GPU to prove (driver, and a container that sees it). */
    readonly gpu: boolean;
    /** Whether cloud-init set the host up (a cloud VM), so the gate waits for it first. */
    readonly cloudInit: boolean;
    /**
     * Whether a GPU host pulls `image` with a Docker Hub login before it runs it: the gate then reads a
     * docker client config.json on its stdin (the caller sends it, a secret). Without, `docker run`
     * pulls the image anonymously if the host lacks it, and the gate's text is what it was before logins.
     */
    readonly pullWithLogin: boolean;
}

/** The line the gate prints with the engine's platform, e.g. "gpu-hosts: docker platform linux/amd64". */
export const PLATFORM_LINE = /^gpu-hosts: docker platform ([a-z0-9]+\/[a-z0-9_]+)$/m;
/** The lines the gate prints per GPU: "GPU: <name>, driver <version>". */
export const GPU_LINE = /^GPU: (.+), driver (\S+)$/gm;

/** The engine's platform from the gate's output; throws when it is missing (a gate that never ran). */
export function platformOf(stdout: string): string {
    const m = PLATFORM_LINE.exec(stdout);
    if (!m) throw new Error(`the readiness gate did not report the Docker platform; its output was: ${stdout.slice(-300)}`);
    return m[1];
}

/** The first GPU's model from the gate's output, or "none". */
export function gpuModelOf(stdout: string): string {
    const m = new RegExp(GPU_LINE.source, "m").exec(stdout);
    return m ? m[1].trim() : "none";
}

/** Every problem with `opts`, each naming the option, the bad value and what is allowed. */
export function validateReadinessOptions(opts: ReadinessOptions): string[] {
    const problems: string[] = [];
    // It lands in `docker run`'s argv: the config's image rule (a pinned tag) keeps it from reading as an option.
    if (!matches(IMAGE_PIN, opts.image)) problems.push(`readiness option image must be ${IMAGE_PIN.allowed}, got ${JSON.stringify(opts.image)}`);
    // It lands in `timeout`'s argv and the gate's messages.
    if (!Number.isInteger(opts.timeoutSeconds) || opts.timeoutSeconds < 1 || opts.timeoutSeconds > 86400) {
        problems.push(`readiness option timeoutSeconds must be an integer from 1 to 86400, got ${JSON.stringify(opts.timeoutSeconds)}`);
    }
    return problems;
}

/** The readiness gate (bash) for a host like `opts`. Throws one Error listing every problem with `opts`. */
export function readinessScript(opts: ReadinessOptions): string {
    const problems = validateReadinessOptions(opts);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const { gpu, cloudInit } = opts;
    const header: ShellValues = {
        ...(gpu ? { IMAGE: opts.image } : {}),
        ...(cloudInit ? { TIMEOUT_SECONDS: opts.timeoutSeconds } : {}),
        ...(gpu ? { REBOOT_MARKER: REBOOT_REQUIRED_MARKER } : {}),
        DONE_MARKER: SETUP_DONE_MARKER,
        ...(cloudInit ? { CLOUD_INIT_LOG: "/var/log/cloud-init-output.log" } : {}),
        ...(gpu ? { BOOT_ID_FILE: "/proc/sys/kernel/random/boot_id" } : {}),
    };
    const part = (file: string, more: Omit<ShellPart, "file"> = {}): ShellPart => ({ file: `readiness/${file}`, ...more });
    const rebooting = { inPlace: { REBOOTING_EXIT_CODE: READINESS_REBOOTING_EXIT_CODE } };
    return renderShell(
        part("start.sh", { header }),
        part(cloudInit ? "fail-cloud-init.sh" : "fail.sh"),
        part("on-error.sh"),
        ...(cloudInit ? [part("cloud-init.sh")] : []),
        // Nothing reboots an operator's own server by itself.
        ...(gpu ? [part(cloudInit ? "reboot-by-cloud-init.sh" : "reboot-by-operator.sh", rebooting)] : []),
        part("done-marker.sh"),
        ...(gpu && opts.pullWithLogin ? [part("pull-with-login.sh")] : []),
        ...(gpu ? [part("gpu-container.sh")] : []),
        part("docker-user.sh", { inPlace: { PLATFORM_FORMAT } }),
        ...(gpu ? [part("gpu-list.sh")] : []),
        part("ready.sh"),
    );
}
