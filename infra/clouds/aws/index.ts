// AWS as the rest of the program sees it: one driver (../types.ts) over this folder.
import type { CloudDriver } from "../types";
import type * as host from "./host";
import { AWS_HOST_TYPE } from "../../contract/names";
import { classifyAwsCapacity } from "./capacity";
import { awsGpu, awsPrice } from "./catalog";
import { AwsPlacement, AwsSection, awsPlacements, awsSection } from "./section";

declare module "../../vocabulary" {
    interface CloudNames {
        aws: true;
    }
}

export const aws: CloudDriver<AwsSection, AwsPlacement> = {
    name: "aws",
    section: awsSection,
    placements: awsPlacements,
    check: () => undefined,
    candidates: (s, spot) => (s.candidates.length ? s.candidates : [{ region: s.region, zone: "", instanceType: s.instanceType, spot }]),
    bare: (p) => ({ region: p.region, zone: p.zone, instanceType: p.instanceType, spot: p.spot }),
    describe: (p) => `${p.zone || `${p.region} (any zone)`} ${p.instanceType} ${p.spot ? "spot" : "on-demand"}`,
    price: (p) => awsPrice(p.region, p.instanceType, p.spot),
    gpuOf: (p) => awsGpu(p.instanceType),
    deployedPlacement: (d) => ({ region: d.region, zone: d.zone, instanceType: d.instanceType, spot: d.spot }),
    createHost: (name, args, p, _s, opts) => new (loadHost().AwsGpuHost)(name, { ...args, spot: p.spot, aws: { region: p.region, zone: p.zone, instanceType: p.instanceType } }, opts).host,
    hostType: AWS_HOST_TYPE,
    machineType: "aws:ec2/instance:Instance",
    classifyCapacity: classifyAwsCapacity,
    // AWS keeps a terminated instance visible for a while. A "shutting-down" one is not gone yet: it
    // still holds the network interface (and so the Elastic IP) its replacement needs.
    isGone: (vm) => !vm || vm.outputs?.instanceState === "terminated",
};

/** The host component, and with it its cloud SDK, loaded on first use (see CloudDriver.createHost). */
function loadHost(): typeof host {
    return require("./host") as typeof host;
}
