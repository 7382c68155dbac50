// One of the operator's own servers (host kind "ssh"): a machine the stack does not create, such as
// an on-prem box, a bare-metal rental or a workstation. It is set up over SSH with the same setup
// script cloud-init runs on the cloud VMs (as root through sudo, again whenever the script changes),
// and its identity is its /etc/machine-id, read over SSH on every run: a reinstalled machine gets a
// new one, and everything on it is deployed afresh, not patched. Its SSH host key is the one it
// presented the first time (kept in the state), or the one the operator pins in config; every
// connection requires it, and a changed key stops the run with one line (hostKeys.ts). A destroy
// removes the stack's containers, networks and volumes from it (the model volume excepted) and
// leaves the machine.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { SshHostConfig } from "../config/sections/hosts";
import { DOCKER_LOG_ROTATION, READINESS_TIMEOUT_SECONDS, SERVER_BOOT_TIMEOUT_SECONDS, SSH_KEY_DIR } from "../config/fixed";
import { SERVER_HOST_TYPE, hostKeyName, serverIdentityName } from "../contract/names";
import { MachineRecord, RemoteHost, RemoteHostArgs, SshAccess, connectRemote, pinHostKey, sshAccess } from "./remote";
import { HostAccessError, changedHostKeyMessage, hostKeyOf, preferredHostKey, readMachineId, scanHostKeys } from "./hostKeys";
import { setupScript } from "../shell/setup";
import { FirewallOptions, firewallInstaller } from "../shell/firewall";
import type { RegistryLogin } from "./registry";

export interface SshServerHostArgs {
    /** The server as config names it (name, address, port, user, gpu), validated. */
    readonly server: SshHostConfig;
    /** The private key to log in with (the operator's, or the stack's generated one); a secret. */
    readonly privateKey: pulumi.Input<string>;
    /** Its public half when the stack generated it ("" for the operator's own): the line to authorise. */
    readonly publicKey: pulumi.Input<string>;
    /** The NVIDIA driver branch the setup installs on a GPU server without a working driver. */
    readonly nvidiaDriverBranch: string;
    /** Image the readiness gate runs with `--gpus all` on a GPU server. */
    readonly gpuCheckImage: string;
    /** Who reaches which of the ports published there: the idle port, operatorCidrs only (and a fleet hub's Redis port, its sources). Defaults to none: a fleet's worker host publishes nothing. */
    readonly firewall?: pulumi.Input<FirewallOptions>;
    /** Docker Hub mirrors the setup merges into the server's daemon.json; empty for none. */
    readonly registryMirrors: readonly string[];
    /** The Docker Hub login every pull on the server uses; undefined to pull anonymously. */
    readonly registryLogin?: RegistryLogin;
}


/** One of the operator's own servers, connected as a GpuHost. */
export class SshServerHost extends pulumi.ComponentResource {
    /** The host as the service sees it. */
    public readonly host: RemoteHost;
    /** The record of the server's identity in the state; `npm run recover` looks for its replacement. */
    public readonly identity: command.local.Command;
    /** The record of the host key every connection requires, in the state; recover and destroy read it. */
    public readonly hostKey: command.local.Command;

    constructor(name: string, args: SshServerHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(SERVER_HOST_TYPE, name, {}, opts);
        const s = args.server;
        const remote: RemoteHostArgs = {
            user: s.user,
            port: s.port,
            privateKey: args.privateKey,
            publicKey: args.publicKey,
            gpu: s.gpu,
            gpuCheckImage: args.gpuCheckImage,
            readinessTimeoutSeconds: READINESS_TIMEOUT_SECONDS,
            bootTimeoutSeconds: SERVER_BOOT_TIMEOUT_SECONDS,
            keyDir: SSH_KEY_DIR,
            // No cloud firewall in front: the proxy listens on every interface of the server, and the
            // firewall the setup installs (args.firewall) keeps the idle port to the operators.
            bindAddress: "0.0.0.0",
            registryLogin: args.registryLogin,
        };
        const access = sshAccess(name, remote);
        const { identity, hostKey, record } = serverMachine(this, name, args, access);
        this.identity = identity;
        this.hostKey = hostKey;
        this.host = connectRemote(this, name, remote, access, record);
        this.registerOutputs({ address: this.host.address, machineId: this.host.machineId, sshCommand: this.host.sshCommand });
    }
}

