// SSH plumbing shared by the cloud hosts (one place, not one copy per cloud): the key file the
// Docker provider's ssh client reads, a gate that waits for the VM to boot, the readiness gate,
// a HostRunner over SSH and the Docker provider itself.
//
// How the stack's key reaches the Docker provider's ssh client: for an ssh:// host the provider
// uses the docker CLI's connection helper, which runs the operator's OpenSSH client as
// `ssh <sshOpts...> -- user@host docker system dial-stdio`, each sshOpts entry one argv word
// (docker/cli cli/connhelper). It takes no key material, only a file. So the program itself writes
// the stack's private key, mode 0600, to ~/.ssh/gpu-hosts/<project>-<stack>-<host> on whatever
// machine runs it, on every run (preview and up, a teammate's laptop or a CI runner), from a
// Pulumi secret in memory: never argv, never a log. The provider's sshOpts are derived from that
// write, so no Docker connection is attempted before the file exists. A `local.Command` would not
// do: its create runs once, on the machine of the first `up`, and `--refresh` never re-runs it.
// sshOpts then pass
//   -i <that file>                      the stack key...
//   -o IdentitiesOnly=yes               ...and only it (an agent's keys would be tried first and
//                                       can use up sshd's MaxAuthTries)
//   -o StrictHostKeyChecking=accept-new trust on first use, refuse a changed key afterwards
//   -o UserKnownHostsFile=<file>.known_hosts   this host's own known_hosts, so the operator's
//                                       ~/.ssh/known_hosts is untouched
//   -o BatchMode=yes                    fail instead of prompting: there is no terminal
//   -o ServerAliveInterval=15           notice a dead connection during a long image build
//   -o ControlMaster=auto, ControlPath, ControlPersist=120
//                                       every Docker API call is its own `ssh ... dial-stdio`;
//                                       about 15 resources per host run in parallel, more than
//                                       sshd's default MaxStartups 10:30:100 lets through, so
//                                       connections were dropped at random (kreuzwerker/
//                                       terraform-provider-docker#262, docker/compose#10117).
//                                       One multiplexed connection carries them all; cloud-init
//                                       also raises MaxStartups and MaxSessions (render.ts).
// ssh expands the "~" and %C in those paths itself (the provider runs no shell), so the values are
// the same on every operator's machine and do not churn the provider's config. A replaced VM keeps
// its static address but has new host keys, so a command re-run whenever the machine id changes
// forgets the old ones.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as tls from "@pulumi/tls";
import { REBOOT_REQUIRED_MARKER, shellQuote } from "../../cloud-init/render";
import { HostCommandArgs, HostResourceOptions, HostRunner } from "./gpuHost";
import { READINESS_DEFAULTS, READINESS_REBOOTING_EXIT_CODE, readinessScript } from "./readiness";

export interface ConnectHostArgs {
    /** Public address the host answers SSH on. */
    readonly address: pulumi.Input<string>;
    /** Login user. */
    readonly user: string;
    /** The stack's private key (OpenSSH format); made a secret here whatever the caller passes. */
    readonly privateKey: pulumi.Input<string>;
    /**
     * The cloud's id for this VM. Everything that lives on the VM is replaced when it changes (a
     * replaced VM, or one recreated after a spot interruption), in order: gates, then the Docker
     * objects built on them.
     */
    readonly machineId: pulumi.Input<string>;
    /** The VM resource: what lives on it is deleted with it, so a destroy never dials a dead engine. */
    readonly machine: pulumi.Resource;
    /** Image the readiness gate runs with `--gpus all`. Defaults to "ubuntu:24.04". */
    readonly gpuCheckImage?: string;
    /** Seconds the readiness gate waits for cloud-init. Defaults to 1800. */
    readonly readinessTimeoutSeconds?: number;
    /** Seconds the SSH gate waits for the VM to answer and finish its first boot. Defaults to 2400. */
    readonly bootTimeoutSeconds?: number;
    /** Directory on the operator's machine for the key and known_hosts files. Defaults to "~/.ssh/gpu-hosts". */
    readonly keyDir?: string;
    /**
     * What SSH to the host relies on (firewall rules, address association). The SSH gate depends
     * on them, so a destroy removes containers before it closes the way in. Defaults to [].
     */
    readonly networkDependsOn?: readonly pulumi.Resource[];
}

