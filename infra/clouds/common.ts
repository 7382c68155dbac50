// What the AWS, GCP and Azure hosts share: their args (resolved from the validated config in one
// place, cloudHostArgs), the firewall policy as data, tags, the VM's SSH host key and the cloud-init
// user data that installs it. Each cloud
// file turns these into its own network, firewall and machine; the remote-host skeleton (remote.ts)
// does the rest.
import * as crypto from "crypto";
import * as net from "net";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderCloudInit } from "../../cloud-init/render";
import { hostKeyName } from "../contract/names";
import { PORTS } from "../vocabulary";
import { isCidr } from "../validators";
import { RemoteHostArgs } from "../hosts/remote";
import type { RegistryLogin } from "../hosts/registry";
import { CLOUD_BOOT_TIMEOUT_SECONDS, DOCKER_LOG_ROTATION, READINESS_TIMEOUT_SECONDS, SSH_KEY_DIR } from "../config/fixed";

/** Args every cloud GPU host takes; every value already validated by the config loader. */
export interface CloudHostArgs {
    /** Whether to run on spot/preemptible capacity (cheaper; the cloud may reclaim the VM). */
    readonly spot: boolean;
    /** Boot disk size in GB; at least 100 (driver, CUDA images and models). */
    readonly diskGb: number;
    /** Login user for SSH, remote commands and the Docker provider. */
    readonly sshUser: string;
    /** The stack's generated OpenSSH public key (e.g. tls.PrivateKey.publicKeyOpenssh). */
    readonly sshPublicKey: pulumi.Input<string>;
    /** The private half of `sshPublicKey` (OpenSSH format); the host keeps it a secret Output. */
    readonly sshPrivateKey: pulumi.Input<string>;
    /** An operator's own OpenSSH public key, authorised beside the stack's; "" for none. */
    readonly operatorPublicKey: string;
    /** CIDRs that may reach SSH, the idle slot port and the live port. */
    readonly operatorCidrs: readonly string[];
    /** CIDRs that may reach the live API port. */
    readonly apiCidrs: readonly string[];
    /** Host port serving the live slot. */
    readonly apiPort: number;
    /** Host port serving the idle slot. */
    readonly idlePort: number;
    /**
     * Open port 80 to everyone for a public CA's HTTP-01 challenge (tls mode "acme": the CA
     * validates from addresses it does not publish).
     */
    readonly acmeChallenge: boolean;
    /** The NVIDIA driver branch cloud-init installs. */
    readonly nvidiaDriverBranch: string;
    /** Image the readiness gate runs with `--gpus all`. */
    readonly gpuCheckImage: string;
    /** Tags (AWS, Azure) or labels (GCP) put on every resource that takes them. */
    readonly tags: Readonly<Record<string, string>>;
    /** Docker Hub mirrors cloud-init's setup puts in the VM's daemon.json; empty for none. */
    readonly registryMirrors: readonly string[];
    /** The Docker Hub login every pull on the VM uses; undefined to pull anonymously. */
    readonly registryLogin?: RegistryLogin;
    /** Set on the fleet's hub only (gpu-hosts:fleet): its Redis port, who may reach it, and its data disk. Defaults to none: not a hub. */
    readonly fleetHub?: FleetHubArgs;
}

/** What makes a cloud host the fleet's hub, on the cloud's side: a firewall opening and a disk. */
/** One source a fleet hub's Redis port is open to. */
export interface RedisSource {
    /** The worker host's name, or "cidr-<id>" for an operator's block: a stable key for a firewall rule. */
    readonly name: string;
    /** Its CIDR block; a worker VM's is known only once the VM exists. */
    readonly cidr: pulumi.Input<string>;
}

export interface FleetHubArgs {
    /** The host port of the hub's Redis (TLS only). */
    readonly redisPort: number;
    /**
     * Who may reach that port: each worker host's address as a /32 (IPv4) or /128 (IPv6), keyed by a
     * stable name (the worker host's name, or "cidr-<cidrId>" for an operator's extra CIDR). Never apiCidrs.
     */
    readonly redisSources: readonly RedisSource[];
    /** Size in GB of the disk that holds Redis's data and outlives the VM. */
    readonly dataDiskGb: number;
}

