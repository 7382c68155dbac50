// Which failures of a Compute Engine VM mean "no capacity or quota here". terraform-provider-google
// never prints the operation's error code: ComputeOperationError's Error() writes each error's
// message, adding quota lines only when the code is QUOTA_EXCEEDED
// (google/services/compute/compute_operation.go). So the codes are recognised by their messages:
// ZONE_RESOURCE_POOL_EXHAUSTED "does not have enough resources available to fulfill the request", its
// _WITH_DETAILS form adds "'(resource type:compute)'" or "... is currently unavailable in the <zone>
// zone", QUOTA_EXCEEDED "Quota 'NVIDIA_T4_GPUS' exceeded.". gcloud and the console print the code
// itself, which is matched too. test/unit/capacity.test.ts quotes a real sample of each, with its source.
import type { CapacityFailure } from "../types";

const EXHAUSTED = /does not have enough resources available to fulfill the request/;
const DETAILS = /'\(resource type:compute\)'|is currently unavailable in the [a-z0-9-]+ zone/;
const QUOTA = /Quota '([A-Z0-9_]+)' exceeded\.\s+Limit: [0-9.]+ (globally|in region [a-z0-9-]+)/;
const CODE = /\b(ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS|ZONE_RESOURCE_POOL_EXHAUSTED|QUOTA_EXCEEDED|UNSUPPORTED_OPERATION)\b/;

export function classifyGcpCapacity(message: string): CapacityFailure | undefined {
    const quota = QUOTA.exec(message);
    if (quota) return { code: "QUOTA_EXCEEDED", reason: "quota", scope: quota[2] === "globally" ? "cloud" : "placement", quota: quota[1] };
    if (EXHAUSTED.test(message)) {
        return { code: DETAILS.test(message) ? "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" : "ZONE_RESOURCE_POOL_EXHAUSTED", reason: "capacity", scope: "placement" };
    }
    const code = CODE.exec(message)?.[1];
    if (!code) return undefined;
    return { code, reason: code === "QUOTA_EXCEEDED" ? "quota" : "capacity", scope: "placement" };
}
