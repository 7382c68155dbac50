// One remote host, whatever made its machine: the SSH connection (key file, the known_hosts file
// that pins its host key, the SSH gate), for a server the setup over SSH, the readiness gate, the runner for host commands, the Docker
// provider, and the GpuHost fields and outputs. Each kind (infra/clouds/<cloud>/host.ts, server.ts)
// only makes its machine exist and names its identity in a MachineRecord, then calls connectRemote.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import type { HostDetailsInput, MachineDetails } from "../contract/details";
import { GpuHost, HostCommandArgs, HostResourceOptions, HostRunner } from "./gpuHost";
import { gpuModelOf, platformOf, readinessScript } from "../shell/readiness";
import { SERVER_GATE_PROBE, SSH_GATE_PROBE, sshGateScript } from "../shell/gate";
import { keyFileDeleteScript, keyFileName, sshClientOptions, writeKeyFile } from "./ssh";
import { writeKnownHosts } from "./hostKeys";
import { RegistryLogin, dockerClientConfig, providerRegistryAuth } from "./registry";
import { dataDiskScript } from "../shell/dataDisk";
import { DATA_DISK_DIR, DATA_DISK_TIMEOUT_SECONDS } from "../config/fixed";

/** How to reach and check a remote host; resolved and validated by the config loader. */
export interface RemoteHostArgs {
    /** Login user. */
    readonly user: string;
    /** SSH port. */
    readonly port: number;
    /** The private key (OpenSSH format); made a secret here whatever the caller passes. */
    readonly privateKey: pulumi.Input<string>;
    /** Its public half, for the hint when a server does not trust it yet. */
    readonly publicKey: pulumi.Input<string>;
    /** Whether the host has a GPU the readiness gate must prove and containers may ask for. */
    readonly gpu: boolean;
    /** Image the readiness gate runs with `--gpus all`. */
    readonly gpuCheckImage: string;
    /** Seconds the readiness gate waits for cloud-init. */
    readonly readinessTimeoutSeconds: number;
    /** Seconds the SSH gate waits for the machine to answer and finish its first boot. */
    readonly bootTimeoutSeconds: number;
    /** Directory on the operator's machine for the key and known_hosts files ("~/..." form). */
    readonly keyDir: string;
    /** Host IP the proxy binds its published ports to. */
    readonly bindAddress: string;
    /**
     * The Docker Hub login every pull on the host uses: the Docker provider's (its image pulls) and the
     * readiness gate's (its GPU check image). Defaults to none: anonymous pulls, and the provider's
     * and the gate's inputs exactly as they were before logins existed.
     */
    readonly registryLogin?: RegistryLogin;
}

/** What a host kind's machine is, as the skeleton needs it. */
export interface MachineRecord {
    /** Where SSH and the API clients reach the machine. */
    readonly address: pulumi.Output<string>;
    /**
     * The machine's identity: everything on the host is replaced when it changes (a replaced VM, one
     * recreated after a spot interruption, a reinstalled server), in order: gates, then the Docker
     * objects built on them.
     */
    readonly machineId: pulumi.Output<string>;
    /**
     * The machine resource when the stack owns the machine (a cloud VM): what lives on it is deleted
     * with it, so a destroy never dials a dead engine. Undefined for a server the operator owns,
     * whose containers a destroy must remove.
     */
    readonly machine?: pulumi.Resource;
    /**
     * The SSH host key every connection to the machine requires ("<type> <base64>"): the one the stack
     * generated and cloud-init installed on a cloud VM, the one a server presented first (or the
     * operator pinned). infra/hosts/hostKeys.ts says how each client checks it.
     */
    readonly hostKey: pulumi.Output<string>;
    /** What SSH to the machine relies on (firewall rules, address association, identity): the SSH gate waits for them. */
    readonly dependsOn: readonly pulumi.Resource[];
    /**
     * How the machine is set up: by cloud-init on first boot, or by this setup script, which the
     * skeleton runs over SSH as root (sudo for another user) again whenever the script changes; and,
     * with `firewall`, the installer of the firewall in front of its published ports
     * (infra/shell/firewall.ts), which a machine with no cloud firewall needs.
     */
    readonly setup: { readonly by: "cloud-init" } | { readonly by: "ssh"; readonly script: string; readonly firewall?: pulumi.Input<string> };
    /** The GPU the catalog says the machine has; undefined to take it from the readiness gate's output. */
    readonly gpuModel?: string;
    /** The engine's platform when known in advance (every cloud shape is x86_64); else the gate reports it. */
    readonly platform?: string;
    /**
     * A disk that outlives the machine and is attached to it (a cloud fleet hub's): mounted at
     * DATA_DISK_DIR before the Docker provider is used. Defaults to none.
     */
    readonly dataDisk?: DataDiskRecord;
    /**
     * The host kind, and what it adds to the stack outputs (region, zone, instance type, spot...);
     * the skeleton adds the `ssh` command. The host's `kind` is this one.
     */
    readonly details: MachineDetails;
}

