// What a GPU machine costs per hour, for `npm run status` (cost since creation) and `npm run deploy
// --cheapest` (candidate order). On-demand: the clouds' published list prices for Linux, read on
// PRICES_AS_OF (each cloud's catalog.ts holds its own, with the source). Spot: indicative only. Spot
// prices move (AWS by zone and hour, Azure by region and day, GCP up to once a month), so each cloud
// keeps the typical discount its spot page quotes for these families, applied to the on-demand price,
// and says "indicative" wherever shown. A machine a catalog has no price for shows none; nothing
// guesses one.
import type { PriceQuote } from "./types";

export const PRICES_AS_OF = "2026-12-01";

export function round4(n: number): number {
    return Math.round(n * 10_000) / 10_000;
}

/** A quote from an on-demand price: as is, or times the cloud's typical spot discount (indicative). */
export function quote(onDemand: number | undefined, spot: boolean, spotFactor: number, source: string): PriceQuote | undefined {
    if (onDemand === undefined) return undefined;
    return { usdPerHour: spot ? round4(onDemand * spotFactor) : onDemand, indicative: spot, source, asOf: PRICES_AS_OF };
}
