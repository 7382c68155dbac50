// Which failures of a cloud VM mean "no capacity or quota here", as `npm run deploy` reads them from a
// failed update: each cloud's own rule (infra/clouds/<cloud>/capacity.ts), applied only to the VM of
// that cloud's host component, host by host.
import type { CloudName } from "../../infra/vocabulary";
import { CLOUDS, CLOUD_NAMES } from "../../infra/clouds";
import type { CapacityFailure } from "../../infra/clouds/types";
import { parseCloudHostName, vmName } from "../../infra/contract/names";

export type { CapacityFailure };

/** The capacity or quota failure a VM's error text reports, or undefined for any other failure. */
export function classifyCapacity(cloud: CloudName, message: string): CapacityFailure | undefined {
    return CLOUDS[cloud].classifyCapacity(message);
}

/**
 * The cloud host whose VM a resource URN names ({host: "aws-2", cloud: "aws"}), or undefined for any
 * other resource: a URN is `urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>`, and the
 * VM is the child vmName(<host>) (infra/contract/names.ts) of its cloud's host component (the driver's
 * hostType), the host named as cloudHostName names a cloud's hosts ("aws", "aws-2").
 */
export function vmHostOf(urn: string): { readonly host: string; readonly cloud: CloudName } | undefined {
    const parts = urn.split("::");
    if (parts.length < 4) return undefined;
    const name = parts[parts.length - 1];
    const types = parts[parts.length - 2].split("$");
    const parent = types.length >= 2 ? types[types.length - 2] : undefined;
    const cloud = CLOUD_NAMES.find((c) => parent === CLOUDS[c].hostType);
    const suffix = vmName("");
    if (!cloud || !name.endsWith(suffix)) return undefined;
    const host = name.slice(0, -suffix.length);
    const named = parseCloudHostName(host, [cloud]);
    return named ? { host, cloud } : undefined;
}
