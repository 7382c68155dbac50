// gpu-hosts:fleet: one endpoint and one durable queue for the whole stack (issue 24). Unset (no
// hub), every host is an island as before. With a hub, that host serves the stack's one endpoint and
// holds its queue (Redis, TLS only, reachable on redisPort by the worker hosts alone), and every
// other host runs only its workers and Ollama, dialling the hub's Redis. The rules that tie the
// section to the rest of the stack (the hub is a host of the stack, never spot, ...) are checkFleet
// in ../fleet.ts, which ../rules.ts runs with the cross-field rules.
import { ADDRESS_ALLOWED, isAddress, isCidr, withoutHostBits } from "../../validators";
import { defineKey } from "../schema";

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

/** Whether the stack is a fleet. */
export const isFleet = (cfg: FleetConfig): boolean => cfg.fleet.hub !== "";

/** A host's role in the fleet; undefined when the stack is no fleet. */
export function roleOf(cfg: FleetConfig, host: string): HostRole | undefined {
    if (!isFleet(cfg)) return undefined;
    return host === cfg.fleet.hub ? "hub" : "worker";
}