/** A disk attached to the machine that is not part of it: the machine's replacement leaves it, only its attachment follows. */
export interface DataDiskRecord {
    /** The paths it may appear at on the machine, in order (infra/shell/dataDisk.ts says each cloud's). */
    readonly devices: pulumi.Input<string[]>;
    /** Its size in GiB: a grown disk's filesystem is grown after it. */
    readonly sizeGb: number;
    /** The disk's id: another disk is mounted anew (the old one unmounted first). */
    readonly diskId: pulumi.Input<string>;
    /** What attaches it to this machine: the mount waits for it. */
    readonly attachment: pulumi.Resource;
}

/** How the skeleton reaches a machine; a kind may use it while it makes its machine (a server's machine id). */
export interface SshAccess {
    readonly keyPath: string;
    readonly knownHostsPath: string;
    /** The private key, a secret, ending in a newline. */
    readonly privateKey: pulumi.Output<string>;
    /** Resolves once the key file is written (on this run, on this machine). */
    readonly keyWritten: pulumi.Output<boolean>;
    readonly user: string;
    readonly port: number;
    readonly publicKey: pulumi.Input<string>;
}

/** The client options for a host whose known_hosts pins its key: they resolve once both files are written. */
export interface PinnedOptions {
    /** Without multiplexing: the SSH gate, the machine-id read. */
    readonly options: pulumi.Output<string[]>;
    /** The Docker provider's (multiplexed, see ssh.ts). */
    readonly providerOptions: pulumi.Output<string[]>;
}

/** A remote host as the service and the outputs see it: a GpuHost, plus how an operator reaches it. */
export interface RemoteHost extends GpuHost {
    /** SSH login user. */
    readonly sshUser: string;
    /** The machine's identity. */
    readonly machineId: pulumi.Output<string>;
    /** `ssh ...` command line for the operator. */
    readonly sshCommand: pulumi.Output<string>;
    /** The kind, and its facts for the stack outputs (the machine's details and `ssh`). */
    readonly details: HostDetailsInput;
    /** The readiness gate. */
    readonly ready: command.remote.Command;
    /** The setup command, for a machine set up over SSH. */
    readonly setup?: command.remote.Command;
    /** The firewall's command, for a machine set up over SSH with one. */
    readonly firewall?: command.remote.Command;
    /** The data disk's mount, for a machine with one. */
    readonly dataReady?: command.remote.Command;
}

/**
 * How the skeleton will reach `name`'s machine, before the machine exists: the key file's and the
 * known_hosts file's paths. The program writes the key file on every run (ssh.ts); nothing dials the
 * host before it is written. No resource is made.
 */
export function sshAccess(name: string, args: RemoteHostArgs): SshAccess {
    const keyPath = `${args.keyDir.replace(/\/+$/, "")}/${keyFileName(name)}`;
    const knownHostsPath = `${keyPath}.known_hosts`;
    const privateKey = pulumi.secret(pulumi.output(args.privateKey).apply((k) => (k.endsWith("\n") ? k : `${k}\n`)));
    const keyWritten = pulumi.unsecret(privateKey.apply((k) => {
        writeKeyFile(keyPath, k);
        return true;
    }));
    return { keyPath, knownHostsPath, privateKey, keyWritten, user: args.user, port: args.port, publicKey: args.publicKey };
}

/**
 * Writes the host's known_hosts file with `hostKey` for `address` (on every run, on whatever
 * machine runs the program, like the key file) and gives the client options that trust it alone;
 * they resolve once both files are written, so nothing dials the host before. No resource is made.
 */
export function pinHostKey(access: SshAccess, address: pulumi.Input<string>, hostKey: pulumi.Input<string>): PinnedOptions {
    const written = pulumi.all([access.keyWritten, address, hostKey]).apply(([, a, k]) => {
        writeKnownHosts(access.knownHostsPath, a, access.port, k);
        return true;
    });
    return {
        options: written.apply(() => sshClientOptions(access.keyPath, access.knownHostsPath, false)),
        providerOptions: written.apply(() => sshClientOptions(access.keyPath, access.knownHostsPath, true)),
    };
}