/** What a cloud host needs from its SSH connection to be a GpuHost. */
export interface HostConnection {
    /** Runs a command on the host over SSH, after `ready`. */
    readonly run: HostRunner;
    /** The readiness gate (cloud-init done, GPU visible in a container). */
    readonly ready: command.remote.Command;
    /** The host's Docker engine over SSH; depends on `ready`. */
    readonly provider: docker.Provider;
    /** `ssh ...` command line for the operator. */
    readonly sshCommand: pulumi.Output<string>;
    /** The private key file on the operator's machine ("~/..." form). */
    readonly keyPath: string;
    /** This host's known_hosts file on the operator's machine ("~/..." form). */
    readonly knownHostsPath: string;
    /** OpenSSH client options the Docker provider and the SSH gate use. */
    readonly sshOptions: readonly string[];
    /** Deletes the key and known_hosts files on destroy. */
    readonly sshFiles: command.local.Command;
    /** Forgets the host keys of a replaced VM. */
    readonly knownHosts: command.local.Command;
    /** Options for every resource that lives on the VM (see GpuHost.onHost). */
    readonly onHost: HostResourceOptions;
    /** Waits until the VM answers over SSH and has finished its first boot (including a driver reboot). */
    readonly sshGate: command.local.Command;
}

export const SSH_DEFAULTS = {
    keyDir: "~/.ssh/gpu-hosts",
    bootTimeoutSeconds: 2400,
} as const;

/** The stack's SSH key pair; index.ts creates one and passes both halves to every cloud host. */
export function createStackKey(name: string, opts?: pulumi.CustomResourceOptions): tls.PrivateKey {
    return new tls.PrivateKey(name, { algorithm: "ED25519" }, opts);
}

