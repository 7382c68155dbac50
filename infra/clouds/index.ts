// The registry of clouds: one line per cloud. Everything particular to a cloud is in its folder
// (./<cloud>/), behind the CloudDriver interface (./types.ts).
import type { CloudName, HostKind } from "../vocabulary";
import { LOCAL, SSH } from "../vocabulary";
import type { CloudDriver, Placement } from "./types";
import { aws } from "./aws";
import { gcp } from "./gcp";
import { azure } from "./azure";

// Each driver is checked against CloudDriver<its section, its placement> where it is defined; the
// `satisfies` makes a cloud that named itself (vocabulary's CloudNames) but is not listed here a type error.
export const CLOUDS = {
    aws,
    gcp,
    azure,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
} as const satisfies { readonly [C in CloudName]: CloudDriver<any, any> };

/** The clouds in the registry's order. */
export const CLOUD_NAMES = Object.keys(CLOUDS) as CloudName[];

/** Every host kind, in the order messages list them. */
export const HOST_KINDS: readonly HostKind[] = [LOCAL, ...CLOUD_NAMES, SSH];

export function isCloud(kind: string): kind is CloudName {
    return (CLOUD_NAMES as readonly string[]).includes(kind);
}

/** The driver of a cloud, typed for any of them. */
export function driver(name: CloudName): CloudDriver<unknown, Placement> {
    return CLOUDS[name] as unknown as CloudDriver<unknown, Placement>;
}

/** A cloud's config section type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SectionOf<C extends CloudName> = (typeof CLOUDS)[C] extends CloudDriver<infer S, any> ? S : never;
/** A cloud's placement type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PlacementOf<C extends CloudName> = (typeof CLOUDS)[C] extends CloudDriver<any, infer P> ? P : never;
