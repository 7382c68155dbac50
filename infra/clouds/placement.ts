// Where each cloud host runs: the candidates the operator accepts (gpu-hosts:<cloud>.candidates, or
// the one placement of the cloud's section when there are none), and the one in use (the placement
// `npm run deploy` recorded in gpu-hosts:placements, else the first candidate). Pure: the program
// and the deploy driver (scripts/lib/deploy.ts) read the same answers from the same config.
import { AwsPlacement, AzurePlacement, GcpPlacement, StackConfig } from "../config";
import { CloudName, PriceQuote, priceOf } from "./catalog";

/** A placement with its cloud. */
export type CloudPlacement =
    | ({ readonly cloud: "aws" } & AwsPlacement)
    | ({ readonly cloud: "gcp" } & GcpPlacement)
    | ({ readonly cloud: "azure" } & AzurePlacement);

export const CLOUDS: readonly CloudName[] = ["aws", "gcp", "azure"];

export function isCloud(kind: string): kind is CloudName {
    return (CLOUDS as readonly string[]).includes(kind);
}

/** The placement without its cloud and history: what the config stores. */
export function bare(p: CloudPlacement): AwsPlacement | GcpPlacement | AzurePlacement {
    switch (p.cloud) {
        case "aws":
            return { region: p.region, zone: p.zone, instanceType: p.instanceType, spot: p.spot };
        case "gcp":
            return { zone: p.zone, machineType: p.machineType, gpuType: p.gpuType, spot: p.spot };
        case "azure":
            return { location: p.location, vmSize: p.vmSize, spot: p.spot };
    }
}

/** The cloud's candidates in the operator's order; never empty. */
export function candidatesOf(cfg: StackConfig, cloud: CloudName): CloudPlacement[] {
    switch (cloud) {
        case "aws": {
            const list = cfg.aws.candidates.length ? cfg.aws.candidates : [{ region: cfg.aws.region, zone: "", instanceType: cfg.aws.instanceType, spot: cfg.spot }];
            return list.map((p) => ({ cloud, ...p }));
        }
        case "gcp": {
            const g = cfg.gcp;
            const list = g.candidates.length ? g.candidates : [{ zone: g.zone, machineType: g.machineType, gpuType: g.gpuType, spot: cfg.spot }];
            return list.map((p) => ({ cloud, ...p }));
        }
        case "azure": {
            const list = cfg.azure.candidates.length ? cfg.azure.candidates : [{ location: cfg.azure.location, vmSize: cfg.azure.vmSize, spot: cfg.spot }];
            return list.map((p) => ({ cloud, ...p }));
        }
    }
}

/** Where the cloud's host runs: the recorded placement, else the first candidate. */
export function placementOf(cfg: StackConfig, cloud: CloudName): CloudPlacement {
    const recorded = cfg.placements[cloud];
    if (!recorded) return candidatesOf(cfg, cloud)[0];
    return { cloud, ...bare({ cloud, ...recorded } as CloudPlacement) } as CloudPlacement;
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
    const market = p.spot ? "spot" : "on-demand";
    switch (p.cloud) {
        case "aws":
            return `${p.zone || `${p.region} (any zone)`} ${p.instanceType} ${market}`;
        case "gcp":
            return `${p.zone} ${p.machineType}${p.machineType.startsWith("n1-") ? `+${p.gpuType}` : ""} ${market}`;
        case "azure":
            return `${p.location} ${p.vmSize} ${market}`;
    }
}

/** The catalog's price of a placement, or undefined where it has none. */
export function priceOfPlacement(p: CloudPlacement): PriceQuote | undefined {
    switch (p.cloud) {
        case "aws":
            return priceOf("aws", p.region, p.instanceType, p.spot);
        case "gcp":
            return priceOf("gcp", p.zone, p.machineType, p.spot, p.gpuType);
        case "azure":
            return priceOf("azure", p.location, p.vmSize, p.spot);
    }
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
