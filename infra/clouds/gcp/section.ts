// gpu-hosts:gcp: the project and where the GCP host runs, and the placements the operator accepts.
import { defineKey } from "../../config/schema";
import { placementReading, readCloudSection } from "../../config/placements";
import type { Reader } from "../../config/reader";
import { GCP_ALLOWED, GCP_PROJECT, GCP_ZONE, GPU_TYPE, MACHINE_TYPE, gcpGpu } from "./catalog";

/** Where a GCP host runs (the project stays gcp.project). */
export interface GcpPlacement {
    readonly zone: string;
    readonly machineType: string;
    readonly gpuType: string;
    readonly spot: boolean;
}

export interface GcpSection {
    readonly project: string;
    readonly zone: string;
    readonly machineType: string;
    readonly gpuType: string;
    /** The placements accepted, in order, every field filled; [] is the section's one placement. */
    readonly candidates: readonly GcpPlacement[];
    /** How many hosts: "gcp", "gcp-2", ...; each has its own placement. */
    readonly count: number;
}

const ZONE_ALLOWED = "a GCP zone, e.g. \"us-central1-a\"";
const GPU_TYPE_ALLOWED = "a GCP accelerator type, e.g. \"nvidia-tesla-t4\"";

/** A machine the catalog has no GPU for, as messages show it. */
const shape = (machineType: string, gpuType: string) => `${machineType}${machineType.startsWith("g2-") ? "" : ` with gpuType ${gpuType}`}`;

export const gcpPlacements = placementReading<GcpSection, GcpPlacement>({
    cloud: "gcp",
    shape: "{zone, machineType?, gpuType?, spot?}",
    where: "zone",
    fields: ["zone", "machineType", "gpuType", "spot"],
    read(r, at, e, section, check) {
        const zone = r.string(`${at}.zone`, e.zone, "", GCP_ZONE, ZONE_ALLOWED);
        const machineType = r.string(`${at}.machineType`, e.machineType, section.machineType, MACHINE_TYPE, GCP_ALLOWED);
        const gpuType = r.string(`${at}.gpuType`, e.gpuType, section.gpuType, GPU_TYPE, GPU_TYPE_ALLOWED);
        if (check && !gcpGpu(machineType, gpuType)) r.fail(`${at}.machineType`, GCP_ALLOWED, shape(machineType, gpuType));
        return { zone, machineType, gpuType };
    },
});

const DEFAULT = { project: "", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", candidates: [], count: 1 };

export const gcpSection = defineKey<GcpSection>({
    key: "gcp",
    schema: {
        description: "GCP hosts {project, zone, machineType, gpuType, candidates, count}; N1 with nvidia-tesla-t4, or G2 (L4). candidates: [{zone, machineType?, gpuType?, spot?}] and count (gcp, gcp-2, ...), as for aws.",
        default: DEFAULT,
    },
    read: (r, raw, ctx, fb) => readCloudSection(r, raw, fb, ctx, gcpPlacements, {
        project: (k, v, f) => r.string(k, v, f, GCP_PROJECT, "a GCP project id (6-30 lowercase letters, digits, hyphens)"),
        zone: (k, v, f) => r.string(k, v, f, GCP_ZONE, ZONE_ALLOWED),
        machineType: (k, v, f) => r.string(k, v, f, MACHINE_TYPE, GCP_ALLOWED),
        gpuType: (k, v, f) => r.string(k, v, f, GPU_TYPE, GPU_TYPE_ALLOWED),
    }),
});

/** The section's rules when gcp is enabled: a project, and a machine with a GPU. */
export function checkGcpSection(r: Reader, s: GcpSection): void {
    if (s.project === "") r.fail("gcp.project", "a GCP project id when \"gcp\" is in gpu-hosts:clouds", s.project);
    if (!gcpGpu(s.machineType, s.gpuType)) r.fail("gcp.machineType", GCP_ALLOWED, shape(s.machineType, s.gpuType));
}
