// SSH plumbing shared by the cloud hosts (one place, not one copy per cloud): the key file the
// Docker provider's ssh client reads, a gate that waits for the VM to boot, the readiness gate,
// a HostRunner over SSH and the Docker provider itself.
//
// How the stack's key reaches the Docker provider's ssh client: for an ssh:// host the provider
// uses the docker CLI's connection helper, which runs the operator's OpenSSH client as
// `ssh <sshOpts...> -- user@host docker system dial-stdio`, each sshOpts entry one argv word. It
// takes no key material, only a file. So a local command writes the stack's private key, fed on
// stdin (never argv: not in `ps`, not in Pulumi's logs), with mode 0600 to
// ~/.ssh/gpu-hosts/<project>-<stack>-<host>, and deletes it on destroy. sshOpts then pass
//   -i <that file>                      the stack key...
//   -o IdentitiesOnly=yes               ...and only it (an agent's keys would be tried first and
//                                       can use up sshd's MaxAuthTries)
//   -o StrictHostKeyChecking=accept-new trust on first use, refuse a changed key afterwards
//   -o UserKnownHostsFile=<file>.known_hosts   this host's own known_hosts, so the operator's
//                                       ~/.ssh/known_hosts is untouched
//   -o BatchMode=yes                    fail instead of prompting: there is no terminal
//   -o ServerAliveInterval=15           notice a dead connection during a long image build
// ssh expands the "~" in those paths itself (the provider runs no shell), so the values are the
// same on every operator's machine and do not churn the provider's config. A replaced VM keeps
// its static address but has new host keys, so the key-file command, re-run whenever the
// instance id changes, forgets the old ones. The file exists only on the machine that ran
// `pulumi up`; on another machine, re-create it with `pulumi up --target-replace <key-file URN>`.
// https://github.com/docker/cli/blob/master/cli/connhelper/connhelper.go
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as tls from "@pulumi/tls";
import { REBOOT_REQUIRED_MARKER, shellQuote } from "../../cloud-init/render";
import { HostCommandArgs, HostRunner } from "./gpuHost";
import { READINESS_DEFAULTS, READINESS_REBOOTING_EXIT_CODE, readinessScript } from "./readiness";

export interface ConnectHostArgs {
    /** Public address the host answers SSH on. */
    readonly address: pulumi.Input<string>;
    /** Login user. */
    readonly user: string;
    /** The stack's private key (OpenSSH format); made a secret here whatever the caller passes. */
    readonly privateKey: pulumi.Input<string>;
    /** The cloud's id for this VM; a new one (a replaced VM) re-runs the gates and forgets its old host keys. */
    readonly machineId: pulumi.Input<string>;
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
    /** Writes the key file; deletes it on destroy. */
    readonly keyFile: command.local.Command;
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

/** OpenSSH client options for the Docker provider (see the file comment for why each). */
export function sshClientOptions(keyPath: string, knownHostsPath: string): string[] {
    return [
        "-i", keyPath,
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", `UserKnownHostsFile=${knownHostsPath}`,
        "-o", "BatchMode=yes",
        "-o", "ServerAliveInterval=15",
    ];
}

/** A path as a shell word: "~/x" becomes "$HOME"/x, the rest is quoted. */
export function shellPath(p: string): string {
    return p.startsWith("~/") ? `"$HOME"/${shellQuote(p.slice(2))}` : shellQuote(p);
}

/** POSIX sh that writes stdin to the key file (mode 0600) and forgets the host's known keys. */
export function keyFileScript(keyPath: string, knownHostsPath: string): string {
    return [
        "set -eu",
        "umask 077",
        `key=${shellPath(keyPath)}`,
        `known_hosts=${shellPath(knownHostsPath)}`,
        'mkdir -p "$(dirname "$key")"',
        'tmp="$(mktemp "$key.XXXXXX")"',
        "trap 'rm -f \"$tmp\"' EXIT",
        "# The key arrives on stdin, never in argv.",
        'cat >"$tmp"',
        'chmod 600 "$tmp"',
        'mv -f "$tmp" "$key"',
        "trap - EXIT",
        "# A new VM behind the same static address has new host keys.",
        'rm -f "$known_hosts"',
        'echo "gpu-hosts: wrote $key"',
    ].join("\n") + "\n";
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

    const keyFile = new command.local.Command(`${name}-ssh-key`, {
        create: keyFileScript(keyPath, knownHostsPath),
        delete: keyFileDeleteScript(keyPath, knownHostsPath),
        stdin: privateKey,
        interpreter: ["/bin/sh", "-c"],
        triggers: [args.machineId],
    }, {
        parent,
        // Replacing must not end with the old command's delete removing the file just written.
        deleteBeforeReplace: true,
    });

    const sshGate = new command.local.Command(`${name}-ssh-gate`, {
        create: target.apply((t) => sshGateScript({
            target: t,
            sshOptions,
            timeoutSeconds: args.bootTimeoutSeconds ?? SSH_DEFAULTS.bootTimeoutSeconds,
        })),
        interpreter: ["/bin/sh", "-c"],
        triggers: [args.machineId],
    }, { parent, dependsOn: [keyFile, ...(args.networkDependsOn ?? [])] });

    // The installed @pulumi/command (4.5.0, an old 0.x build) has no dialErrorLimit or
    // perDialTimeout; the SSH gate above does the waiting instead.
    const connection: command.types.input.remote.ConnectionArgs = {
        host: args.address,
        user: args.user,
        privateKey,
        port: 22,
    };
    const remote = (cmdName: string, cmd: HostCommandArgs, opts?: pulumi.CustomResourceOptions) => new command.remote.Command(cmdName, {
        connection,
        create: cmd.create,
        delete: cmd.delete,
        stdin: cmd.stdin,
        triggers: cmd.triggers,
    }, { parent, ...opts });

    const ready = remote(`${name}-ready`, {
        create: readinessScript({
            image: args.gpuCheckImage ?? READINESS_DEFAULTS.image,
            timeoutSeconds: args.readinessTimeoutSeconds ?? READINESS_DEFAULTS.timeoutSeconds,
        }),
        triggers: [args.machineId, args.address],
    }, { dependsOn: [sshGate] });

    const run: HostRunner = (cmdName, cmd, opts) =>
        remote(cmdName, cmd, { ...opts, dependsOn: withDependency(opts?.dependsOn, ready) });

    const provider = new docker.Provider(`${name}-docker`, {
        host: pulumi.interpolate`ssh://${target}`,
        sshOpts: sshOptions,
    }, { parent, dependsOn: [ready] });

    const sshCommand = pulumi.interpolate`ssh -i ${keyPath} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHostsPath} ${target}`;
    return { run, ready, provider, sshCommand, keyPath, knownHostsPath, sshOptions, keyFile, sshGate };
}
