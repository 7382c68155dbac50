// Renders the cloud-config that turns an Ubuntu GPU VM into a Docker host with the NVIDIA driver
// and container toolkit: YAML only, built with the yaml library. The work is the host setup script
// (infra/shell/setup.sh), which cloud-init writes and runs once; it is the same script an operator's
// own server gets over SSH. Pure: the same options always give the same bytes, so the output is
// pinned by golden files in test/golden/.
import * as YAML from "yaml";
import { DNS_NAME, SSH_PUBLIC_KEY, matches } from "../infra/validators";
import { REBOOT_REQUIRED_MARKER } from "../infra/shell/host";
import { DockerLogRotation, setupScript, validateSetupOptions } from "../infra/shell/setup";

/** Options for {@link renderCloudInit}; every value resolved by the caller (config, infra/config/fixed.ts). */
export interface CloudInitOptions {
    /** Login user the operator and Pulumi connect as over SSH; the setup script adds it to the `docker` group. */
    readonly sshUser: string;
    /**
     * Whether cloud-init creates `sshUser` (with passwordless sudo and `sshAuthorizedKeys`). False on
     * Azure, where the VM resource creates the admin user.
     */
    readonly createUser: boolean;
    /** OpenSSH public keys allowed to log in as `sshUser`; at least one when `createUser` is true. */
    readonly sshAuthorizedKeys: readonly string[];
    /** Ubuntu NVIDIA server driver branch the setup script installs. */
    readonly nvidiaDriverBranch: string;
    /** The Docker engine's default log rotation, which the setup script writes to daemon.json. */
    readonly dockerLog: DockerLogRotation;
    /** Hostname to set; when absent, the cloud's own hostname stays. */
    readonly hostname?: string;
    /** Docker Hub mirrors the setup script puts in daemon.json; empty for none (the script as it was before mirrors). */
    readonly registryMirrors: readonly string[];
}

/** Where cloud-init writes the setup script, and runs it from. */
export const SETUP_SCRIPT_PATH = "/usr/local/sbin/gpu-hosts-setup";

/**
 * Every problem with `opts`, each naming the option, the bad value and what is allowed: the setup
 * script's own checks, then what lands in the YAML.
 */
export function validateCloudInitOptions(opts: CloudInitOptions): string[] {
    const problems = validateSetupOptions({ sshUser: opts.sshUser, gpu: true, nvidiaDriverBranch: opts.nvidiaDriverBranch, dockerLog: opts.dockerLog, registryMirrors: opts.registryMirrors }, "cloud-init option");
    const bad = (key: string, allowed: string, value: unknown) =>
        problems.push(`cloud-init option ${key} must be ${allowed}, got ${JSON.stringify(value)}`);
    // One line each: a newline would smuggle in a second authorized key.
    opts.sshAuthorizedKeys.forEach((key, i) => {
        if (!matches(SSH_PUBLIC_KEY, key.trim())) bad(`sshAuthorizedKeys[${i}]`, SSH_PUBLIC_KEY.allowed, key.trim());
    });
    if (opts.createUser && opts.sshAuthorizedKeys.length === 0) {
        bad("sshAuthorizedKeys", "at least one key when createUser is true", opts.sshAuthorizedKeys);
    }
    if (opts.hostname !== undefined && !(matches(DNS_NAME, opts.hostname) && !opts.hostname.includes("."))) {
        bad("hostname", "a single DNS label (letters, digits and '-', at most 63 characters), e.g. \"gpu-dev-aws\"", opts.hostname);
    }
    return problems;
}

/** Renders the `#cloud-config` user data. Throws one Error listing every problem with `opts`. */
export function renderCloudInit(opts: CloudInitOptions): string {
    const problems = validateCloudInitOptions(opts);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    // tls.PrivateKey.publicKeyOpenssh ends in a newline.
    const o = { ...opts, sshAuthorizedKeys: opts.sshAuthorizedKeys.map((k) => k.trim()) };

    const config: Record<string, unknown> = {};
    if (o.hostname !== undefined) {
        config.hostname = o.hostname;
    }
    if (o.createUser) {
        // The docker group is joined in the setup script, after docker-ce creates it as a system
        // group: a group made here first would be a regular group and docker-ce's postinst
        // `addgroup --system docker` would fail on it.
        config.users = [
            {
                name: o.sshUser,
                shell: "/bin/bash",
                sudo: "ALL=(ALL) NOPASSWD:ALL",
                lock_passwd: true,
                ssh_authorized_keys: [...o.sshAuthorizedKeys],
            },
        ];
    } else if (o.sshAuthorizedKeys.length > 0) {
        // Added to the image's default user, which on Azure is the VM resource's admin user.
        config.ssh_authorized_keys = [...o.sshAuthorizedKeys];
    }
    config.ssh_pwauth = false;
    config.package_update = false;
    config.package_upgrade = false;
    config.package_reboot_if_required = false;
    config.write_files = [
        {
            path: SETUP_SCRIPT_PATH,
            permissions: "0755",
            content: setupScript({ sshUser: o.sshUser, gpu: true, nvidiaDriverBranch: o.nvidiaDriverBranch, dockerLog: o.dockerLog, registryMirrors: o.registryMirrors }),
        },
    ];
    config.runcmd = [[SETUP_SCRIPT_PATH]];
    // power_state runs once per instance, after runcmd, so this cannot reboot-loop.
    config.power_state = {
        mode: "reboot",
        message: "gpu-hosts: rebooting to load the NVIDIA driver",
        timeout: 30,
        condition: `test -f ${REBOOT_REQUIRED_MARKER}`,
    };

    const doc = new YAML.Document(config);
    doc.commentBefore = " Generated by gpu-hosts cloud-init/render.ts; do not edit by hand.";
    comment(doc, "package_upgrade", [
        " No upgrade at first boot: it can install a new kernel, and the NVIDIA module is built",
        " (DKMS) for the running one only.",
    ]);
    comment(doc, "write_files", [" The same setup script an operator's own server gets over SSH; it writes the Docker, udev and", " sshd files itself."]);
    comment(doc, "power_state", [" Reboots only if the setup script could not load the NVIDIA module."]);
    return "#cloud-config\n" + doc.toString({ lineWidth: 0 });
}

function comment(doc: YAML.Document, key: string, lines: string[]): void {
    const pair = (doc.contents as YAML.YAMLMap).items.find((p) => YAML.isScalar(p.key) && p.key.value === key);
    if (pair && YAML.isScalar(pair.key)) {
        pair.key.commentBefore = lines.join("\n");
    }
}
