// What GCP offers that this project supports: GPU machine shapes, zone names, and prices.
import { quote, round4 } from "../prices";
import type { GpuModel, PriceQuote } from "../types";

/** GCP accelerator types attachable to N1 machines. */
export const GCP_N1_ACCELERATORS: Record<string, GpuModel> = { "nvidia-tesla-t4": "NVIDIA T4" };

/**
 * GCP shapes: N1 needs an attached accelerator (T4); G2 comes with its L4s built in.
 * https://cloud.google.com/compute/docs/gpus#gpu-models
 */
export function gcpGpu(machineType: string, gpuType: string | undefined): GpuModel | undefined {
    if (/^g2-standard-(4|8|12|16|24|32|48|96)$/.test(machineType)) return "NVIDIA L4";
    if (/^n1-(standard|highmem)-(2|4|8|16|32)$/.test(machineType) && gpuType) return GCP_N1_ACCELERATORS[gpuType];
    return undefined;
}
export const GCP_ALLOWED = "an n1-standard-N or n1-highmem-N machine with gpuType \"nvidia-tesla-t4\", or a g2-standard-N machine (L4)";

export const GCP_ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
export const MACHINE_TYPE = /^[a-z0-9-]+$/;
export const GPU_TYPE = /^[a-z0-9-]*$/;
export const GCP_PROJECT = /^([a-z][a-z0-9-]{4,28}[a-z0-9])?$/;

/** The GCP region a zone sits in: "us-central1-a" -> "us-central1". */
export function gcpRegion(zone: string): string {
    return zone.replace(/-[a-z]$/, "");
}

/** "n1-standard-4+nvidia-tesla-t4" for an N1 machine, the machine type alone for a G2. */
export function describeMachine(machineType: string, gpuType: string): string {
    return `${machineType}${machineType.startsWith("n1-") ? `+${gpuType}` : ""}`;
}

export const PRICE_SOURCE = "https://cloud.google.com/compute/vm-instance-pricing and https://cloud.google.com/compute/gpus-pricing (on-demand); spot indicative from https://cloud.google.com/spot-vms/pricing";
/** The share of the on-demand price a spot machine of these families typically costs (indicative). */
export const SPOT_INDICATIVE_FACTOR = 0.3;

/** GCP: the machine's price plus its attached T4's (N1), or the G2 machine's (L4 included). */
const N1_STANDARD_HOURLY = 0.0475; // per vCPU-sized unit: n1-standard-N costs N x this in us-central1
const T4_HOURLY = 0.35;
const US_CENTRAL1_PRICES: Readonly<Record<string, number>> = {
    ...Object.fromEntries([2, 4, 8, 16, 32].map((n) => [`n1-standard-${n}+nvidia-tesla-t4`, round4(n * N1_STANDARD_HOURLY + T4_HOURLY)])),
    "g2-standard-4": 0.7068, "g2-standard-8": 0.8536, "g2-standard-12": 1.0003, "g2-standard-16": 1.1470, "g2-standard-24": 2.0006,
    "g2-standard-32": 1.7340, "g2-standard-48": 4.0012, "g2-standard-96": 8.0024,
};
const ON_DEMAND: Readonly<Record<string, Readonly<Record<string, number>>>> = { "us-central1": US_CENTRAL1_PRICES };

/** The price of a machine (with its N1 accelerator) in a zone or region, or undefined where the catalog has none. */
export function gcpPrice(zoneOrRegion: string, machineType: string, gpuType: string, spot: boolean): PriceQuote | undefined {
    const region = GCP_ZONE.test(zoneOrRegion) ? gcpRegion(zoneOrRegion) : zoneOrRegion;
    const key = machineType.startsWith("n1-") ? `${machineType}+${gpuType}` : machineType;
    return quote(ON_DEMAND[region]?.[key], spot, SPOT_INDICATIVE_FACTOR, PRICE_SOURCE);
}