/**
 * Connects a machine that a host kind made (`m`) as a GpuHost, with `parent` (the kind's component)
 * as the parent of everything it creates: the SSH files, the SSH gate, for a server the setup over
 * SSH, the readiness gate, the runner for host commands and the Docker provider. What pulumi-eks'
 * createNodeGroup is to its cluster: each kind makes its machine, and calls this.
 */
export function connectRemote(parent: pulumi.Resource, name: string, args: RemoteHostArgs, access: SshAccess, m: MachineRecord): RemoteHost {
    const { keyPath, knownHostsPath, privateKey } = access;
    const target = pulumi.interpolate`${args.user}@${m.address}`;

    // Everything below lives on the machine: replaced with it (and deleted with a VM).
    const onHost: HostResourceOptions = { replacementTrigger: m.machineId, ...(m.machine ? { deletedWith: m.machine } : {}) };

    // Removes the key and known_hosts files on destroy, and only then: it is never replaced.
    const sshFiles = new command.local.Command(`${name}-ssh-files`, {
        create: "true\n",
        delete: keyFileDeleteScript(keyPath, knownHostsPath),
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, { parent });
    const pinned = pinHostKey(access, m.address, m.hostKey);

    const sshGate = new command.local.Command(`${name}-ssh-gate`, {
        create: pulumi.all([target, pinned.options]).apply(([t, o]) => sshGateScript({
            target: t, sshOptions: o, port: args.port, timeoutSeconds: args.bootTimeoutSeconds,
            probe: m.setup.by === "cloud-init" ? SSH_GATE_PROBE : SERVER_GATE_PROBE,
        })),
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, {
        parent,
        replacementTrigger: m.machineId,
        // After the machine itself: a recovered or replaced one is waited for before anything dials it.
        dependsOn: [sshFiles, ...(m.machine ? [m.machine] : []), ...m.dependsOn],
    });

    // The SSH gate has waited for sshd already; these bound each remote command's own dialling.
    // hostKey: without it the provider ignores the host's key (InsecureIgnoreHostKey); with it the
    // connection requires exactly this key and offers the server only its type
    // (pulumi/pulumi-command provider/pkg/provider/remote/connection.go at v1.2.1, SSHConfig:
    // ssh.FixedHostKey and HostKeyAlgorithms = [publicKey.Type()]).
    const connection: command.types.input.remote.ConnectionArgs = {
        host: m.address,
        port: args.port,
        user: args.user,
        privateKey,
        hostKey: m.hostKey,
        dialErrorLimit: 20,
        perDialTimeout: 15,
    };
    const remote = (cmdName: string, cmd: HostCommandArgs, cmdOpts?: pulumi.CustomResourceOptions) => new command.remote.Command(cmdName, {
        connection,
        create: cmd.create,
        delete: cmd.delete,
        stdin: cmd.stdin,
        triggers: cmd.triggers,
        // The provider would pass the previous output in PULUMI_COMMAND_STDOUT/STDERR; Ubuntu's sshd
        // accepts no such variable (AcceptEnv LANG LC_*), and every run warns.
        addPreviousOutputInEnv: false,
    }, { parent, ...onHost, ...cmdOpts });

    let beforeReady: pulumi.Resource = sshGate;
    let setup: command.remote.Command | undefined;
    let firewall: command.remote.Command | undefined;
    const sudo = args.user === "root" ? "" : "sudo -n ";
    if (m.setup.by === "ssh") {
        const script = m.setup.script;
        // As root, from stdin (nothing in argv); again only when the script changes.
        setup = remote(`${name}-setup`, {
            create: `${sudo}bash -s`,
            stdin: script,
            triggers: [crypto.createHash("sha256").update(script).digest("hex")],
        }, { dependsOn: [sshGate] });
        beforeReady = setup;
        if (m.setup.firewall !== undefined) {
            // In place before the readiness gate, hence before the proxy publishes a port. A changed
            // installer updates it in place (only `triggers` replace a command, and an update runs
            // `create` again: pulumi-command provider/pkg/provider/common/inputs.go, remote/commandController.go),
            // and its delete, which gets the same stdin, takes it away. A new machine's is made only
            // once the old one's delete has run against the same address.
            firewall = remote(`${name}-firewall`, {
                create: `${sudo}bash -s -- install`,
                delete: `${sudo}bash -s -- uninstall`,
                stdin: m.setup.firewall,
            }, { dependsOn: [setup], deleteBeforeReplace: true });
            beforeReady = firewall;
        }
    }

    // With a Docker Hub login, a GPU host's gate pulls its image with it: the login reaches the gate
    // as a docker client config on stdin (a secret), the only way that leaves no trace on the host.
    const gateLogin = args.gpu && args.registryLogin ? args.registryLogin : undefined;
    const ready = remote(`${name}-ready`, {
        create: readinessScript({
            image: args.gpuCheckImage,
            timeoutSeconds: args.readinessTimeoutSeconds,
            gpu: args.gpu,
            cloudInit: m.setup.by === "cloud-init",
            pullWithLogin: gateLogin !== undefined,
        }),
        stdin: gateLogin ? dockerClientConfig(gateLogin) : undefined,
        triggers: [m.address],
    }, { dependsOn: [beforeReady] });

    const run: HostRunner = (cmdName, cmd, cmdOpts) => remote(cmdName, cmd, { ...cmdOpts, dependsOn: withDependency(cmdOpts?.dependsOn, ready) });

    // The data disk, mounted once the machine is ready and the disk attached. The mount lives on the
    // machine (replaced with it, skipped when it is deleted); the disk does not, so a new machine finds
    // the same data. The script is idempotent: a changed one runs again in place (stdin, see the
    // firewall above). Another disk replaces the mount, the old one unmounted first.
    let dataReady: command.remote.Command | undefined;
    if (m.dataDisk) {
        const d = m.dataDisk;
        dataReady = remote(`${name}-data-mount`, {
            create: `${sudo}bash -s -- mount`,
            delete: `${sudo}bash -s -- unmount`,
            stdin: pulumi.output(d.devices).apply((devices) => dataDiskScript({
                devices, mountDir: DATA_DISK_DIR, sizeGb: d.sizeGb, timeoutSeconds: DATA_DISK_TIMEOUT_SECONDS,
            })),
            triggers: [d.diskId],
        }, { dependsOn: [ready, d.attachment], deleteBeforeReplace: true });
    }

    // A new machine means a new engine: the provider is replaced with it, so nothing created through
    // the old one is assumed to exist on the new one. Its check that the engine answers would dial
    // a dead spot VM during a destroy; the readiness gate has proved the engine before anything is
    // created. It is the only client that multiplexes (ssh.ts), and its first connection comes after
    // the readiness gate proved the user's groups. With a data disk it waits for the mount too, so
    // nothing on the host (Redis's data above all) is created before the disk is there.
    const portSuffix = args.port === 22 ? "" : `:${args.port}`;
    const provider = new docker.Provider(`${name}-docker`, {
        host: pulumi.interpolate`ssh://${target}${portSuffix}`,
        sshOpts: pinned.providerOptions,
        disableDockerDaemonCheck: true,
        // Its RemoteImage pulls log in to Docker Hub with it. A changed login updates the provider in
        // place: the bridge replaces a provider only for a ForceNew field (pulumi-terraform-bridge
        // pkg/tfbridge/provider.go DiffConfig), and registry_auth is none.
        ...(args.registryLogin ? { registryAuth: providerRegistryAuth(args.registryLogin) } : {}),
    }, { parent, dependsOn: [ready, ...(dataReady ? [dataReady] : [])], replacementTrigger: m.machineId });

    const portFlag = args.port === 22 ? "" : ` -p ${args.port}`;
    const sshCommand = pulumi.interpolate`ssh -i ${keyPath} -o IdentitiesOnly=yes -o UserKnownHostsFile=${knownHostsPath}${portFlag} ${target}`;
    return {
        name,
        // The kind the machine's record names: one source for the host's kind and its details'.
        kind: m.details.kind,
        gpu: args.gpu,
        gpuModel: m.gpuModel !== undefined ? pulumi.output(m.gpuModel) : ready.stdout.apply(gpuModelOf),
        address: m.address,
        bindAddress: args.bindAddress,
        sshUser: args.user,
        run,
        provider,
        ready,
        onHost,
        platform: m.platform !== undefined ? pulumi.output(m.platform) : ready.stdout.apply(platformOf),
        machineId: m.machineId,
        sshCommand,
        details: { ...m.details, ssh: sshCommand },
        ...(setup ? { setup } : {}),
        ...(firewall ? { firewall } : {}),
        ...(dataReady ? { dataDir: DATA_DISK_DIR, dataReady } : {}),
    };
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