/** Every GPU shape the catalog allows is x86_64, and the images are Ubuntu amd64 ones. */
export const CLOUD_PLATFORM = "linux/amd64";
export const SSH_PORT = PORTS.ssh;
export const ACME_CHALLENGE_PORT = PORTS.acmeChallenge;
/**
 * Redis and Ollama: reachable only on the host's Docker network, never through a firewall. A fleet
 * hub publishes its Redis on another port (FleetHubArgs.redisPort), TLS only, open to its worker
 * hosts alone (redisIngressRules).
 */
export const NEVER_EXPOSED_PORTS: readonly number[] = [PORTS.redis, PORTS.ollama];

/** How the skeleton reaches a cloud VM: the stack's key, port 22, the GPU proved, every interface bound. */
export function cloudRemoteArgs(a: CloudHostArgs): RemoteHostArgs {
    return {
        user: a.sshUser,
        port: SSH_PORT,
        privateKey: a.sshPrivateKey,
        publicKey: a.sshPublicKey,
        gpu: true,
        gpuCheckImage: a.gpuCheckImage,
        readinessTimeoutSeconds: READINESS_TIMEOUT_SECONDS,
        bootTimeoutSeconds: CLOUD_BOOT_TIMEOUT_SECONDS,
        keyDir: SSH_KEY_DIR,
        // The public IP is NAT'd onto a private address; the cloud firewall decides who gets in.
        bindAddress: "0.0.0.0",
        registryLogin: a.registryLogin,
    };
}

/** One inbound allowance: a TCP port and who may reach it. */
export interface IngressRule {
    /** Short name, used in child resource names. */
    readonly name: "ssh" | "idle" | "api" | "acme";
    readonly port: number;
    readonly cidrs: readonly string[];
    readonly description: string;
}

/**
 * The whole inbound policy, the same on every cloud: SSH and the idle slot from the operators, the
 * live slot from the API clients and the operators, nothing else (Redis and Ollama stay on the Docker
 * network). The operators reach the live port too because promote and rollback verify it from their
 * machine: with apiCidrs alone (prod's are the clients'), every verification would time out and roll
 * the swap back.
 */
export function ingressRules(a: CloudHostArgs): IngressRule[] {
    return [
        { name: "ssh", port: SSH_PORT, cidrs: a.operatorCidrs, description: "SSH from the operators" },
        { name: "idle", port: a.idlePort, cidrs: a.operatorCidrs, description: "idle slot from the operators" },
        { name: "api", port: a.apiPort, cidrs: [...new Set([...a.apiCidrs, ...a.operatorCidrs])], description: "live API (clients and operators)" },
        ...(a.acmeChallenge ? [{ name: "acme" as const, port: ACME_CHALLENGE_PORT, cidrs: ["0.0.0.0/0", "::/0"], description: "ACME HTTP-01 challenge (public CA)" }] : []),
    ];
}

/** One inbound allowance to a fleet hub's Redis: one source, whose address may be known only at deploy time. */
export interface RedisIngressRule {
    /** "redis-<source name>": a stable part of the child resource's name, whatever the sources' order. */
    readonly name: string;
    readonly port: number;
    /** The source's CIDR, checked when it resolves. */
    readonly cidr: pulumi.Output<string>;
    /** Whether the CIDR is IPv6; resolves with it. */
    readonly ipv6: pulumi.Output<boolean>;
    readonly description: string;
}

/**
 * A fleet hub's Redis port, open to each of its sources alone: one rule per source, none for a host
 * that is not the hub, and never apiCidrs or the operators (they reach Redis, if ever, over SSH). The
 * static rules stay in ingressRules. A source's address may be an Output (a worker VM's address), so
 * its IP version is known only when it resolves: each cloud decides per rule inside an apply.
 */
export function redisIngressRules(a: CloudHostArgs): RedisIngressRule[] {
    const hub = a.fleetHub;
    if (!hub) return [];
    const names = hub.redisSources.map((s) => s.name);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length > 0) throw new Error(`fleet hub Redis sources must have distinct names, got ${JSON.stringify([...new Set(twice)])} more than once`);
    return hub.redisSources.map((s) => {
        const cidr = pulumi.output(s.cidr).apply((c) => {
            // The port carries the queue: a typo must not open it to the world.
            if (!isCidr(c) || c.endsWith("/0")) throw new Error(`fleet hub Redis source ${s.name} must be a CIDR block narrower than /0, e.g. "203.0.113.7/32", got ${JSON.stringify(c)}`);
            return c;
        });
        return {
            name: `redis-${s.name}`,
            port: hub.redisPort,
            cidr,
            ipv6: cidr.apply((c) => net.isIPv6(c.split("/")[0])),
            description: `fleet Redis (TLS) from ${s.name}`,
        };
    });
}

