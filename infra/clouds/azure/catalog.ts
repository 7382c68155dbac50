// What Azure offers that this project supports: NC-series sizes, location names, and prices.
import { quote } from "../prices";
import type { GpuModel, PriceQuote } from "../types";

/** Azure NC-series CUDA sizes. */
const SIZES: Record<string, GpuModel> = {
    Standard_NC4as_T4_v3: "NVIDIA T4",
    Standard_NC8as_T4_v3: "NVIDIA T4",
    Standard_NC16as_T4_v3: "NVIDIA T4",
    Standard_NC64as_T4_v3: "NVIDIA T4",
    Standard_NC24ads_A100_v4: "NVIDIA A100",
    Standard_NC48ads_A100_v4: "NVIDIA A100",
    Standard_NC96ads_A100_v4: "NVIDIA A100",
};
export function azureGpu(vmSize: string): GpuModel | undefined {
    return SIZES[vmSize];
}
export const AZURE_ALLOWED = `one of ${Object.keys(SIZES).join(", ")}`;

/** NVadsA10 v5 sizes slice one A10 and need NVIDIA's GRID driver, which the stock datacenter driver is not. */
export function isAzureGridSize(vmSize: string): boolean {
    return /^Standard_NV\d+adm?s_A10_v5$/.test(vmSize);
}

export const AZURE_LOCATION = /^[a-z]+[a-z0-9]*$/;
export const VM_SIZE = /^Standard_[A-Za-z0-9_]+$/;

export const PRICE_SOURCE = "https://azure.microsoft.com/pricing/details/virtual-machines/linux/ (pay as you go); spot indicative from https://azure.microsoft.com/pricing/spot-advisor/";
/** The share of the on-demand price a spot machine of these families typically costs (indicative). */
export const SPOT_INDICATIVE_FACTOR = 0.3;

const EASTUS_PRICES: Readonly<Record<string, number>> = {
    Standard_NC4as_T4_v3: 0.526, Standard_NC8as_T4_v3: 0.752, Standard_NC16as_T4_v3: 1.204, Standard_NC64as_T4_v3: 4.352,
    Standard_NC24ads_A100_v4: 3.673, Standard_NC48ads_A100_v4: 7.346, Standard_NC96ads_A100_v4: 14.692,
};
const ON_DEMAND: Readonly<Record<string, Readonly<Record<string, number>>>> = { eastus: EASTUS_PRICES };

/** The price of a size in a location, or undefined where the catalog has none. */
export function azurePrice(location: string, vmSize: string, spot: boolean): PriceQuote | undefined {
    return quote(ON_DEMAND[location]?.[vmSize], spot, SPOT_INDICATIVE_FACTOR, PRICE_SOURCE);
}
