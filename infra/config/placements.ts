// Reading a cloud placement (an entry of gpu-hosts:<cloud>.candidates, or a recorded one in
// gpu-hosts:placements): what every cloud's entries share. Each cloud names its fields and reads
// them (infra/clouds/<cloud>/section.ts); this checks the shape, unknown fields, the required
// location and the market.
import { NAMESPACE } from "../vocabulary";
import type { Reader } from "./reader";
import type { PlacementReading, ReadContext } from "./schema";

/**
 * The most hosts one cloud may have (gpu-hosts:<cloud>.count). A guard against a typo (20 for 2)
 * starting a fleet of GPU VMs; every name it allows ("azure-10") stays a valid host name everywhere
 * a host's name goes (test/unit/config.test.ts). Raise it here if a stack needs more.
 */
export const MAX_HOSTS_PER_CLOUD = 10;

/** A cloud's placement entries: its fields, and how to read them. */
export interface PlacementFields<S, P> {
    readonly cloud: string;
    /** The entry's shape, for messages: "{region, zone?, instanceType?, spot?}". */
    readonly shape: string;
    /** The field that says where (required): "region", "zone", "location". */
    readonly where: string;
    /** Every field an entry may have, `spot` included. */
    readonly fields: readonly string[];
    /** The cloud's own fields of entry `e` at `at` (omitted ones from `section`), checked against the catalog when `check`. */
    read(r: Reader, at: string, e: Readonly<Record<string, unknown>>, section: S, check: boolean): Omit<P, "spot">;
}

/** How to read a cloud's placements, from its fields. */
export function placementReading<S, P extends { readonly spot: boolean }>(f: PlacementFields<S, P>): PlacementReading<S, P> {
    return {
        cloud: f.cloud,
        shape: f.shape,
        entry(r, at, v, section, spot, check, extra = []) {
            if (typeof v !== "object" || v === null || Array.isArray(v)) {
                r.fail(at, `an object ${f.shape}`, v);
                return undefined;
            }
            const e = v as Record<string, unknown>;
            for (const k of Object.keys(e)) {
                if (!f.fields.includes(k) && !extra.includes(k)) r.problems.push(`${NAMESPACE}:${at}.${k} is not a known field; known fields: ${[...f.fields, ...extra].join(", ")}`);
            }
            if (e[f.where] === undefined) {
                r.problems.push(`${NAMESPACE}:${at}.${f.where} is required`);
                return undefined;
            }
            const market = r.bool(`${at}.spot`, e.spot, spot);
            return { ...f.read(r, at, e, section, check), spot: market } as P;
        },
    };
}

/** The candidates of a cloud's section (gpu-hosts:<cloud>.candidates), resolved; repeats are a problem (each would fail the same way). */
export function readCandidates<S, P>(r: Reader, reading: PlacementReading<S, P>, list: unknown, section: S, spot: boolean, check: boolean): P[] {
    const cloud = reading.cloud;
    const out: P[] = [];
    if (list === undefined) return out;
    if (!Array.isArray(list)) {
        r.fail(`${cloud}.candidates`, `a list of placements ${reading.shape}`, list);
        return out;
    }
    list.forEach((v, i) => {
        const p = reading.entry(r, `${cloud}.candidates[${i}]`, v, section, spot, check);
        if (p) out.push(p);
    });
    const keys = out.map((p) => JSON.stringify(p));
    const repeated = out.filter((_, i) => keys.indexOf(keys[i]) !== i);
    if (repeated.length) r.fail(`${cloud}.candidates`, "a list without repeats", repeated.length === 1 ? repeated[0] : repeated);
    return out;
}

/** What every cloud's section has beside its own fields. */
export interface CloudSectionBase<P> {
    /** The placements accepted, in order, every field filled; [] is the section's one placement. */
    readonly candidates: readonly P[];
    /** How many hosts the cloud has: "<cloud>", "<cloud>-2", ... (infra/contract/names.ts cloudHostName). Defaults to 1. */
    readonly count: number;
}

/**
 * A cloud's section (gpu-hosts:<cloud>): its own fields and its count, then its candidates, read once
 * the fields (an entry's defaults) are known.
 */
export function readCloudSection<S extends CloudSectionBase<P>, P>(
    r: Reader, raw: unknown, fallback: S, ctx: ReadContext, reading: PlacementReading<S, P>,
    fields: { [K in Exclude<keyof S, "candidates" | "count">]: (key: string, v: unknown, fb: S[K]) => S[K] },
): S {
    let list: unknown;
    const section = r.object(reading.cloud, raw, fallback, {
        ...fields,
        candidates: (_k: string, v: unknown, f: readonly P[]) => ((list = v), f),
        count: (k: string, v: unknown, f: number) => r.int(k, v, f, 1, MAX_HOSTS_PER_CLOUD),
    } as { [K in keyof S]: (key: string, v: unknown, fb: S[K]) => S[K] });
    return { ...section, candidates: readCandidates(r, reading, list, section, ctx.spot, ctx.enabled(reading.cloud)) };
}