/** CIDRs split by IP version: GCP and Azure rules take one version each, AWS rules one CIDR each. */
export function byFamily(cidrs: readonly string[]): { readonly ipv4: string[]; readonly ipv6: string[] } {
    const ipv6 = cidrs.filter((c) => net.isIPv6(c.split("/")[0]));
    return { ipv4: cidrs.filter((c) => !ipv6.includes(c)), ipv6 };
}

/** A short stable id for a CIDR, so a rule's name does not depend on its position in a list. */
export function cidrId(cidr: string): string {
    return crypto.createHash("sha256").update(cidr).digest("hex").slice(0, 8);
}

/** GCP labels: lowercase letters, digits, '_' and '-', at most 63 characters. */
export function gcpLabels(tags: Readonly<Record<string, string>>): Record<string, string> {
    const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]/g, "_").slice(0, 63);
    return Object.fromEntries(Object.entries(tags).map(([k, v]) => [clean(k), clean(v)]));
}

/** The keys authorised for the login user: the stack's, then the operator's. */
export function authorizedKeys(a: CloudHostArgs): pulumi.Output<string[]> {
    return pulumi.output(a.sshPublicKey).apply((k) => [k.trim(), ...(a.operatorPublicKey ? [a.operatorPublicKey.trim()] : [])]);
}

/** A cloud VM's SSH host key pair, generated by the stack and installed by cloud-init. */
export interface VmHostKey {
    /** OpenSSH private key: a secret, in the state and the user data only. */
    readonly privateKey: pulumi.Output<string>;
    /** "ssh-ed25519 AAAA...": what every connection to the VM requires (MachineRecord.hostKey). */
    readonly publicKey: pulumi.Output<string>;
}

/**
 * The VM's SSH host key (`<host>-host-key`, ED25519), a child of the host component. The stack
 * knows it before the VM exists, so even the first connection is verified, not trusted on first
 * use. It outlives the VM: a replaced or recovered VM gets the same key from the same user data, so
 * nothing needs forgetting. To rotate it, `pulumi up --replace` it: the user data changes, so the VM
 * is replaced with it.
 */
export function vmHostKey(parent: pulumi.Resource, name: string): VmHostKey {
    const key = new tls.PrivateKey(hostKeyName(name), { algorithm: "ED25519" }, { parent });
    return { privateKey: pulumi.secret(key.privateKeyOpenssh), publicKey: key.publicKeyOpenssh.apply((k) => k.trim()) };
}

/**
 * The cloud-config every cloud gets, with the VM's host key: a secret, since it carries the private
 * half. `createUser` is false on Azure, where the VM resource creates the admin user and cloud-init
 * only adds the keys; `gceGuestAgent` on GCE, whose guest agent would replace the host key.
 */
export function renderUserData(a: CloudHostArgs, createUser: boolean, hostKey: VmHostKey, gceGuestAgent: boolean): pulumi.Output<string> {
    return pulumi.all([authorizedKeys(a), hostKey.privateKey, hostKey.publicKey]).apply(([keys, ed25519Private, ed25519Public]) => renderCloudInit({
        nvidiaDriverBranch: a.nvidiaDriverBranch, sshUser: a.sshUser, createUser, sshAuthorizedKeys: keys, dockerLog: DOCKER_LOG_ROTATION,
        // The mirrors live in the user data, as the driver branch does: set on a running cloud host, they come with a new VM.
        registryMirrors: a.registryMirrors,
        hostKey: { ed25519Private, ed25519Public }, gceGuestAgent,
    }));
}

/** The stack's generated SSH key pair, as index.ts hands it to every host that uses it. */
export interface StackSshKey {
    /** OpenSSH public key (tls.PrivateKey.publicKeyOpenssh). */
    readonly publicKey: pulumi.Input<string>;
    /** OpenSSH private key (tls.PrivateKey.privateKeyOpenssh); a secret. */
    readonly privateKey: pulumi.Input<string>;
}
