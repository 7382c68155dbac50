// Who reaches what: the live and idle ports, and the CIDRs allowed to reach them (and SSH).
// gpu-hosts:apiPort, idlePort, operatorCidrs, apiCidrs, production. The rules that tie them to each
// other and to the enabled hosts are in ../rules.ts.
import { isCidr, withoutHostBits } from "../../validators";
import type { Reader } from "../reader";
import { defineKey } from "../schema";

/** The network section of the stack config. */
export interface NetworkConfig {
    /** Host port serving the live slot. */
    readonly apiPort: number;
    /** Host port serving the idle slot; only operatorCidrs reach it. */
    readonly idlePort: number;
    /** Who may reach SSH and the idle slot. */
    readonly operatorCidrs: readonly string[];
    /** Who may reach the live API port. */
    readonly apiCidrs: readonly string[];
    /** A production stack: SSH and the idle slot may only open to narrow operator CIDRs. */
    readonly production: boolean;
}

export const apiPort = defineKey<number>({
    key: "apiPort",
    schema: { type: "integer", description: "Host port serving the live slot.", default: 8000 },
    read: (r, raw, _ctx, fb) => r.int("apiPort", raw, fb, 1, 65535),
});

export const idlePort = defineKey<number>({
    key: "idlePort",
    schema: { type: "integer", description: "Host port serving the idle slot; reachable only from operatorCidrs.", default: 8001 },
    read: (r, raw, _ctx, fb) => r.int("idlePort", raw, fb, 1, 65535),
});

/** A list of CIDR blocks in canonical notation, each without host bits. */
function cidrList(r: Reader, key: string, raw: unknown, example: string, fallback: readonly string[]): readonly string[] {
    const list = r.list(key, raw, fallback, isCidr, `CIDR blocks, e.g. "${example}"`, false);
    for (const c of list) {
        const network = withoutHostBits(c);
        if (network) r.fail(key, `a list of CIDR blocks without host bits set (did you mean "${network}"?)`, c);
    }
    return list;
}

export const operatorCidrs = defineKey<readonly string[]>({
    key: "operatorCidrs",
    schema: {
        type: "array", items: { type: "string" },
        description: "CIDRs allowed to reach SSH and the idle slot on cloud hosts, and the idle slot on your own servers (ssh). Required when a cloud or an own server is enabled.",
        default: [],
    },
    read: (r, raw, _ctx, fb) => cidrList(r, "operatorCidrs", raw, "203.0.113.0/24", fb),
});

export const apiCidrs = defineKey<readonly string[]>({
    key: "apiCidrs",
    schema: { type: "array", items: { type: "string" }, description: "CIDRs allowed to reach the live API port on cloud hosts.", default: ["0.0.0.0/0"] },
    read: (r, raw, _ctx, fb) => cidrList(r, "apiCidrs", raw, "0.0.0.0/0", fb),
});

export const production = defineKey<boolean>({
    key: "production",
    schema: {
        type: "boolean",
        description: "A production stack. SSH and the idle slot may then open only to operatorCidrs no wider than an IPv4 /16 or an IPv6 /32.",
        default: false,
    },
    read: (r, raw, _ctx, fb) => r.bool("production", raw, fb),
});

export const NETWORK_KEYS = [apiPort, idlePort, operatorCidrs, apiCidrs, production] as const;
