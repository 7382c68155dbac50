// Where each cloud host runs: the candidates the operator accepts (gpu-hosts:<cloud>.candidates, or
// the one placement of the cloud's section when there are none), and the one in use (the placement
// `npm run deploy` recorded in gpu-hosts:placements, else the first candidate). Pure: the program
// and the deploy driver (scripts/lib/deploy.ts) read the same answers from the same config.
import type { CloudName } from "../vocabulary";
import type { StackConfig } from "../config";
import { PlacementOf, driver, isCloud } from ".";
import type { PriceQuote } from "./types";

/** A placement with its cloud. */
export type CloudPlacement = { readonly [C in CloudName]: { readonly cloud: C } & PlacementOf<C> }[CloudName];

/** The placement without its cloud and history: what the config stores. */
export function bare(p: CloudPlacement): PlacementOf<CloudName> {
    const { cloud, ...rest } = p;
    return driver(cloud).bare(rest) as PlacementOf<CloudName>;
}

/** The cloud's candidates in the operator's order; never empty. */
export function candidatesOf(cfg: StackConfig, cloud: CloudName): CloudPlacement[] {
    return driver(cloud).candidates(cfg[cloud], cfg.spot).map((p) => ({ cloud, ...p }) as CloudPlacement);
}

/** Where the cloud's host runs: the recorded placement, else the first candidate. */
export function placementOf(cfg: StackConfig, cloud: CloudName): CloudPlacement {
    const recorded = cfg.placements[cloud];
    if (!recorded) return candidatesOf(cfg, cloud)[0];
    return { cloud, ...driver(cloud).bare(recorded) } as CloudPlacement;
}

/** The clouds of `clouds` the stack deploys: all but those the driver skipped (fallback.otherClouds). */
export function deployedClouds(cfg: StackConfig): CloudName[] {
    return cfg.clouds.filter(isCloud).filter((c) => !cfg.placements.skipped.includes(c));
}

/** Equality of placements, field by field. */
export function samePlacement(a: CloudPlacement, b: CloudPlacement): boolean {
    return a.cloud === b.cloud && JSON.stringify(bare(a)) === JSON.stringify(bare(b));
}

/** "us-east-1b g4dn.xlarge spot", as tables and the recorded history show a placement. */
export function describePlacement(p: CloudPlacement): string {
    return driver(p.cloud).describe(p);
}

/** The catalog's price of a placement, or undefined where it has none. */
export function priceOfPlacement(p: CloudPlacement): PriceQuote | undefined {
    return driver(p.cloud).price(p);
}

/** The same placement on on-demand capacity. */
export function onDemand(p: CloudPlacement): CloudPlacement {
    return { ...p, spot: false };
}

/**
 * The order the driver tries a cloud's candidates in: the operator's, or by price (cheapest first,
 * unpriced last, the operator's order among equals) with `cheapest`; with `spotToOnDemand`, each spot
 * candidate is followed by the same placement on-demand unless the list has it already.
 */
export function tryOrder(candidates: readonly CloudPlacement[], o: { cheapest: boolean; spotToOnDemand: boolean }): CloudPlacement[] {
    const listed = [...candidates];
    const expanded: CloudPlacement[] = [];
    for (const p of listed) {
        expanded.push(p);
        if (o.spotToOnDemand && p.spot) {
            const twin = onDemand(p);
            if (!listed.some((q) => samePlacement(q, twin)) && !expanded.some((q) => samePlacement(q, twin))) expanded.push(twin);
        }
    }
    if (!o.cheapest) return expanded;
    const price = (p: CloudPlacement) => priceOfPlacement(p)?.usdPerHour ?? Number.POSITIVE_INFINITY;
    return expanded.map((p, i) => ({ p, i })).sort((a, b) => price(a.p) - price(b.p) || a.i - b.i).map(({ p }) => p);
}
