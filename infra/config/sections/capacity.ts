// Where cloud hosts may go when a cloud has no capacity: gpu-hosts:fallback (what `npm run deploy`
// may do) and gpu-hosts:placements (what it chose; it writes this key).
import { NAMESPACE } from "../../vocabulary";
import type { Reader } from "../reader";
import { ConfigKey, PlacementReading, defineKey } from "../schema";
import { MAX_HOSTS_PER_CLOUD } from "../placements";
import { cloudHostName, parseCloudHostName } from "../../contract/names";

/**
 * What `npm run deploy` may do when a VM fails for capacity or quota. Each default is the choice
 * that never surprises the bill or the topology: move along the candidates the operator listed
 * (they accepted each one), but never swap a spot machine for a dearer on-demand one, and never
 * drop a cloud from the stack, unless the stack says so.
 */
export interface FallbackConfig {
    /** Move a host to its next candidate. Defaults to true. */
    readonly candidates: boolean;
    /** After a spot candidate fails, try the same placement on-demand (about 3x the price). Defaults to false. */
    readonly spotToOnDemand: boolean;
    /** When a cloud host's candidates run out, deploy without it and let the other hosts serve. Defaults to false. */
    readonly otherClouds: boolean;
}

/** A placement the deploy driver chose, and the failures that led to it ("<placement>: <code>"). */
export type Recorded<P> = P & { readonly tried: readonly string[] };

/** gpu-hosts:placements, written by `npm run deploy`: the placement of each cloud host it moved, and skipped hosts. */
export interface PlacementsConfig {
    /** Each cloud host's recorded placement (a Recorded placement of its cloud), by host name: "aws", "aws-2". */
    readonly [host: string]: unknown;
    /** Cloud hosts whose candidates ran out, deployed without (only with fallback.otherClouds). */
    readonly skipped: readonly string[];
}

/** The names a cloud's hosts may have, as messages list them: "aws, aws-2 ... aws-10". */
export const hostNamesText = (cloud: string): string => `${cloud}, ${cloud}-2 ... ${cloud}-${MAX_HOSTS_PER_CLOUD}`;

export const fallback = defineKey<FallbackConfig>({
    key: "fallback",
    schema: {
        description: "What npm run deploy may do on a capacity or quota error {candidates, spotToOnDemand, otherClouds}: move the host to its next candidate (default true); retry a failed spot placement on-demand, at about 3x the price (default false); deploy without a cloud host whose candidates ran out (default false).",
        default: { candidates: true, spotToOnDemand: false, otherClouds: false },
    },
    read: (r, raw, _ctx, fb) => r.object("fallback", raw, fb, {
        candidates: (k, v, f) => r.bool(k, v, f),
        spotToOnDemand: (k, v, f) => r.bool(k, v, f),
        otherClouds: (k, v, f) => r.bool(k, v, f),
    }),
});

/**
 * gpu-hosts:placements: {<host>?: placement + tried, skipped?: [host]}, keyed by cloud host name
 * ("aws", "aws-2"; a stack of one host per cloud names its hosts as its clouds, so placements written
 * before counts existed read the same). A recorded placement is read like a candidate, against its
 * cloud's section (`sections`, read first) and gpu-hosts:spot.
 */
export function placementsKey(clouds: readonly PlacementReading[], sections: (cloud: string) => unknown): ConfigKey<PlacementsConfig> {
    const names = clouds.map((c) => c.cloud);
    return defineKey<PlacementsConfig>({
        key: "placements",
        schema: {
            description: `Written by npm run deploy: where each cloud host was placed {<host>?: placement + tried}, by host name (${names.join(", ")}; ${names[0]}-2 for the second host of gpu-hosts:${names[0]}.count), and skipped hosts. pulumi up uses it; remove a host's entry to start again from its first candidate.`,
            default: { skipped: [] },
        },
        read: (r, raw, ctx, fb) => readPlacements(r, raw, ctx.clouds, ctx.spot, ctx.enabled, clouds, sections, fb),
    });
}

function readPlacements(
    r: Reader, v: unknown, stackClouds: readonly string[], spot: boolean, enabled: (k: string) => boolean,
    clouds: readonly PlacementReading[], sections: (cloud: string) => unknown, fb: PlacementsConfig,
): PlacementsConfig {
    const names = clouds.map((c) => c.cloud);
    const known = `${names.map(hostNamesText).join(", ")}, skipped`;
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        r.fail("placements", `an object {<host>?, skipped?} whose hosts are ${names.map(hostNamesText).join(", ")} (npm run deploy writes it)`, v);
        return fb;
    }
    const given = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    /** The number of hosts a cloud has, 0 when it is not in gpu-hosts:clouds. */
    const countOf = (cloud: string) => (enabled(cloud) ? (sections(cloud) as { count?: number } | undefined)?.count ?? 1 : 0);
    const hostOf = (k: string) => {
        const at = parseCloudHostName(k, names);
        return at && at.n <= MAX_HOSTS_PER_CLOUD ? at : undefined;
    };
    for (const k of Object.keys(given)) {
        if (k !== "skipped" && !hostOf(k)) r.problems.push(`${NAMESPACE}:placements.${k} is not a known field; known fields: ${known}`);
    }
    for (const host of Object.keys(given)) {
        const at = host === "skipped" ? undefined : hostOf(host);
        if (!at) continue;
        const c = clouds.find((x) => x.cloud === at.cloud)!;
        // An entry of a host the stack does not have (its cloud left gpu-hosts:clouds, or its count
        // went down) is kept as deploy wrote it, unchecked against the catalog: it counts again if the host comes back.
        const p = c.entry(r, `placements.${host}`, given[host], sections(c.cloud), spot, at.n <= countOf(c.cloud), ["tried"]);
        const tried = r.list(`placements.${host}.tried`, (given[host] as Record<string, unknown>)?.tried, [],
            (x): x is string => typeof x === "string", "strings", false);
        if (p) out[host] = { ...p, tried };
    }
    const isHost = (x: unknown): x is string => typeof x === "string" && hostOf(x) !== undefined;
    const skipped = r.list("placements.skipped", given.skipped, [], isHost, `cloud host names (${names.map(hostNamesText).join(", ")})`, false);
    const hosts = stackClouds.flatMap((k) => {
        const n = names.includes(k) ? countOf(k) : 1;
        return Array.from({ length: n }, (_, i) => cloudHostName(k, i + 1));
    });
    if (skipped.length > 0 && hosts.every((h) => skipped.includes(h))) {
        r.fail("placements.skipped", `a list that leaves at least one host of ${NAMESPACE}:clouds to deploy`, skipped);
    }
    return { ...out, skipped };
}
