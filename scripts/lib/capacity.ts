// Which failures of a cloud VM mean "no capacity or quota here", as `npm run deploy` reads them from a
// failed update: each cloud's own rule (infra/clouds/<cloud>/capacity.ts), applied only to the VM of
// that cloud's host component.
import type { CloudName } from "../../infra/vocabulary";
import { CLOUDS, CLOUD_NAMES } from "../../infra/clouds";
import type { CapacityFailure } from "../../infra/clouds/types";
import { vmName } from "../../infra/contract/names";

export type { CapacityFailure };

/** The capacity or quota failure a VM's error text reports, or undefined for any other failure. */
export function classifyCapacity(cloud: CloudName, message: string): CapacityFailure | undefined {
    return CLOUDS[cloud].classifyCapacity(message);
}

/**
 * The cloud whose VM a resource URN names, or undefined for any other resource: a URN is
 * `urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>`, and the VM is the child
 * vmName(<cloud>) (infra/contract/names.ts) of the cloud's host component (its driver's hostType).
 */
export function vmCloudOf(urn: string): CloudName | undefined {
    const parts = urn.split("::");
    if (parts.length < 4) return undefined;
    const name = parts[parts.length - 1];
    const types = parts[parts.length - 2].split("$");
    const parent = types.length >= 2 ? types[types.length - 2] : undefined;
    return CLOUD_NAMES.find((cloud) => parent === CLOUDS[cloud].hostType && name === vmName(cloud));
}
