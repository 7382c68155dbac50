// The host setup script (setup.sh), the same for every host kind: cloud-init runs it on a cloud VM's
// first boot, and an operator's own server (kind ssh) gets it over SSH, as root through sudo, again
// whenever it changes. Docker Engine (when missing), the NVIDIA driver and container toolkit (with a
// GPU), the docker group for the login user, and sshd's limits. Idempotent, and careful with a
// machine that is not ours alone: an existing daemon.json is kept, Docker is restarted only when
// the nvidia runtime had to be added, and a working driver the setup did not install is left alone.
// The driver it installs is held against unattended upgrades and changed only on purpose: see
// setup.sh. A pure function of its options.
import { DRIVER_BRANCH, LINUX_USER, Pattern, REGISTRY_MIRROR, matches } from "../validators";
import { REBOOT_REQUIRED_MARKER, SETUP_DONE_MARKER, STATE_DIR } from "./host";
import { renderShell } from "./render";

/** Docker's json-file log rotation (infra/config/fixed.ts holds the program's). */
export interface DockerLogRotation {
    /** Size of a log file before rotation (`log-opts.max-size`), e.g. "10m". */
    readonly maxSize: string;
    /** Rotated files kept per container (`log-opts.max-file`). */
    readonly maxFile: number;
}

/** What the setup script needs to know about the host; every value resolved by the caller. */
export interface SetupOptions {
    /** The login user, added to the docker group (unless it is root). */
    readonly sshUser: string;
    /** Whether to install the NVIDIA driver and container toolkit and give Docker the nvidia runtime. */
    readonly gpu: boolean;
    /**
     * Ubuntu NVIDIA server driver branch, e.g. "580-server"; a `-server-open` branch for the open
     * kernel modules. Its packages: {@link nvidiaDriverPackages}.
     */
    readonly nvidiaDriverBranch: string;
    /** The engine's default log rotation, written to daemon.json before Docker first starts. */
    readonly dockerLog: DockerLogRotation;
    /**
     * Docker Hub pull-through mirrors, merged into daemon.json's `registry-mirrors` (its other settings
     * kept) and reloaded into a running dockerd. Empty for none: the script's text is then exactly what
     * it was before mirrors existed, so hosts set up without them see no change.
     */
    readonly registryMirrors: readonly string[];
}

export const DOCKER_DAEMON_JSON_PATH = "/etc/docker/daemon.json";
/** sshd drop-in; Ubuntu's sshd_config includes sshd_config.d/*.conf first, and the first value wins. */
export const SSHD_DROP_IN_PATH = "/etc/ssh/sshd_config.d/10-gpu-hosts.conf";

// Docker's own repository rather than the distribution's docker.io (setup.sh adds it): a current
// Engine plus the buildx plugin (the Pulumi Docker provider builds the app image on the host with
// BuildKit), the same version on every host, and the setup NVIDIA documents the toolkit against.
// https://docs.docker.com/engine/install/ubuntu/ and https://docs.docker.com/engine/install/debian/
export const DOCKER_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin"] as const;

/**
 * Every Docker API call over ssh:// is one SSH session (`ssh ... docker system dial-stdio`,
 * docker/cli connhelper), and about 15 resources per host run at once. The operator's side
 * multiplexes them over one connection (ControlMaster, infra/hosts/ssh.ts); these limits let
 * that connection carry them (MaxSessions, default 10) and let unmultiplexed clients in
 * (MaxStartups, default 10:30:100, drops connections at random past 10 unauthenticated ones:
 * kreuzwerker/terraform-provider-docker#262, docker/compose#10117).
 */
export const SSHD_LIMITS = { MaxStartups: "64:30:128", MaxSessions: 64 } as const;

/** The sshd drop-in's text. Its comment names cloud-init/render.ts, where it lived: deployed text, kept as is. */
export function sshdDropIn(): string {
    return [
        "# gpu-hosts: room for the Docker provider's parallel SSH sessions (see cloud-init/render.ts).",
        ...Object.entries(SSHD_LIMITS).map(([k, v]) => `${k} ${v}`),
        "",
    ].join("\n");
}

/** Where the setup records the driver branch it installed (and holds), so that it changes it on purpose only. */
export const DRIVER_BRANCH_PATH = `${STATE_DIR}/nvidia-driver-branch`;

/** The Ubuntu packages of an NVIDIA server driver branch, as the setup installs it. */
export interface NvidiaDriverPackages {
    /** The user space, without a kernel module: the headless (no X) driver and nvidia-smi. */
    readonly userSpace: readonly string[];
    /** Canonical's signed, precompiled kernel module for a kernel is this prefix followed by `uname -r`. */
    readonly modulePrefix: string;
    /** The kernel module DKMS builds (unsigned), where no precompiled one exists. */
    readonly dkms: string;
}

/**
 * The packages of `branch`, by the names Ubuntu publishes (canonical/nvidia-graphics-drivers,
 * debian/control of its 580-server-noble branch; linux-restricted-modules). An open branch
 * ("580-server-open") has its own headless metapackage, DKMS package and precompiled modules
 * (nvidia-headless-no-dkms-580-server-open, nvidia-dkms-580-server-open,
 * linux-modules-nvidia-580-server-open-<kernel>), but shares the closed branch's user space: there is
 * no nvidia-utils-580-server-open, and nvidia-smi comes from nvidia-utils-580-server.
 */
