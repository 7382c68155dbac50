// What AWS offers that this project supports: GPU instance shapes, region names, and prices.
import { quote } from "../prices";
import type { GpuModel, PriceQuote } from "../types";

/** AWS families with a full NVIDIA GPU: g4dn (T4), g5 (A10G), g6 (L4). */
const FAMILIES: Record<string, GpuModel> = { g4dn: "NVIDIA T4", g5: "NVIDIA A10G", g6: "NVIDIA L4" };
const SIZES = ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];

export function awsGpu(instanceType: string): GpuModel | undefined {
    const [family, size] = instanceType.split(".");
    return SIZES.includes(size) ? FAMILIES[family] : undefined;
}
export const AWS_ALLOWED = "a g4dn (T4), g5 (A10G) or g6 (L4) size from xlarge to 16xlarge, e.g. \"g4dn.xlarge\"";

export const AWS_REGION = /^(us|eu|ap|ca|sa|me|af|il|mx)-(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d$/;
export const INSTANCE_TYPE = /^[a-z0-9]+\.[a-z0-9]+$/;

export const PRICE_SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, on-demand); spot indicative from https://aws.amazon.com/ec2/spot/pricing/";
/** The share of the on-demand price a spot machine of these families typically costs (indicative). */
export const SPOT_INDICATIVE_FACTOR = 0.35;

/** On-demand USD per hour. */
const US_PRICES: Readonly<Record<string, number>> = {
    "g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204, "g4dn.8xlarge": 2.176, "g4dn.12xlarge": 3.912, "g4dn.16xlarge": 4.352,
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448, "g5.12xlarge": 5.672, "g5.16xlarge": 4.096,
    "g6.xlarge": 0.8048, "g6.2xlarge": 0.9776, "g6.4xlarge": 1.3232, "g6.8xlarge": 2.0144, "g6.12xlarge": 4.6016, "g6.16xlarge": 3.3968,
};
const ON_DEMAND: Readonly<Record<string, Readonly<Record<string, number>>>> = { "us-east-1": US_PRICES, "us-east-2": US_PRICES, "us-west-2": US_PRICES };

/** The price of an instance type in a region, or undefined where the catalog has none. */
export function awsPrice(region: string, instanceType: string, spot: boolean): PriceQuote | undefined {
    return quote(ON_DEMAND[region]?.[instanceType], spot, SPOT_INDICATIVE_FACTOR, PRICE_SOURCE);
}
