// gpu-hosts:fleet against the rest of the stack (its key and reader are in ./sections/fleet.ts):
// the hub is a host the stack deploys, never on spot capacity, with a Redis port of its own, an
// address the workers can dial, and a firewall source for every worker host. ./rules.ts runs
// checkFleet with the other cross-field rules; the inventory and the roles read stackHosts.
import { LOCAL, NAMESPACE, PORTS, SSH } from "../vocabulary";
import { isIp } from "../validators";
import { isCloud } from "../clouds";
import { deployedHosts, placementOf } from "../clouds/placement";
import { Reader, show } from "./reader";
import { isFleet } from "./sections/fleet";
import type { StackConfig } from ".";

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
export function stackHosts(cfg: StackConfig): StackHost[] {
    const hosts: StackHost[] = [];
    for (const kind of cfg.clouds) {
        if (kind === LOCAL) hosts.push({ name: LOCAL, kind, address: cfg.local.bindAddress, gpu: cfg.local.gpu });
        else if (kind === SSH) hosts.push(...cfg.ssh.hosts.map((h) => ({ name: h.name, kind, address: h.address, gpu: h.gpu })));
        else if (isCloud(kind)) hosts.push(...deployedHosts(cfg).filter((h) => h.cloud === kind).map((h) => ({ name: h.name, kind, gpu: true })));
    }
    return hosts;
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
    const taken: [string, number][] = [[`${NAMESPACE}:apiPort`, cfg.apiPort], [`${NAMESPACE}:idlePort`, cfg.idlePort], ["SSH", PORTS.ssh], ["Ollama", PORTS.ollama],
        // Plain Redis's port stays unpublished on every host (infra/clouds/common.ts NEVER_EXPOSED_PORTS).
        ["plain Redis's", PORTS.redis]];
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