export function nvidiaDriverPackages(branch: string): NvidiaDriverPackages {
    const closed = branch.replace(/-open$/, "");
    return {
        userSpace: [`nvidia-headless-no-dkms-${branch}`, `nvidia-utils-${closed}`],
        modulePrefix: `linux-modules-nvidia-${branch}-`,
        dkms: `nvidia-dkms-${branch}`,
    };
}

/** The daemon.json written before Docker first starts; `nvidia-ctk runtime configure` merges into it. */
export function dockerDaemonConfig(log: DockerLogRotation): object {
    return {
        "log-driver": "json-file",
        // Docker requires both log-opts values as strings.
        "log-opts": { "max-size": log.maxSize, "max-file": String(log.maxFile) },
    };
}

/** Docker's size format for log-opts.max-size; no config key carries one, so it lives with its only user. */
const LOG_SIZE: Pattern = { re: /^[1-9][0-9]*[kmg]$/, allowed: 'a size like "10m" (a positive integer followed by k, m or g)' };

/**
 * Every problem with `o`, each naming the option, the bad value and what is allowed. `label` names
 * the options in the messages: "setup script option", or "cloud-init option" when cloud-init carries them.
 */
export function validateSetupOptions(o: SetupOptions, label = "setup script option"): string[] {
    const problems: string[] = [];
    const bad = (key: string, allowed: string, value: unknown) => problems.push(`${label} ${key} must be ${allowed}, got ${JSON.stringify(value)}`);
    // It lands in usermod's argv and a YAML user name.
    if (!matches(LINUX_USER, o.sshUser)) bad("sshUser", LINUX_USER.allowed, o.sshUser);
    // It lands in package names.
    if (!matches(DRIVER_BRANCH, o.nvidiaDriverBranch)) bad("nvidiaDriverBranch", DRIVER_BRANCH.allowed, o.nvidiaDriverBranch);
    // Docker refuses to start on a daemon.json it cannot read.
    if (!matches(LOG_SIZE, o.dockerLog.maxSize)) bad("dockerLog.maxSize", LOG_SIZE.allowed, o.dockerLog.maxSize);
    if (!Number.isInteger(o.dockerLog.maxFile) || o.dockerLog.maxFile < 1 || o.dockerLog.maxFile > 100) {
        bad("dockerLog.maxFile", "an integer from 1 to 100", o.dockerLog.maxFile);
    }
    // dockerd refuses to start on a mirror it cannot parse.
    o.registryMirrors.forEach((m, i) => {
        if (!matches(REGISTRY_MIRROR, m)) bad(`registryMirrors[${i}]`, REGISTRY_MIRROR.allowed, m);
    });
    return problems;
}

/** The line of setup.sh that marks the setup done: the registry mirrors go in just before it. */
const DONE_LINE = 'touch "$DONE_MARKER"\n';

/**
 * `script` with the registry-mirrors part (infra/shell/registry-mirrors.sh) before its done marker:
 * after Docker is installed and the nvidia runtime configured, so dockerd runs and only reloads, and
 * before the marker, so a failure leaves the setup unfinished for the readiness gate.
 */
function withRegistryMirrors(script: string, mirrors: readonly string[]): string {
    if (mirrors.length === 0) return script;
    const at = script.indexOf(DONE_LINE);
    if (at < 0 || script.indexOf(DONE_LINE, at + 1) >= 0) throw new Error(`setup.sh must have exactly one line ${JSON.stringify(DONE_LINE.trim())} (the registry mirrors go before it)`);
    return `${script.slice(0, at)}${renderShell({ file: "registry-mirrors.sh", inPlace: { REGISTRY_MIRRORS: mirrors } })}\n${script.slice(at)}`;
}

/** The setup script (bash) for `o`. Throws one Error listing every problem with `o`. */
export function setupScript(o: SetupOptions): string {
    const problems = validateSetupOptions(o);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const driver = nvidiaDriverPackages(o.nvidiaDriverBranch);
    return withRegistryMirrors(renderShell({
        file: "setup.sh",
        header: {
            SSH_USER: o.sshUser,
            GPU: o.gpu,
            DRIVER_BRANCH: o.nvidiaDriverBranch,
            DRIVER_PACKAGES: driver.userSpace,
            DRIVER_MODULE_PREFIX: driver.modulePrefix,
            DRIVER_DKMS: driver.dkms,
            DOCKER_PACKAGES,
            STATE_DIR,
            DRIVER_BRANCH_FILE: DRIVER_BRANCH_PATH,
            REBOOT_MARKER: REBOOT_REQUIRED_MARKER,
            DONE_MARKER: SETUP_DONE_MARKER,
            DAEMON_JSON: DOCKER_DAEMON_JSON_PATH,
        },
        inPlace: {
            DAEMON_CONFIG: JSON.stringify(dockerDaemonConfig(o.dockerLog)),
            DAEMON_JSON: DOCKER_DAEMON_JSON_PATH,
            SSHD_DROP_IN_LINES: sshdDropIn().replace(/\n$/, "").split("\n"),
            SSHD_DROP_IN: SSHD_DROP_IN_PATH,
        },
    }), o.registryMirrors);
}
