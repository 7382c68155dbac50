// Which failures of a Compute Engine VM mean "no capacity or quota here", or "not offered here".
// terraform-provider-google never prints the operation's error code: ComputeOperationError's Error()
// writes each error's message, adding quota lines only when the code is QUOTA_EXCEEDED
// (google/services/compute/compute_operation.go). So the codes are recognised by their messages:
// ZONE_RESOURCE_POOL_EXHAUSTED "does not have enough resources available to fulfill the request", its
// _WITH_DETAILS form adds "'(resource type:compute)'" or "... is currently unavailable in the <zone>
// zone", QUOTA_EXCEEDED "Quota 'NVIDIA_T4_GPUS' exceeded.". gcloud and the console print the code
// itself, which is matched too. test/unit/capacity.test.ts quotes a real sample of each, with its source.
//
// "Not offered here": a zone that does not have the machine type, or the GPU, at all. Compute Engine
// has no code of its own for either; the insert answers with a generic one, so deploy names them:
// - MACHINE_TYPE_NOT_IN_ZONE: "Invalid value for field 'resource.machineType': '...'. Machine type
//   with name 'g2-standard-4' does not exist in zone 'us-east1-b'." (reason invalid; gcloud's
//   `compute instances create` recognises the same words, lib/surface/compute/instances/create.py);
// - ACCELERATOR_TYPE_NOT_IN_ZONE: "The resource 'projects/<p>/zones/<zone>/acceleratorTypes/<type>'
//   was not found".
// Both words could also mean a typo in the operator's config, which must stop deploy, not move it.
// They cannot here: config accepts only the catalog's machine and accelerator types, each one
// Compute Engine offers somewhere (catalog.ts, checked before any resource exists), so a name in
// these texts is a real type that this zone lacks. A zone that does not exist at all is answered
// "Invalid value for field 'zone': '<zone>'. Unknown zone.", which is not matched: it stops deploy
// with the cloud's own words, even when it is the only candidate.
import type { CapacityFailure } from "../types";
import { GCP_ZONE } from "./catalog";

const EXHAUSTED = /does not have enough resources available to fulfill the request/;
const DETAILS = /'\(resource type:compute\)'|is currently unavailable in the [a-z0-9-]+ zone/;
const QUOTA = /Quota '([A-Z0-9_]+)' exceeded\.\s+Limit: [0-9.]+ (globally|in region [a-z0-9-]+)/;
const CODE = /\b(ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS|ZONE_RESOURCE_POOL_EXHAUSTED|QUOTA_EXCEEDED|UNSUPPORTED_OPERATION)\b/;
/** A zone name as config accepts one (catalog.ts), unanchored. */
const ZONE = GCP_ZONE.source.replace(/^\^|\$$/g, "");
const MACHINE_NOT_IN_ZONE = new RegExp(`Machine type with name '[a-z0-9-]+' does not exist in zone '${ZONE}'`);
const ACCELERATOR_NOT_IN_ZONE = new RegExp(`The resource '(?:projects/[a-z0-9:.-]+/)?zones/${ZONE}/acceleratorTypes/[a-z0-9-]+' was not found`);

export function classifyGcpCapacity(message: string): CapacityFailure | undefined {
    const quota = QUOTA.exec(message);
    if (quota) return { code: "QUOTA_EXCEEDED", reason: "quota", scope: quota[2] === "globally" ? "cloud" : "placement", quota: quota[1] };
    if (EXHAUSTED.test(message)) {
        return { code: DETAILS.test(message) ? "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" : "ZONE_RESOURCE_POOL_EXHAUSTED", reason: "capacity", scope: "placement" };
    }
    if (MACHINE_NOT_IN_ZONE.test(message)) return { code: "MACHINE_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" };
    if (ACCELERATOR_NOT_IN_ZONE.test(message)) return { code: "ACCELERATOR_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" };
    const code = CODE.exec(message)?.[1];
    if (!code) return undefined;
    return { code, reason: code === "QUOTA_EXCEEDED" ? "quota" : "capacity", scope: "placement" };
}
