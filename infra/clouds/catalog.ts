// What each cloud offers that this project supports: GPU instance shapes and location formats.
// Pure data plus lookups, used by config validation and by the host components.

export type CloudName = "aws" | "gcp" | "azure";

/** A GPU model a size carries; all are full CUDA GPUs usable by the stock datacenter driver. */
export type GpuModel = "NVIDIA T4" | "NVIDIA L4" | "NVIDIA A10G" | "NVIDIA A100";

/** AWS families with a full NVIDIA GPU: g4dn (T4), g5 (A10G), g6 (L4). */
const AWS_FAMILIES: Record<string, GpuModel> = { g4dn: "NVIDIA T4", g5: "NVIDIA A10G", g6: "NVIDIA L4" };
const AWS_SIZES = ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];

export function awsGpu(instanceType: string): GpuModel | undefined {
    const [family, size] = instanceType.split(".");
    return AWS_SIZES.includes(size) ? AWS_FAMILIES[family] : undefined;
}
export const AWS_ALLOWED = "a g4dn (T4), g5 (A10G) or g6 (L4) size from xlarge to 16xlarge, e.g. \"g4dn.xlarge\"";

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

/** Azure NC-series CUDA sizes. */
const AZURE_SIZES: Record<string, GpuModel> = {
    Standard_NC4as_T4_v3: "NVIDIA T4",
    Standard_NC8as_T4_v3: "NVIDIA T4",
    Standard_NC16as_T4_v3: "NVIDIA T4",
    Standard_NC64as_T4_v3: "NVIDIA T4",
    Standard_NC24ads_A100_v4: "NVIDIA A100",
    Standard_NC48ads_A100_v4: "NVIDIA A100",
    Standard_NC96ads_A100_v4: "NVIDIA A100",
};
export function azureGpu(vmSize: string): GpuModel | undefined {
    return AZURE_SIZES[vmSize];
}
export const AZURE_ALLOWED = `one of ${Object.keys(AZURE_SIZES).join(", ")}`;

/** NVadsA10 v5 sizes slice one A10 and need NVIDIA's GRID driver, which the stock datacenter driver is not. */
export function isAzureGridSize(vmSize: string): boolean {
    return /^Standard_NV\d+adm?s_A10_v5$/.test(vmSize);
}