/** File name for a host's key: "<project>-<stack>-<host>", deterministic, safe in a path. */
export function keyFileName(host: string): string {
    return `${pulumi.getProject()}-${pulumi.getStack()}-${host}`.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Seconds an idle multiplexed SSH connection stays open after its last Docker call. */
export const CONTROL_PERSIST_SECONDS = 120;

/** OpenSSH client options for the Docker provider (see the file comment for why each). */
export function sshClientOptions(keyPath: string, knownHostsPath: string): string[] {
    // %C is a hash of the connection (local host, remote host, port, user): short, so the socket path
    // stays under the 104-byte limit of a unix socket, and distinct per host.
    const controlPath = `${path.posix.dirname(keyPath)}/cm-%C`;
    return [
        "-i", keyPath,
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", `UserKnownHostsFile=${knownHostsPath}`,
        "-o", "BatchMode=yes",
        "-o", "ServerAliveInterval=15",
        "-o", "ControlMaster=auto",
        "-o", `ControlPath=${controlPath}`,
        "-o", `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
    ];
}

/** A "~/..." path as this machine's absolute path. */
export function expandHome(p: string, home: string = os.homedir()): string {
    return p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/**
 * Writes `key` to `keyPath` ("~/..." or absolute) with mode 0600, in a 0700 directory, atomically
 * (a reader never sees half a key), and only when the content differs. Idempotent: safe on every run.
 */
export function writeKeyFile(keyPath: string, key: string, home: string = os.homedir()): void {
    const file = expandHome(keyPath, home);
    const content = key.endsWith("\n") ? key : `${key}\n`;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
        if (fs.readFileSync(file, "utf8") === content && (fs.statSync(file).mode & 0o777) === 0o600) return;
    } catch {
        // absent or unreadable: write it
    }
    const tmp = `${file}.${process.pid}.tmp`;
    try {
        fs.writeFileSync(tmp, content, { mode: 0o600 });
        fs.chmodSync(tmp, 0o600);
        fs.renameSync(tmp, file);
    } finally {
        fs.rmSync(tmp, { force: true });
    }
}

/** A path as a shell word: "~/x" becomes "$HOME"/x, the rest is quoted. */
export function shellPath(p: string): string {
    return p.startsWith("~/") ? `"$HOME"/${shellQuote(p.slice(2))}` : shellQuote(p);
}

/** POSIX sh that forgets a host's known keys: a new VM behind the same static address has new ones. */
export function forgetHostKeysScript(knownHostsPath: string): string {
    return `rm -f ${shellPath(knownHostsPath)}\n`;
}

/** POSIX sh that removes the key and known_hosts files. */
export function keyFileDeleteScript(keyPath: string, knownHostsPath: string): string {
    return `rm -f ${shellPath(keyPath)} ${shellPath(knownHostsPath)}\n`;
}

/**
 * Run on the host by the SSH gate: waits for cloud-init, then exits 75 while the setup script
 * has asked for a reboot in this boot (the marker holds the boot id) and the driver is not loaded.
 */
export const SSH_GATE_PROBE = [
    "cloud-init status --wait >/dev/null 2>&1 || true",
    `m=${shellQuote(REBOOT_REQUIRED_MARKER)}`,
    'if [ -e "$m" ] && [ "$(cat "$m")" = "$(cat /proc/sys/kernel/random/boot_id)" ] && ! nvidia-smi >/dev/null 2>&1; then',
    `  exit ${READINESS_REBOOTING_EXIT_CODE}`,
    "fi",
].join("\n") + "\n";

export interface SshGateOptions {
    readonly target: string;
    readonly sshOptions: readonly string[];
    readonly timeoutSeconds: number;
}

/**
 * POSIX sh, run on the operator's machine, that retries until the VM answers over SSH with the
 * Docker provider's own options and has finished its first boot. The installed
 * @pulumi/command's remote connection dials only a few times, so a still-booting VM (sshd not
 * up, the user not yet created, a driver reboot) would fail the remote commands without it.
 */
export function sshGateScript(o: SshGateOptions): string {
    const opts = [...o.sshOptions, "-o", "ConnectTimeout=10", "-o", "ServerAliveCountMax=4"].map(shellQuote).join(" ");
    return [
        "set -u",
        "# ssh expands ~ in -i and UserKnownHostsFile itself, exactly as for the Docker provider.",
        "# shellcheck disable=SC2088",
        `set -- ${opts}`,
        `target=${shellQuote(o.target)}`,
        "# The probe runs, and expands, on the host.",
        "# shellcheck disable=SC2016",
        `probe=${shellQuote(SSH_GATE_PROBE)}`,
        `deadline=$(( $(date +%s) + ${o.timeoutSeconds} ))`,
        "attempt=0",
        "while :; do",
        "  attempt=$((attempt + 1))",
        "  rc=0",
        '  ssh -n "$@" -- "$target" "$probe" || rc=$?',
        '  case "$rc" in',
        '    0) echo "gpu-hosts: $target answers over SSH and has finished its first boot"; exit 0 ;;',
        `    ${READINESS_REBOOTING_EXIT_CODE}) echo "gpu-hosts: $target is rebooting to load the NVIDIA driver (attempt $attempt)" ;;`,
        '    255) echo "gpu-hosts: $target does not accept SSH yet (attempt $attempt)" ;;',
        '    *) echo "gpu-hosts: the boot probe on $target exited $rc; the readiness gate will tell why"; exit 0 ;;',
        "  esac",
        '  if [ "$(date +%s)" -ge "$deadline" ]; then',
        `    echo "gpu-hosts: $target did not come up within ${o.timeoutSeconds}s" >&2`,
        "    exit 1",
        "  fi",
        "  sleep 10",
        "done",
    ].join("\n") + "\n";
}

type DependsOn = pulumi.CustomResourceOptions["dependsOn"];

/** `dependsOn` plus `extra`, whichever form the caller used. */
function withDependency(dependsOn: DependsOn, extra: pulumi.Resource): pulumi.Input<pulumi.Input<pulumi.Resource>[]> {
    if (dependsOn === undefined) return [extra];
    if (Array.isArray(dependsOn)) return [...dependsOn, extra];
    if (pulumi.Resource.isInstance(dependsOn)) return [dependsOn, extra];
    return pulumi.output(dependsOn as pulumi.Input<pulumi.Resource | pulumi.Resource[]>)
        .apply((d) => [...(Array.isArray(d) ? d : [d]), extra]) as unknown as pulumi.Input<pulumi.Resource>[];
}

/**
 * Connects a cloud host: key file, SSH gate, readiness gate, HostRunner and Docker provider,
 * all children of `parent` with names derived from `name`.
 */
export function connectHost(parent: pulumi.Resource, name: string, args: ConnectHostArgs): HostConnection {
    const keyDir = (args.keyDir ?? SSH_DEFAULTS.keyDir).replace(/\/+$/, "");
    const keyPath = `${keyDir}/${keyFileName(name)}`;
    const knownHostsPath = `${keyPath}.known_hosts`;
    const sshOptions = sshClientOptions(keyPath, knownHostsPath);
    const privateKey = pulumi.secret(pulumi.output(args.privateKey).apply((k) => (k.endsWith("\n") ? k : `${k}\n`)));
    const target = pulumi.interpolate`${args.user}@${args.address}`;

    // Everything below lives on the VM: replaced with it, deleted with it.
    const onHost: HostResourceOptions = { replacementTrigger: args.machineId, deletedWith: args.machine };

    // The key file, written by the program on every run (see the file comment); the options that
    // name it resolve only once it is written.
    const sshOptionsOutput = pulumi.unsecret(privateKey.apply((k) => {
        writeKeyFile(keyPath, k);
        return sshOptions;
    }));

    // Removes the key and known_hosts files on destroy, and only then: it is never replaced.
    const sshFiles = new command.local.Command(`${name}-ssh-files`, {
        create: "true\n",
        delete: keyFileDeleteScript(keyPath, knownHostsPath),
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, { parent });
    // A new VM behind the same static address has new host keys: forget the old ones.
    const knownHosts = new command.local.Command(`${name}-known-hosts`, {
        create: forgetHostKeysScript(knownHostsPath),
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, { parent, replacementTrigger: args.machineId, dependsOn: [sshFiles] });

    const sshGate = new command.local.Command(`${name}-ssh-gate`, {
        create: pulumi.all([target, sshOptionsOutput]).apply(([t, o]) => sshGateScript({
            target: t,
            sshOptions: o,
            timeoutSeconds: args.bootTimeoutSeconds ?? SSH_DEFAULTS.bootTimeoutSeconds,
        })),
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, {
        parent,
        replacementTrigger: args.machineId,
        // After the machine itself: a recovered or replaced VM is waited for before anything dials it.
        dependsOn: [knownHosts, args.machine, ...(args.networkDependsOn ?? [])],
    });

    // The SSH gate has waited for sshd already; these bound each remote command's own dialling.
    const connection: command.types.input.remote.ConnectionArgs = {
        host: args.address,
        user: args.user,
        privateKey,
        port: 22,
        dialErrorLimit: 20,
        perDialTimeout: 15,
    };
    const remote = (cmdName: string, cmd: HostCommandArgs, opts?: pulumi.CustomResourceOptions) => new command.remote.Command(cmdName, {
        connection,
        create: cmd.create,
        delete: cmd.delete,
        stdin: cmd.stdin,
        triggers: cmd.triggers,
        // The provider would pass the previous output in PULUMI_COMMAND_STDOUT/STDERR; Ubuntu's sshd
        // accepts no such variable (AcceptEnv LANG LC_*), and every run warns.
        addPreviousOutputInEnv: false,
    }, { parent, ...onHost, ...opts });

    const ready = remote(`${name}-ready`, {
        create: readinessScript({
            image: args.gpuCheckImage ?? READINESS_DEFAULTS.image,
            timeoutSeconds: args.readinessTimeoutSeconds ?? READINESS_DEFAULTS.timeoutSeconds,
        }),
        triggers: [args.address],
    }, { dependsOn: [sshGate] });

    const run: HostRunner = (cmdName, cmd, opts) =>
        remote(cmdName, cmd, { ...opts, dependsOn: withDependency(opts?.dependsOn, ready) });

    // A new VM means a new engine: the provider is replaced with it, so nothing created through the
    // old one is assumed to exist on the new one.
    // Its check that the engine answers would dial a dead spot VM during a destroy; the readiness
    // gate above has proved the engine before anything is created.
    const provider = new docker.Provider(`${name}-docker`, {
        host: pulumi.interpolate`ssh://${target}`,
        sshOpts: sshOptionsOutput,
        disableDockerDaemonCheck: true,
    }, { parent, dependsOn: [ready], replacementTrigger: args.machineId });

    const sshCommand = pulumi.interpolate`ssh -i ${keyPath} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHostsPath} ${target}`;
    return { run, ready, provider, sshCommand, keyPath, knownHostsPath, sshOptions, sshFiles, knownHosts, sshGate, onHost };
}
