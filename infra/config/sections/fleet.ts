// gpu-hosts:fleet: one endpoint and one durable queue for the whole stack (issue 24). Unset (no
// hub), every host is an island as before. With a hub, that host serves the stack's one endpoint and
// holds its queue (Redis, TLS only, reachable on redisPort by the worker hosts alone), and every
// other host runs only its workers and Ollama, dialling the hub's Redis. The rules that tie the
// section to the rest of the stack (the hub is a host of the stack, never spot, ...) are checkFleet
// below, which ../rules.ts runs with the cross-field rules.
import { LOCAL, NAMESPACE, PORTS, SSH } from "../../vocabulary";
import { ADDRESS_ALLOWED, isAddress, isCidr, isIp, withoutHostBits } from "../../validators";
import { isCloud } from "../../clouds";
import { deployedHosts, placementOf } from "../../clouds/placement";
import { Reader, show } from "../reader";
import { defineKey } from "../schema";
import type { StackConfig } from "..";

/** gpu-hosts:fleet. */
export interface FleetSettings {
    /** The host that serves the endpoint and holds the queue, by its name in the stack ("aws", "gcp-2", a server's name, "local"); "" for no fleet. */
    readonly hub: string;
    /** The hub's published Redis port (TLS only). */
    readonly redisPort: number;
    /** The address worker hosts dial to reach the hub's Redis (a private or VPN address); "" for the hub's own address. */
    readonly redisAddress: string;
    /** CIDR blocks allowed to the Redis port besides the worker hosts' own addresses (workers behind NAT, or named by DNS). */
    readonly redisCidrs: readonly string[];
    /** Size in GB of a cloud hub's Redis data disk, which outlives the VM. */
    readonly redisDiskGb: number;
}

export interface FleetConfig {
    readonly fleet: FleetSettings;
}

export const FLEET_DEFAULT: FleetSettings = { hub: "", redisPort: 6380, redisAddress: "", redisCidrs: [], redisDiskGb: 20 };

export const fleet = defineKey<FleetSettings>({
    key: "fleet",
    schema: {
        description: "Fleet mode {hub, redisPort, redisAddress, redisCidrs, redisDiskGb}: hub names the host (as the stack names it: \"local\", \"aws\", \"gcp-2\", a server's name) that serves the stack's one endpoint and holds its queue; every other host runs only workers and Ollama, which dial the hub's Redis over TLS on redisPort (default 6380), at redisAddress (default the hub's address), allowed from the worker hosts' addresses and redisCidrs. redisDiskGb (default 20) sizes a cloud hub's data disk. No hub (the default): every host is independent.",
        default: FLEET_DEFAULT,
    },
    read: (r, raw, _ctx, fb) => r.object("fleet", raw, fb, {
        // The names are checked against the stack's hosts in checkFleet, once every host is known.
        hub: (k, v, d) => (v === undefined ? d : typeof v === "string" ? v : (r.fail(k, "a host name of the stack, or \"\" for no fleet", v), d)),
        redisPort: (k, v, d) => r.int(k, v, d, 1, 65535),
        redisAddress: (k, v, d) => (v === undefined || v === "" ? d : isAddress(v) ? v : (r.fail(k, `${ADDRESS_ALLOWED}, or "" for the hub's address`, v), d)),
        redisCidrs: (k, v, d) => {
            const list = r.list(k, v, d, isCidr, "CIDR blocks, e.g. \"198.51.100.7/32\"", false);
            for (const c of list) {
                const network = withoutHostBits(c);
                if (network) r.fail(k, `a list of CIDR blocks without host bits set (did you mean "${network}"?)`, c);
            }
            return list;
        },
        redisDiskGb: (k, v, d) => r.int(k, v, d, 10, 16384),
    }),
});

/** The role of each host in a fleet. */
export type HostRole = "hub" | "worker";

/** One host of the stack, as the fleet's rules see it. */
export interface StackHost {
    readonly name: string;
    readonly kind: string;
    /** The address the stack knows before any machine exists (own servers, the local engine); undefined for a cloud VM. */
    readonly address?: string;
    /** Whether it has a GPU (cloud VMs always do). */
    readonly gpu: boolean;
}