export const AWS_REGION = /^(us|eu|ap|ca|sa|me|af|il|mx)-(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d$/;
export const GCP_ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
export const AZURE_LOCATION = /^[a-z]+[a-z0-9]*$/;

/** The GCP region a zone sits in: "us-central1-a" -> "us-central1". */
export function gcpRegion(zone: string): string {
    return zone.replace(/-[a-z]$/, "");
}

// ---- Prices ------------------------------------------------------------------------------------
// What a GPU machine costs per hour, for `npm run status` (cost since creation) and `npm run deploy
// --cheapest` (candidate order). On-demand: the clouds' published list prices for Linux, read on
// PRICES_AS_OF. Spot: indicative only. Spot prices move (AWS by zone and hour, Azure by region and
// day, GCP up to once a month), so the catalog keeps the typical discount each cloud's spot page
// quotes for these families, applied to the on-demand price, and says "indicative" wherever shown.
// A machine the catalog has no price for shows none; nothing guesses one.

export const PRICES_AS_OF = "2026-12-01";

/** Where each cloud's prices come from. */
export const PRICE_SOURCES: Readonly<Record<CloudName, string>> = {
    aws: "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, on-demand); spot indicative from https://aws.amazon.com/ec2/spot/pricing/",
    gcp: "https://cloud.google.com/compute/vm-instance-pricing and https://cloud.google.com/compute/gpus-pricing (on-demand); spot indicative from https://cloud.google.com/spot-vms/pricing",
    azure: "https://azure.microsoft.com/pricing/details/virtual-machines/linux/ (pay as you go); spot indicative from https://azure.microsoft.com/pricing/spot-advisor/",
};

/** The share of the on-demand price a spot machine of these GPU families typically costs (indicative). */
export const SPOT_INDICATIVE_FACTOR: Readonly<Record<CloudName, number>> = { aws: 0.35, gcp: 0.3, azure: 0.3 };

/** On-demand USD per hour by region (AWS, Azure) or region of the zone (GCP), then by machine. */
const AWS_US_PRICES: Readonly<Record<string, number>> = {
    "g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204, "g4dn.8xlarge": 2.176, "g4dn.12xlarge": 3.912, "g4dn.16xlarge": 4.352,
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448, "g5.12xlarge": 5.672, "g5.16xlarge": 4.096,
    "g6.xlarge": 0.8048, "g6.2xlarge": 0.9776, "g6.4xlarge": 1.3232, "g6.8xlarge": 2.0144, "g6.12xlarge": 4.6016, "g6.16xlarge": 3.3968,
};
/** GCP: the machine's price plus its attached T4's (N1), or the G2 machine's (L4 included). */
const GCP_N1_STANDARD_HOURLY = 0.0475; // per vCPU-sized unit: n1-standard-N costs N x this in us-central1
const GCP_T4_HOURLY = 0.35;
const GCP_US_CENTRAL1_PRICES: Readonly<Record<string, number>> = {
    ...Object.fromEntries([2, 4, 8, 16, 32].map((n) => [`n1-standard-${n}+nvidia-tesla-t4`, round4(n * GCP_N1_STANDARD_HOURLY + GCP_T4_HOURLY)])),
    "g2-standard-4": 0.7068, "g2-standard-8": 0.8536, "g2-standard-12": 1.0003, "g2-standard-16": 1.1470, "g2-standard-24": 2.0006,
    "g2-standard-32": 1.7340, "g2-standard-48": 4.0012, "g2-standard-96": 8.0024,
};
const AZURE_EASTUS_PRICES: Readonly<Record<string, number>> = {
    Standard_NC4as_T4_v3: 0.526, Standard_NC8as_T4_v3: 0.752, Standard_NC16as_T4_v3: 1.204, Standard_NC64as_T4_v3: 4.352,
    Standard_NC24ads_A100_v4: 3.673, Standard_NC48ads_A100_v4: 7.346, Standard_NC96ads_A100_v4: 14.692,
};
const ON_DEMAND: Readonly<Record<CloudName, Readonly<Record<string, Readonly<Record<string, number>>>>>> = {
    aws: { "us-east-1": AWS_US_PRICES, "us-east-2": AWS_US_PRICES, "us-west-2": AWS_US_PRICES },
    gcp: { "us-central1": GCP_US_CENTRAL1_PRICES },
    azure: { eastus: AZURE_EASTUS_PRICES },
};

function round4(n: number): number {
    return Math.round(n * 10_000) / 10_000;
}

/** A machine's price per hour and where it comes from. */
export interface PriceQuote {
    readonly usdPerHour: number;
    /** True for a spot machine: the price is the indicative one. */
    readonly indicative: boolean;
    readonly source: string;
    readonly asOf: string;
}

/**
 * The price of one machine: AWS (region, instance type), GCP (zone or region, machine type, gpu
 * type for N1) or Azure (location, size); undefined where the catalog has none.
 */
export function priceOf(cloud: CloudName, where: string, machine: string, spot: boolean, gpuType = ""): PriceQuote | undefined {
    const region = cloud === "gcp" && GCP_ZONE.test(where) ? gcpRegion(where) : where;
    const key = cloud === "gcp" && machine.startsWith("n1-") ? `${machine}+${gpuType}` : machine;
    const onDemand = ON_DEMAND[cloud][region]?.[key];
    if (onDemand === undefined) return undefined;
    return {
        usdPerHour: spot ? round4(onDemand * SPOT_INDICATIVE_FACTOR[cloud]) : onDemand,
        indicative: spot,
        source: PRICE_SOURCES[cloud],
        asOf: PRICES_AS_OF,
    };
}
