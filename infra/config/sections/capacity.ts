// Where cloud hosts may go when a cloud has no capacity: gpu-hosts:fallback (what `npm run deploy`
// may do) and gpu-hosts:placements (what it chose; it writes this key).
import { NAMESPACE } from "../../vocabulary";
import { Reader, show } from "../reader";
import { ConfigKey, PlacementReading, defineKey } from "../schema";

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
    /** When a cloud's candidates run out, deploy without its host and let the other clouds serve. Defaults to false. */
    readonly otherClouds: boolean;
}

/** A placement the deploy driver chose, and the failures that led to it ("<placement>: <code>"). */
export type Recorded<P> = P & { readonly tried: readonly string[] };

/** gpu-hosts:placements, written by `npm run deploy`: the placement of each cloud host it moved, and skipped clouds. */
export interface PlacementsConfig {
    /** Each cloud's recorded placement (a Recorded placement of that cloud), by cloud name. */
    readonly [cloud: string]: unknown;
    /** Clouds whose candidates ran out, deployed without (only with fallback.otherClouds). */
    readonly skipped: readonly string[];
}

export const fallback = defineKey<FallbackConfig>({
    key: "fallback",
    schema: {
        description: "What npm run deploy may do on a capacity or quota error {candidates, spotToOnDemand, otherClouds}: move the host to its next candidate (default true); retry a failed spot placement on-demand, at about 3x the price (default false); deploy without a cloud whose candidates ran out (default false).",
        default: { candidates: true, spotToOnDemand: false, otherClouds: false },
    },
    read: (r, raw, _ctx, fb) => r.object("fallback", raw, fb, {
        candidates: (k, v, f) => r.bool(k, v, f),
        spotToOnDemand: (k, v, f) => r.bool(k, v, f),
        otherClouds: (k, v, f) => r.bool(k, v, f),
    }),
});

/**
 * gpu-hosts:placements: {<cloud>?: placement + tried, skipped?: [cloud]}. A recorded placement is read
 * like a candidate, against its cloud's section (`sections`, read first) and gpu-hosts:spot.
 */
export function placementsKey(clouds: readonly PlacementReading[], sections: (cloud: string) => unknown): ConfigKey<PlacementsConfig> {
    const names = clouds.map((c) => c.cloud);
    return defineKey<PlacementsConfig>({
        key: "placements",
        schema: {
            description: `Written by npm run deploy: where each cloud host was placed {${names.map((n) => `${n}?`).join(", ")}: placement + tried}, and skipped clouds. pulumi up uses it; remove a cloud's entry to start again from its first candidate.`,
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
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        r.fail("placements", `an object {${names.map((n) => `${n}?`).join(", ")}, skipped?} (npm run deploy writes it)`, v);
        return fb;
    }
    const given = v as Record<string, unknown>;
    for (const k of Object.keys(given)) {
        if (![...names, "skipped"].includes(k)) r.problems.push(`${NAMESPACE}:placements.${k} is not a known field; known fields: ${[...names, "skipped"].join(", ")}`);
    }
    const out: Record<string, unknown> = {};
    for (const c of clouds) {
        if (given[c.cloud] === undefined) continue;
        const p = c.entry(r, `placements.${c.cloud}`, given[c.cloud], sections(c.cloud), spot, enabled(c.cloud), ["tried"]);
        const tried = r.list(`placements.${c.cloud}.tried`, (given[c.cloud] as Record<string, unknown>)?.tried, [],
            (x): x is string => typeof x === "string", "strings", false);
        if (p) out[c.cloud] = { ...p, tried };
    }
    const skipped = r.list("placements.skipped", given.skipped, [], (x): x is string => names.includes(x as string), names.map(show).join(", "), false);
    const served = stackClouds.filter((c) => !skipped.includes(c));
    if (skipped.length > 0 && served.length === 0) {
        r.fail("placements.skipped", `a list that leaves at least one host of ${NAMESPACE}:clouds to deploy`, skipped);
    }
    return { ...out, skipped };
}
