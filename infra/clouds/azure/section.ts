// gpu-hosts:azure: where the Azure host runs, and the placements the operator accepts.
import { defineKey } from "../../config/schema";
import { placementReading, readCloudSection } from "../../config/placements";
import type { Reader } from "../../config/reader";
import { AZURE_ALLOWED, AZURE_LOCATION, VM_SIZE, azureGpu, isAzureGridSize } from "./catalog";

/** Where an Azure host runs. */
export interface AzurePlacement {
    readonly location: string;
    readonly vmSize: string;
    readonly spot: boolean;
}

export interface AzureSection {
    readonly location: string;
    readonly vmSize: string;
    /** The placements accepted, in order, every field filled; [] is the section's one placement. */
    readonly candidates: readonly AzurePlacement[];
    /** How many hosts: "azure", "azure-2", ...; each has its own placement. */
    readonly count: number;
}

const LOCATION_ALLOWED = "an Azure location, e.g. \"eastus\"";

function checkSize(r: Reader, key: string, size: string): void {
    if (isAzureGridSize(size)) {
        r.fail(key, `a full-GPU NC-series size (${AZURE_ALLOWED}); NVadsA10 v5 sizes are GPU slices that need NVIDIA's GRID driver`, size);
    } else if (!azureGpu(size)) {
        r.fail(key, AZURE_ALLOWED, size);
    }
}

export const azurePlacements = placementReading<AzureSection, AzurePlacement>({
    cloud: "azure",
    shape: "{location, vmSize?, spot?}",
    where: "location",
    fields: ["location", "vmSize", "spot"],
    read(r, at, e, section, check) {
        const location = r.string(`${at}.location`, e.location, "", AZURE_LOCATION, LOCATION_ALLOWED);
        const vmSize = r.string(`${at}.vmSize`, e.vmSize, section.vmSize, VM_SIZE, AZURE_ALLOWED);
        if (check) checkSize(r, `${at}.vmSize`, vmSize);
        return { location, vmSize };
    },
});

const DEFAULT = { location: "eastus", vmSize: "Standard_NC4as_T4_v3", candidates: [], count: 1 };

export const azureSection = defineKey<AzureSection>({
    key: "azure",
    schema: {
        description: "Azure hosts {location, vmSize, candidates, count}; an NC-series CUDA size such as Standard_NC4as_T4_v3. candidates: [{location, vmSize?, spot?}] and count (azure, azure-2, ...), as for aws.",
        default: DEFAULT,
    },
    read: (r, raw, ctx, fb) => readCloudSection(r, raw, fb, ctx, azurePlacements, {
        location: (k, v, f) => r.string(k, v, f, AZURE_LOCATION, LOCATION_ALLOWED),
        vmSize: (k, v, f) => {
            const s = r.string(k, v, f, VM_SIZE, AZURE_ALLOWED);
            if (ctx.enabled("azure") && s === v) checkSize(r, k, s);
            return s;
        },
    }),
});
