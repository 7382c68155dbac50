// Azure as the rest of the program sees it: one driver (../types.ts) over this folder.
import type { CloudDriver } from "../types";
import type * as host from "./host";
import { AZURE_HOST_TYPE } from "../../contract/names";
import { classifyAzureCapacity } from "./capacity";
import { azureGpu, azurePrice } from "./catalog";
import { AzurePlacement, AzureSection, azurePlacements, azureSection } from "./section";

declare module "../../vocabulary" {
    interface CloudNames {
        azure: true;
    }
}

export const azure: CloudDriver<AzureSection, AzurePlacement> = {
    name: "azure",
    section: azureSection,
    placements: azurePlacements,
    check: () => undefined,
    candidates: (s, spot) => (s.candidates.length ? s.candidates : [{ location: s.location, vmSize: s.vmSize, spot }]),
    bare: (p) => ({ location: p.location, vmSize: p.vmSize, spot: p.spot }),
    describe: (p) => `${p.location} ${p.vmSize} ${p.spot ? "spot" : "on-demand"}`,
    price: (p) => azurePrice(p.location, p.vmSize, p.spot),
    gpuOf: (p) => azureGpu(p.vmSize),
    deployedPlacement: (d) => ({ location: d.region, vmSize: d.instanceType, spot: d.spot }),
    createHost: (name, args, p, _s, opts) => new (loadHost().AzureGpuHost)(name, { ...args, spot: p.spot, azure: { location: p.location, vmSize: p.vmSize } }, opts).host,
    hostType: AZURE_HOST_TYPE,
    machineType: "azure-native:compute:VirtualMachine",
    classifyCapacity: classifyAzureCapacity,
    // This project's spot VMs are deleted on eviction (evictionPolicy Delete, host.ts).
    isGone: (vm) => !vm,
};

/** The host component, and with it its cloud SDK, loaded on first use (see CloudDriver.createHost). */
function loadHost(): typeof host {
    return require("./host") as typeof host;
}
