// The fleet's queue (gpu-hosts:fleet): what the hub's Redis and every worker host share, created
// once per stack and kept in the state. One password per ACL user (app/src/redisAcl.ts: the api's
// stays on the hub, the worker's goes to every worker host), and the Redis server's certificate from
// the stack's CA, for the address workers dial and for the alias the hub's own containers use. The
// hub's AppStack runs Redis with them (redisConf.ts fleetRedisConf: TLS only, `default` off); each
// worker host's slots get a rediss:// URL and the CA, and verify the server (app/src/connection.ts).
//
// The role each host plays is here too, as data the AppStack switches on: an island (no fleet: all
// of it, as before), the hub (endpoint and queue; workers only with a GPU), or a worker host (only
// Ollama and the slots' workers, no published port).
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { REDIS_ROLES, RedisRole } from "../../app/src/redisAcl";
import { FLEET_QUEUE_TYPE } from "../contract/names";
import { CertificateAuthority, ServerCertificate } from "./pki";
import type { GpuHost } from "../hosts/gpuHost";
import type { FleetConfig } from "../config/sections/fleet";

/** Redis's TLS port inside its container on the hub, where the hub's own containers reach it. */
export const HUB_REDIS_TLS_PORT = 6380;
/** The hub Redis's alias on the hub's Docker network, and a DNS name on its certificate. */
export const HUB_REDIS_ALIAS = "redis";
/** Where a slot's containers find the CA that signed the queue's certificate (REDIS_CA_FILE). */
export const REDIS_CA_FILE = "/etc/gpu-hosts/redis-ca.pem";

export interface FleetQueueArgs {
    /** The stack's CA: it signs the Redis certificate, and the workers trust only it. */
    readonly ca: CertificateAuthority;
    /** The address worker hosts dial (gpu-hosts:fleet.redisAddress, else the hub's address). */
    readonly address: pulumi.Input<string>;
    /** The hub's published Redis port (gpu-hosts:fleet.redisPort). */
    readonly port: number;
}

/** What a slot needs to reach the queue: its URL (a secret) and the CA to verify the server with. */
export interface QueueConnection {
    /** rediss://<user>:<password>@<host>:<port>/0, a secret. */
    readonly url: pulumi.Output<string>;
    /** PEM of the CA that signed Redis's certificate (REDIS_CA_FILE). Not secret. */
    readonly caPem: pulumi.Output<string>;
}

/** A host in a URL: an IPv6 address in brackets (RFC 3986 section 3.2.2). */
const urlHost = (address: string): string => (address.includes(":") ? `[${address}]` : address);

export class FleetQueue extends pulumi.ComponentResource {
    /** Each ACL user's password; secrets. */
    public readonly passwords: Readonly<Record<RedisRole, pulumi.Output<string>>>;
    /** The Redis server's key and certificate. */
    public readonly certificate: ServerCertificate;
    /** PEM of the CA the clients verify Redis with. */
    public readonly caPem: pulumi.Output<string>;
    /** The address worker hosts dial. */
    public readonly address: pulumi.Output<string>;
    /** The published port worker hosts dial. */
    public readonly port: number;

    constructor(name: string, args: FleetQueueArgs, opts?: pulumi.ComponentResourceOptions) {
        super(FLEET_QUEUE_TYPE, name, {}, opts);
        const password = (role: RedisRole) =>
            pulumi.secret(new random.RandomPassword(`${name}-${role}-password`, { length: 40, special: false }, { parent: this }).result);
        this.passwords = Object.fromEntries(REDIS_ROLES.map((r) => [r, password(r)])) as Record<RedisRole, pulumi.Output<string>>;
        this.address = pulumi.output(args.address);
        this.port = args.port;
        this.certificate = new ServerCertificate(`${name}-redis-cert`, { ca: args.ca, address: args.address, alsoNames: [HUB_REDIS_ALIAS] }, { parent: this });
        this.caPem = args.ca.certPem;
        this.registerOutputs({ address: this.address, port: this.port });
    }

    /** How a process on another host reaches the queue as `role`: through the hub's published port. */
    remote(role: RedisRole): QueueConnection {
        return this.connection(role, this.address, this.port);
    }

    /** How a container on the hub reaches it as `role`: through the hub's Docker network. */
    onHub(role: RedisRole): QueueConnection {
        return this.connection(role, pulumi.output(HUB_REDIS_ALIAS), HUB_REDIS_TLS_PORT);
    }

    private connection(role: RedisRole, host: pulumi.Output<string>, port: number): QueueConnection {
        const url = pulumi.all([this.passwords[role], host]).apply(([p, h]) => `rediss://${role}:${p}@${urlHost(h)}:${port}/0`);
        return { url: pulumi.secret(url), caPem: this.caPem };
    }
}

/** What a host runs, by its role in the stack. */
export type AppRole =
    /** No fleet: its own proxy, api, Redis, workers and Ollama, as every host before fleets. */
    | { readonly kind: "island" }
    /** The fleet's hub: the endpoint (proxy, both apis, the key service) and the queue; workers and Ollama only with a GPU. */
    | { readonly kind: "hub"; readonly queue: FleetQueue; readonly workers: boolean }
    /** A worker host: Ollama and the slots' workers, dialling the hub's queue; nothing published. */
    | { readonly kind: "worker"; readonly queue: FleetQueue };

export const ISLAND: AppRole = { kind: "island" };

/**
 * Each host with its role, the hub first when the stack is a fleet (config rules.ts: the hub is one
 * of the hosts, and a fleet has a CA); else every host an island, in the stack's order.
 */
export function appRoles<H extends GpuHost>(cfg: FleetConfig, hosts: readonly H[], ca: CertificateAuthority | undefined): { host: H; role: AppRole }[] {
    if (cfg.fleet.hub === "") return hosts.map((host) => ({ host, role: ISLAND }));
    const hub = hosts.find((h) => h.name === cfg.fleet.hub);
    if (!hub || !ca) throw new Error(`appRoles: the fleet's hub "${cfg.fleet.hub}" must be one of the stack's hosts, and the stack needs its CA`);
    const queue = new FleetQueue("fleet-queue", { ca, address: cfg.fleet.redisAddress || hub.address, port: cfg.fleet.redisPort });
    return [
        { host: hub, role: { kind: "hub", queue, workers: hub.gpu } },
        ...hosts.filter((h) => h !== hub).map((host) => ({ host, role: { kind: "worker", queue } as AppRole })),
    ];
}
