// Where each cloud host runs: the candidates the operator accepts (gpu-hosts:<cloud>.candidates, or
// the one placement of the cloud's section when there are none; every host of a cloud shares them),
// and the one each host uses (the placement `npm run deploy` recorded in gpu-hosts:placements under
// the host's name, else the first candidate). Pure: the program
// and the deploy driver (scripts/lib/deploy.ts) read the same answers from the same config.
import type { CloudName } from "../vocabulary";
import type { Recorded, StackConfig } from "../config";
import { cloudHostName } from "../contract/names";
import { PlacementOf, driver, isCloud } from ".";
import type { PriceQuote } from "./types";

/** One cloud host of the stack: its name ("aws", "aws-2") and its cloud. */
export interface CloudHost {
    readonly name: string;
    readonly cloud: CloudName;
}

/** The hosts gpu-hosts:<cloud>.count gives a cloud: "<cloud>", "<cloud>-2", ... */
export function hostsOfCloud(cfg: StackConfig, cloud: CloudName): CloudHost[] {
    const count = (cfg[cloud] as { readonly count: number }).count;
    return Array.from({ length: count }, (_, i) => ({ name: cloudHostName(cloud, i + 1), cloud }));
}

/** Every cloud host of the stack, in gpu-hosts:clouds order, skipped ones included. */
export function cloudHosts(cfg: StackConfig): CloudHost[] {
    return cfg.clouds.filter(isCloud).flatMap((c) => hostsOfCloud(cfg, c));
}

/** The cloud hosts the stack deploys: all but those the driver skipped (fallback.otherClouds). */
export function deployedHosts(cfg: StackConfig): CloudHost[] {
    return cloudHosts(cfg).filter((h) => !cfg.placements.skipped.includes(h.name));
}

/** The placement `npm run deploy` recorded for a host (gpu-hosts:placements.<host>), or undefined. */
export function recordedPlacement(cfg: StackConfig, host: string): Recorded<PlacementOf<CloudName>> | undefined {
    return host === "skipped" ? undefined : cfg.placements[host] as Recorded<PlacementOf<CloudName>> | undefined;
}

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

/** Where a cloud host runs: its recorded placement, else its cloud's first candidate. */
export function placementOf(cfg: StackConfig, host: CloudHost): CloudPlacement {
    const recorded = recordedPlacement(cfg, host.name);
    if (!recorded) return candidatesOf(cfg, host.cloud)[0];
    return { cloud: host.cloud, ...driver(host.cloud).bare(recorded) } as CloudPlacement;
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