/** Every host the stack deploys, in the order the program creates them. */
export function stackHosts(cfg: Pick<StackConfig, "clouds" | "ssh" | "local" | "placements"> & StackConfig): StackHost[] {
    const hosts: StackHost[] = [];
    for (const kind of cfg.clouds) {
        if (kind === LOCAL) hosts.push({ name: LOCAL, kind, address: cfg.local.bindAddress, gpu: cfg.local.gpu });
        else if (kind === SSH) hosts.push(...cfg.ssh.hosts.map((h) => ({ name: h.name, kind, address: h.address, gpu: h.gpu })));
        else if (isCloud(kind)) hosts.push(...deployedHosts(cfg).filter((h) => h.cloud === kind).map((h) => ({ name: h.name, kind, gpu: true })));
    }
    return hosts;
}

/** Whether the stack is a fleet. */
export const isFleet = (cfg: Pick<StackConfig, "fleet">): boolean => cfg.fleet.hub !== "";

/** A host's role in the fleet; undefined when the stack is no fleet. */
export function roleOf(cfg: Pick<StackConfig, "fleet">, host: string): HostRole | undefined {
    if (!isFleet(cfg)) return undefined;
    return host === cfg.fleet.hub ? "hub" : "worker";
}

/** Whether an address can stand for a worker host in the hub's firewall: a routable IP (a /32 or /128 of it). */
export const firewallableAddress = (address: string | undefined): boolean =>
    address !== undefined && isIp(address) && !/^(127\.|::1$|0\.0\.0\.0$|::$)/.test(address);

/** The fleet's rules against the rest of the stack; every problem into `r`. */
export function checkFleet(r: Reader, cfg: StackConfig): void {
    const f = cfg.fleet;
    if (!isFleet(cfg)) return;
    const hosts = stackHosts(cfg);
    const hub = hosts.find((h) => h.name === f.hub);
    if (!hub) {
        r.fail("fleet.hub", `the name of a host the stack deploys (${hosts.map((h) => show(h.name)).join(", ") || "none"}), or "" for no fleet`, f.hub);
        return;
    }
    // The queue lives on the hub: a reclaimed spot VM is deleted with its disk's attachment and every
    // connection, and a fleet without its hub takes no job.
    if (isCloud(hub.kind)) {
        const placement = placementOf(cfg, { name: hub.name, cloud: hub.kind });
        if (placement.spot) {
            r.fail("fleet.hub", `a host on on-demand capacity: ${show(hub.name)} runs on spot (${NAMESPACE}:spot or its placement), and a reclaimed hub would stop the whole fleet's queue; ` +
                `choose another host, or set ${hub.kind}'s placement to on-demand`, f.hub);
        }
    }
    const workers = hosts.filter((h) => h.name !== hub.name);
    if (workers.length === 0 && !hub.gpu) {
        r.fail("fleet.hub", `a host with a GPU when it is the stack's only host (a fleet needs a host that runs workers; ${show(hub.name)} has none)`, f.hub);
    }
    // The port is published on the hub beside the proxy's.
    const taken: [string, number][] = [[`${NAMESPACE}:apiPort`, cfg.apiPort], [`${NAMESPACE}:idlePort`, cfg.idlePort], ["SSH", PORTS.ssh], ["Ollama", PORTS.ollama]];
    const server = cfg.ssh.hosts.find((h) => h.name === hub.name);
    if (hub.kind === SSH && server) taken.push([`the hub's SSH port (${NAMESPACE}:ssh)`, server.port]);
    if (cfg.tls.mode === "acme") taken.push(["the ACME challenge's", PORTS.acmeChallenge]);
    const clash = taken.find(([, p]) => p === f.redisPort);
    if (clash) r.fail("fleet.redisPort", `a port other than ${clash[0]} (${clash[1]}) on the hub`, f.redisPort);
    // Workers dial the hub: the local engine's address is loopback, which no other host reaches.
    if (hub.kind === LOCAL && workers.length > 0 && f.redisAddress === "") {
        r.fail("fleet.redisAddress", `the address the other hosts dial to reach the hub when the hub is "${LOCAL}" (its own address, ${show(hub.address)}, is only this machine's)`, f.redisAddress);
    }
    // The hub's firewall opens the Redis port to each worker host's IP; one known only by a DNS name
    // or by loopback has none to open to, so its egress address must be given.
    const unknown = workers.filter((w) => w.address !== undefined && !firewallableAddress(w.address));
    if (unknown.length > 0 && f.redisCidrs.length === 0) {
        r.fail("fleet.redisCidrs", `the CIDR blocks the worker hosts ${unknown.map((w) => `${show(w.name)} (${show(w.address)})`).join(", ")} connect from ` +
            "(their addresses are no IP the hub's firewall can open the Redis port to)", f.redisCidrs);
    }
}
