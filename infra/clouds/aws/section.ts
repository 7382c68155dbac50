// gpu-hosts:aws: where the AWS host runs, and the placements the operator accepts.
import { defineKey } from "../../config/schema";
import { MAX_HOSTS_PER_CLOUD, placementReading, readCloudSection } from "../../config/placements";
import { AWS_ALLOWED, AWS_REGION, INSTANCE_TYPE, awsGpu } from "./catalog";

/** Where an AWS host runs. zone "" is the first zone of the region that offers the type. */
export interface AwsPlacement {
    readonly region: string;
    readonly zone: string;
    readonly instanceType: string;
    readonly spot: boolean;
}

export interface AwsSection {
    readonly region: string;
    readonly instanceType: string;
    /** The placements accepted, in order, every field filled; [] is the section's one placement. */
    readonly candidates: readonly AwsPlacement[];
    /** How many hosts: "aws", "aws-2", ...; each has its own placement. */
    readonly count: number;
}

const ZONE = /^$|^[a-z]{2}-[a-z]+-\d[a-z]$/;
const REGION_ALLOWED = "an AWS region, e.g. \"us-east-1\"";

export const awsPlacements = placementReading<AwsSection, AwsPlacement>({
    cloud: "aws",
    shape: "{region, zone?, instanceType?, spot?}",
    where: "region",
    fields: ["region", "zone", "instanceType", "spot"],
    read(r, at, e, section, check) {
        const region = r.string(`${at}.region`, e.region, "", AWS_REGION, REGION_ALLOWED);
        const zone = r.string(`${at}.zone`, e.zone, "", ZONE, "an availability zone of the entry's region, e.g. \"us-east-1b\", or \"\" for the first that offers the type");
        if (region && zone && !zone.startsWith(region)) r.fail(`${at}.zone`, `an availability zone of ${region}, e.g. "${region}b"`, zone);
        const instanceType = r.string(`${at}.instanceType`, e.instanceType, section.instanceType, INSTANCE_TYPE, AWS_ALLOWED);
        if (check && !awsGpu(instanceType)) r.fail(`${at}.instanceType`, AWS_ALLOWED, instanceType);
        return { region, zone, instanceType };
    },
});

const DEFAULT = { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: [], count: 1 };

export const awsSection = defineKey<AwsSection>({
    key: "aws",
    schema: {
        description: `AWS hosts {region, instanceType, candidates, count}; instanceType is g4dn (T4), g5 (A10G) or g6 (L4). candidates: the placements you accept, in order, [{region, zone?, instanceType?, spot?}]; npm run deploy moves to the next on a capacity or quota error. [] is the one placement region/instanceType. count (1-${MAX_HOSTS_PER_CLOUD}, default 1): how many hosts, named aws, aws-2, ...; each is placed, moved and recovered on its own (gpu-hosts:placements.aws-2).`,
        default: DEFAULT,
    },
    read: (r, raw, ctx, fb) => readCloudSection(r, raw, fb, ctx, awsPlacements, {
        region: (k, v, f) => r.string(k, v, f, AWS_REGION, REGION_ALLOWED),
        instanceType: (k, v, f) => {
            const t = r.string(k, v, f, INSTANCE_TYPE, AWS_ALLOWED);
            if (ctx.enabled("aws") && t === v && !awsGpu(t)) r.fail(k, AWS_ALLOWED, v);
            return t;
        },
    }),
});
