// GCP as the rest of the program sees it: one driver (../types.ts) over this folder.
import type { CloudDriver } from "../types";
import type * as host from "./host";
import { GCP_HOST_TYPE } from "../../contract/names";
import { classifyGcpCapacity } from "./capacity";
import { classifyGcpApiNotReady } from "./apis";
import { GCP_N1_ACCELERATORS, describeMachine, gcpGpu, gcpPrice } from "./catalog";
import { GcpPlacement, GcpSection, checkGcpSection, gcpPlacements, gcpSection } from "./section";

declare module "../../vocabulary" {
    interface CloudNames {
        gcp: true;
    }
}

/** The GPU type a deployed N1 machine has attached, from its inputs (guestAccelerators[0].type). */
function acceleratorOf(inputs: Readonly<Record<string, unknown>> | undefined): string | undefined {
    const accels = inputs?.guestAccelerators as { type?: unknown }[] | undefined;
    const t = Array.isArray(accels) ? accels[0]?.type : undefined;
    return typeof t === "string" && t ? t : undefined;
}

export const gcp: CloudDriver<GcpSection, GcpPlacement> = {
    name: "gcp",
    section: gcpSection,
    placements: gcpPlacements,
    check: checkGcpSection,
    candidates: (s, spot) => (s.candidates.length ? s.candidates : [{ zone: s.zone, machineType: s.machineType, gpuType: s.gpuType, spot }]),
    bare: (p) => ({ zone: p.zone, machineType: p.machineType, gpuType: p.gpuType, spot: p.spot }),
    describe: (p) => `${p.zone} ${describeMachine(p.machineType, p.gpuType)} ${p.spot ? "spot" : "on-demand"}`,
    price: (p) => gcpPrice(p.zone, p.machineType, p.gpuType, p.spot),
    gpuOf: (p) => gcpGpu(p.machineType, p.gpuType),
    // The outputs name the zone and machine; an N1's accelerator is read from the VM's own inputs,
    // else the section's (the config may not be readable: then the catalog's only N1 GPU).
    deployedPlacement: (d, vm, s) => ({
        zone: d.zone, machineType: d.instanceType, gpuType: acceleratorOf(vm?.inputs) ?? s?.gpuType ?? Object.keys(GCP_N1_ACCELERATORS)[0], spot: d.spot,
    }),
    createHost: (name, args, p, s, opts) => new (loadHost().GcpGpuHost)(name, {
        ...args, spot: p.spot, gcp: { project: s.project, zone: p.zone, machineType: p.machineType, gpuType: p.gpuType },
    }, opts).host,
    hostType: GCP_HOST_TYPE,
    machineType: "gcp:compute/instance:Instance",
    classifyCapacity: classifyGcpCapacity,
    // A new project's Compute Engine API: enabled by the operator, then minutes to propagate (apis.ts).
    apiNotReady: classifyGcpApiNotReady,
    // This project's spot VMs are deleted on preemption (instanceTerminationAction DELETE, host.ts).
    isGone: (vm) => !vm,
};

/** The host component, and with it its cloud SDK, loaded on first use (see CloudDriver.createHost). */
function loadHost(): typeof host {
    return require("./host") as typeof host;
}
