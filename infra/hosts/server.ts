// One of the operator's own servers (host kind "ssh"): a machine the stack does not create, such as
// an on-prem box, a bare-metal rental or a workstation. It is set up over SSH with the same setup
// script cloud-init runs on the cloud VMs (as root through sudo, again whenever the script changes),
// and its identity is its /etc/machine-id, read over SSH on every run: a reinstalled machine gets a
// new one, and everything on it is deployed afresh, not patched. A destroy removes the stack's
// containers, networks and volumes from it (the model volume excepted) and leaves the machine.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { SshHostConfig } from "../config/sections/hosts";
import { DOCKER_LOG_ROTATION, READINESS_TIMEOUT_SECONDS, SERVER_BOOT_TIMEOUT_SECONDS, SSH_KEY_DIR } from "../config/fixed";
import { SERVER_HOST_TYPE, serverIdentityName } from "../contract/names";
import { MachineRecord, RemoteHost, RemoteHostArgs, SshAccess, connectRemote, sshAccess } from "./remote";
import { readMachineId } from "./ssh";
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
    /** Who reaches which of the ports the proxy publishes there: the idle port, operatorCidrs only. */
    readonly firewall: FirewallOptions;
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
            ...(args.registryLogin ? { registryLogin: args.registryLogin } : {}),
        };
        const access = sshAccess(name, remote);
        const { identity, record } = serverMachine(this, name, args, access);
        this.identity = identity;
        this.host = connectRemote(this, name, remote, access, record);
        this.registerOutputs({ address: this.host.address, machineId: this.host.machineId, sshCommand: this.host.sshCommand });
    }
}

function serverMachine(parent: pulumi.Resource, name: string, args: SshServerHostArgs, access: SshAccess): { identity: command.local.Command; record: MachineRecord } {
    const s = args.server;
    const target = `${s.user}@${s.address}`;
    // Read now, without multiplexing, once the key file is written: preview and up both see a
    // reinstalled machine before anything dials its engine.
    const machineId = pulumi.all([access.options, pulumi.output(args.publicKey)])
        .apply(([options, publicKey]) => readMachineId({ target, port: s.port, options, publicKey }));
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
        record: {
            address: pulumi.output(s.address),
            machineId,
            dependsOn: [identity],
            setup: { by: "ssh", script, firewall: firewallInstaller(args.firewall) },
            // authorizedKey: the line the server's authorized_keys needs, when the stack generated the key.
            details: { kind: "ssh", port: s.port, user: s.user, machineId, authorizedKey: pulumi.output(args.publicKey).apply((k) => k.trim() || undefined) },
        },
    };
}
