// Which failures of a cloud VM mean "no capacity or quota here": the error codes the clouds document
// for it, and only those. The texts are the providers' diagnostics as the engine reports them, which
// differ from the clouds' API codes in ways that matter (test/unit/capacity.test.ts quotes a real
// sample of each, with its source):
//  - AWS: terraform-provider-aws (pulumi-aws bridges it) prints the EC2 code before its message:
//    "api error InsufficientInstanceCapacity: ..." (AWS SDK v2) or "InsufficientInstanceCapacity: ..."
//    after "creating EC2 Instance: " (SDK v1).
//  - GCP: terraform-provider-google never prints the operation's error code. ComputeOperationError's
//    Error() writes each error's message, adding quota lines only when the code is QUOTA_EXCEEDED
//    (google/services/compute/compute_operation.go). So the codes are recognised by their messages:
//    ZONE_RESOURCE_POOL_EXHAUSTED "does not have enough resources available to fulfill the request",
//    its _WITH_DETAILS form adds "'(resource type:compute)'" or "... is currently unavailable in the
//    <zone> zone", QUOTA_EXCEEDED "Quota 'NVIDIA_T4_GPUS' exceeded.". gcloud and the console print the
//    code itself, which is matched too.
//  - Azure: pulumi-azure-native prints `Code="SkuNotAvailable" Message="..."`
//    (provider/pkg/azure/client_azcore.go, PulumiAzcoreResponseError.Error); azurerm's go-azure-sdk
//    "with error: SkuNotAvailable: ..." or, after a failed poll, `Status: "AllocationFailed"`.
//    OperationNotAllowed is capacity only when it is about a quota.
import { CloudName } from "../../infra/clouds/catalog";
import { isCloud } from "../../infra/clouds/placement";

export interface CapacityFailure {
    /** The cloud's error code, e.g. "InsufficientInstanceCapacity", "ZONE_RESOURCE_POOL_EXHAUSTED". */
    readonly code: string;
    /** "capacity": the cloud has none of the machine there now; "quota": the account may not have more. */
    readonly reason: "capacity" | "quota";
    /**
     * Where the same failure would repeat: "placement" (another zone, region or size may work) or
     * "cloud" (a global quota such as GCP's GPUS_ALL_REGIONS: every candidate of the cloud fails too).
     */
    readonly scope: "placement" | "cloud";
    /** The quota's name, where the error gives one (GCP: "NVIDIA_T4_GPUS"). */
    readonly quota?: string;
}

const AWS_CODES: Readonly<Record<string, CapacityFailure["reason"]>> = {
    InsufficientInstanceCapacity: "capacity",
    // The instance type is not offered in the requested availability zone.
    Unsupported: "capacity",
    MaxSpotInstanceCountExceeded: "quota",
    VcpuLimitExceeded: "quota",
};
// The code as a whole token, then ":" (provider) or ")" (boto/CLI "An error occurred (Code)").
const AWS_CODE = new RegExp(`(?:^|[\\s(])(${Object.keys(AWS_CODES).join("|")})(?::|\\))`);

const GCP_EXHAUSTED = /does not have enough resources available to fulfill the request/;
const GCP_DETAILS = /'\(resource type:compute\)'|is currently unavailable in the [a-z0-9-]+ zone/;
const GCP_QUOTA = /Quota '([A-Z0-9_]+)' exceeded\.\s+Limit: [0-9.]+ (globally|in region [a-z0-9-]+)/;
const GCP_CODE = /\b(ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS|ZONE_RESOURCE_POOL_EXHAUSTED|QUOTA_EXCEEDED|UNSUPPORTED_OPERATION)\b/;

const AZURE_CODES: Readonly<Record<string, CapacityFailure["reason"]>> = {
    SkuNotAvailable: "capacity",
    AllocationFailed: "capacity",
    ZonalAllocationFailed: "capacity",
    OverconstrainedAllocationRequest: "capacity",
    // The zonal twin Azure returns for the same condition (seen from azurerm: jenkins-infra/azure#1416).
    OverconstrainedZonalAllocationRequest: "capacity",
    OperationNotAllowed: "quota",
};
// Quotes may come escaped (\") where a tool logs the provider's text inside its own quoted string.
const AZURE_CODE = new RegExp(`(?:Code=\\\\?"|with error: |Status: \\\\?")(${Object.keys(AZURE_CODES).join("|")})(?:\\\\?"|:)`);

/** The capacity or quota failure a VM's error text reports, or undefined for any other failure. */
export function classifyCapacity(cloud: CloudName, message: string): CapacityFailure | undefined {
    switch (cloud) {
        case "aws": {
            const m = AWS_CODE.exec(message);
            return m ? { code: m[1], reason: AWS_CODES[m[1]], scope: "placement" } : undefined;
        }
        case "gcp": {
            const quota = GCP_QUOTA.exec(message);
            if (quota) return { code: "QUOTA_EXCEEDED", reason: "quota", scope: quota[2] === "globally" ? "cloud" : "placement", quota: quota[1] };
            if (GCP_EXHAUSTED.test(message)) {
                return { code: GCP_DETAILS.test(message) ? "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" : "ZONE_RESOURCE_POOL_EXHAUSTED", reason: "capacity", scope: "placement" };
            }
            const code = GCP_CODE.exec(message)?.[1];
            if (!code) return undefined;
            return { code, reason: code === "QUOTA_EXCEEDED" ? "quota" : "capacity", scope: "placement" };
        }
        case "azure": {
            const code = AZURE_CODE.exec(message)?.[1];
            if (!code) return undefined;
            // OperationNotAllowed covers many refusals; only the quota one is about capacity.
            if (code === "OperationNotAllowed" && !/\bquota\b/i.test(message)) return undefined;
            return { code, reason: AZURE_CODES[code], scope: "placement" };
        }
    }
}

/** The host component types whose `<cloud>-vm` child is the cloud's VM (infra/hosts/{aws,gcp,azure}.ts). */
const HOST_TYPES: Readonly<Record<string, CloudName>> = {
    "gpu-hosts:hosts:AwsGpuHost": "aws",
    "gpu-hosts:hosts:GcpGpuHost": "gcp",
    "gpu-hosts:hosts:AzureGpuHost": "azure",
};

/**
 * The cloud whose VM a resource URN names, or undefined for any other resource: a URN is
 * `urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>`, and the VM is the child named
 * `<cloud>-vm` of the cloud's host component.
 */
export function vmCloudOf(urn: string): CloudName | undefined {
    const parts = urn.split("::");
    if (parts.length < 4) return undefined;
    const name = parts[parts.length - 1];
    const types = parts[parts.length - 2].split("$");
    const parent = types.length >= 2 ? HOST_TYPES[types[types.length - 2]] : undefined;
    const cloud = name.replace(/-vm$/, "");
    return parent && isCloud(cloud) && parent === cloud && name === `${cloud}-vm` ? cloud : undefined;
}