function serverMachine(parent: pulumi.Resource, name: string, args: SshServerHostArgs, access: SshAccess): { identity: command.local.Command; hostKey: command.local.Command; record: MachineRecord } {
    const s = args.server;
    const target = `${s.user}@${s.address}`;
    const at = `${target} port ${s.port}`;
    const stack = pulumi.getStack();
    // Every key the server presents now (ssh-keyscan: no login, nothing trusted yet), read while the
    // program runs, in preview and up alike.
    const presented = pulumi.output(s.address).apply((address) => reported(parent, () => scanHostKeys(address, s.port, name)));
    const pin = s.hostKey ? hostKeyOf(s.hostKey) : undefined;
    // The host key in the state: the one the operator pins, or the one the server presented the first
    // time, kept by ignoring every later scan (on a resource with no old state, ignoreChanges takes
    // the new value: https://www.pulumi.com/docs/iac/concepts/resources/options/ignorechanges/).
    // `npm run recover` rewrites it for a reinstalled server (scripts/lib/recover.ts).
    const hostKey = new command.local.Command(hostKeyName(name), {
        create: "true\n",
        triggers: [pin ?? presented.apply((keys) => preferredHostKey(keys)!)],
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, { parent, ...(pin ? {} : { ignoreChanges: ["triggers"] }) });
    const recorded = hostKey.triggers.apply((t) => String((t ?? [])[0] ?? ""));
    // A key the server no longer presents stops the run here, before anything logs in.
    const required = pulumi.all([presented, recorded]).apply(([keys, key]) => reported(parent, () => {
        if (keys.includes(key)) return key;
        throw new HostAccessError(changedHostKeyMessage(name, at, preferredHostKey(keys)!, pin !== undefined, stack));
    }));
    const pinned = pinHostKey(access, s.address, required);
    // Read now, without multiplexing, trusting the required key only: preview and up both see a
    // reinstalled machine before anything dials its engine.
    const machineId = pulumi.all([pinned.options, pulumi.output(args.publicKey)]).apply(([options, publicKey]) => reported(parent, () => readMachineId({
        who: name, target, port: s.port, options, key: publicKey.trim() ? { generated: publicKey } : { own: true },
    })));
    // The machine id in the state: replaced when the server's changes, which is how `npm run
    // recover` tells a reinstalled server; the SSH gate, hence everything on the server, depends on it.
    const identity = new command.local.Command(serverIdentityName(name), {
        create: "true\n",
        triggers: [machineId],
        interpreter: ["/bin/sh", "-c"],
        addPreviousOutputInEnv: false,
    }, { parent });
    const script = setupScript({
        sshUser: s.user,
        gpu: s.gpu,
        nvidiaDriverBranch: args.nvidiaDriverBranch,
        dockerLog: DOCKER_LOG_ROTATION,
        registryMirrors: args.registryMirrors,
    });
    return {
        identity,
        hostKey,
        record: {
            address: pulumi.output(s.address),
            machineId,
            hostKey: required,
            dependsOn: [identity],
            setup: { by: "ssh", script, firewall: args.firewall === undefined ? undefined : pulumi.output(args.firewall).apply(firewallInstaller) },
            // authorizedKey: the line the server's authorized_keys needs, when the stack generated the key.
            details: { kind: "ssh", port: s.port, user: s.user, machineId, authorizedKey: pulumi.output(args.publicKey).apply((k) => k.trim() || undefined) },
        },
    };
}

/**
 * Runs `f`; a HostAccessError becomes the SDK's error for `resource` without a stack trace: the
 * operator sees its one line (and `npm run up` prints it as its own), not an "unhandled exception".
 * The SDK adds `error serializing property "<name>": ` to the message of an error that fails an
 * input (@pulumi/pulumi runtime/rpc.js, serializeFilteredProperties), once per input it fails,
 * then reports the same object (cmd/run/run.js, uncaughtHandler: a ResourceError with hideStack
 * prints its message alone); the message here ignores those edits, so the line stays the one we wrote.
 */
function reported<T>(resource: pulumi.Resource, f: () => T): T {
    try {
        return f();
    } catch (e) {
        if (!(e instanceof HostAccessError)) throw e;
        // The run is failing now, with this one line: from here on, format stack traces natively.
        // Under ts-node (how the language host runs a TypeScript program) source-map-support
        // formats every stack through the source maps; the rejection this throws fails every input
        // that depends on the server, and formatting those errors' stacks blocked the event loop
        // for 80 s on this machine (the program raised this at 6 s and exited at 89 s; with native
        // formatting, at 4.5 s: issue 23 item 15, measured with a 5 s timer that stopped firing).
        // A bug's stack before this point keeps its TypeScript lines.
        (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
        const err = new pulumi.ResourceError(e.message, resource, true);
        Object.defineProperty(err, "message", { get: () => e.message, set: () => undefined, enumerable: false, configurable: true });
        throw err;
    }
}
