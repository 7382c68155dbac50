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
