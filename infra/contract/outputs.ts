// Stack outputs: a typed contract. The program builds them here (stackOutputs, checked against the
// types with `satisfies`) and the operator scripts read them back through the one parser beside it
// (./parseOutputs.ts parseStackOutputs), so no script cuts a path out of a URL or guesses a field. Every URL comes from
// the host's AppStack, which knows the scheme its proxy really serves.
//
// The values are in every deployed stack's state: a changed key or value shows as an output change
// on the next `pulumi up`, and a script of an older version reads it. Add fields; rename none.
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { Color, HostKind, LOCAL, SSH, otherColor } from "../vocabulary";
import type { CloudKind, DetailsOf, HostDetailsInput, Inputs, RemoteKind } from "./details";
import type { KeptPins } from "../service/pin";
import type { PinsOutput } from "./pins";
import type { HostRole } from "../config/sections/fleet";
import type { Endpoint } from "../service/appStack";

/** A slot as the outputs show it. */
export interface SlotOutput {
    /** The release's name, as the operator gave it ("workdir", "v1.2.0"). */
    readonly release: string;
    /** The commit it is pinned to. */
    readonly commit: string;
    /** What the slot reports as its release (/health, processed_by): "workdir@3f2a9c1b0d4e". */
    readonly label: string;
    /** The image it runs, repository:content tag. */
    readonly image: string;
}

/** Both slots. */
export type SlotsOutput = Readonly<Record<Color, SlotOutput>>;

/** What every host outputs, whatever its kind. */
export interface HostOutputBase {
    /** GPU model, or "none". */
    readonly gpu: string;
    readonly address: string;
    readonly liveUrl: string;
    readonly idleUrl: string;
    /** The live port's health URL (open without a key). */
    readonly healthUrl: string;
    /** The idle port's health URL. */
    readonly idleHealthUrl: string;
    readonly docsUrl: string;
    /** The live URL again, under the name operators used before (kept for their scripts). */
    readonly apiUrl: string;
    readonly liveColor: Color;
    readonly idleColor: Color;
    readonly slots: SlotsOutput;
    /** PEM of the host's internal CA root (tls mode "internal"), for clients to pin; absent otherwise. */
    readonly caRootCert?: string;
    /**
     * Its part in a fleet (gpu-hosts:fleet): "hub" (the endpoint and the queue) or "worker" (workers
     * only; its URLs are then the hub's, through which its work arrives). Absent when the stack is no fleet.
     */
    readonly role?: HostRole;
}

/** A fleet as the outputs show it: the hub, and where its Redis is dialled. */
export interface FleetOutput {
    readonly hub: string;
    readonly redisAddress: string;
    readonly redisPort: number;
}

export type { CloudDetails, CloudKind, NoDetails, RemoteDetails, RemoteKind, ServerDetails } from "./details";

/** One host of kind K in the `hosts` output. */
export type HostOutputOf<K extends HostKind> = { readonly kind: K } & HostOutputBase & DetailsOf<K>;
/** One host in the `hosts` output: a union keyed by `kind`. */
export type HostOutput = { [K in HostKind]: HostOutputOf<K> }[HostKind];
/** A cloud VM's outputs. */
export type CloudHostOutput = Extract<HostOutput, { readonly kind: CloudKind }>;
/** A remote host's outputs (cloud VM or own server): it has an `ssh` command. */
export type RemoteHostOutput = Extract<HostOutput, { readonly kind: RemoteKind }>;

export const isCloudHost = (h: HostOutput): h is CloudHostOutput => h.kind !== LOCAL && h.kind !== SSH;
export const isRemoteHost = (h: HostOutput): h is RemoteHostOutput => h.kind !== LOCAL;

/** Every stack output. */
export interface StackOutputs {
    readonly liveColor: Color;
    readonly idleColor: Color;
    /** The first host's URLs, for a one-host stack's convenience. */
    readonly liveUrl: string;
    readonly idleUrl: string;
    readonly apiUrl: string;
    readonly docsUrl: string;
    readonly healthUrl: string;
    readonly model: string;
    /** The image the live slot of the first host runs. */
    readonly image: string;
    readonly slots: SlotsOutput;
    /**
     * What each slot was pinned to and from which config (infra/contract/pins.ts), read back by the
     * next update. Absent from stacks deployed before it existed: parseStackOutputs then takes it
     * from `slots`, so parsed outputs always have it.
     */
    readonly pins?: KeptPins;
    readonly hosts: Readonly<Record<string, HostOutput>>;
    /** Every image the stack put on its hosts, for clean-up advice. */
    readonly hostImages: readonly string[];
    /** The generated client API key (secret); absent when auth is off. */
    readonly apiKey?: string;
    /** The key the operator scripts' checks use: a rate-limit bucket of its own (secret); absent when auth is off. */
    readonly opsApiKey?: string;
    /** The first host's CA root (tls mode "internal"), null where there is none. */
    readonly caRootCert?: string | null;
    /** The fleet (gpu-hosts:fleet); absent when the stack is none. The stack's URLs are then the hub's. */
    readonly fleet?: FleetOutput;
}

// ---- The program's side: the outputs as Inputs, each checked against the types above. ----

/** One host's outputs as the program builds them. */
export type HostOutputInput = { [K in HostKind]: Inputs<HostOutputOf<K>> }[HostKind];

/** What the outputs read from a host (a GpuHost has it). */
export interface HostSource {
    readonly name: string;
    readonly gpuModel: pulumi.Input<string>;
    readonly address: pulumi.Input<string>;
    readonly details: HostDetailsInput;
}

/** What the outputs read from a host's app (an AppStack has it): its endpoint (a worker host's is the hub's), slots and images. */
export interface AppSource extends Endpoint {
    readonly slots: SlotsOutput;
    readonly images: readonly string[];
    /** What the host runs (infra/service/fleet.ts); an island has no role in the outputs. */
    readonly role: { readonly kind: "island" | HostRole };
}

/** What the outputs read from a fleet's queue (a FleetQueue has it). */
export interface FleetSource {
    readonly address: pulumi.Output<string>;
    readonly port: number;
}

/** The stack's generated keys (StackApiKeys), both secrets. */
export interface KeysSource {
    readonly generated: pulumi.Input<string>;
    readonly ops: pulumi.Input<string>;
}

/**
 * A host's outputs: its kind, what every host has, then what its kind adds (a kind that leaves out a
 * field fails the `satisfies` below). `kind` comes first, where it has always been: the engine keeps
 * output objects as maps, but a plan compared as text (test/compat/plan-diff.ts) sees the order.
 */
function kindFirst<D extends HostDetailsInput, B extends object>(details: D, base: B): { readonly kind: D["kind"] } & B & D {
    return Object.assign({ kind: details.kind }, base, details);
}

/** The program's outputs, Inputs of the StackOutputs shape. */
export function stackOutputs(cfg: Pick<StackConfig, "liveColor" | "model" | "fleet">, deployed: readonly { host: HostSource; app: AppSource }[], pins: PinsOutput, keys?: KeysSource, queue?: FleetSource) {
    const idleColor = otherColor(cfg.liveColor);
    const primary = deployed[0].app;
    const hosts: Record<string, HostOutputInput> = {};
    for (const { host, app } of deployed) {
        hosts[host.name] = kindFirst(host.details, {
            gpu: host.gpuModel,
            address: host.address,
            liveUrl: app.liveUrl,
            idleUrl: app.idleUrl,
            healthUrl: app.healthUrl,
            idleHealthUrl: app.idleHealthUrl,
            docsUrl: app.docsUrl,
            apiUrl: app.liveUrl,
            liveColor: cfg.liveColor,
            idleColor,
            slots: app.slots,
            // Public: the root of the host's internal CA, for clients to pin (tls mode "internal").
            caRootCert: app.caRootCert,
            // Only in a fleet: an island's outputs stay as they were.
            ...(app.role.kind === "island" ? {} : { role: app.role.kind }),
        }) satisfies HostOutputInput;
    }
    return {
        liveColor: cfg.liveColor,
        idleColor,
        liveUrl: primary.liveUrl,
        idleUrl: primary.idleUrl,
        apiUrl: primary.liveUrl,
        docsUrl: primary.docsUrl,
        healthUrl: primary.healthUrl,
        model: cfg.model,
        image: primary.slots[cfg.liveColor].image,
        slots: primary.slots,
        pins,
        hosts: pulumi.output(hosts),
        // What `npm run destroy` names for removal: the images the stack put on its hosts, and no other.
        hostImages: [...new Set(deployed.flatMap(({ app }) => app.images))],
        // The generated keys, secrets (`pulumi stack output apiKey --show-secrets`); none when auth is off.
        ...(keys ? { apiKey: keys.generated, opsApiKey: keys.ops } : {}),
        // null rather than undefined where there is none (plain HTTP, acme): the engine warns about an
        // undefined stack output and drops it.
        caRootCert: primary.caRootCert.apply((c) => c ?? null),
        // The first host is the hub (index.ts): the URLs above are its.
        ...(queue ? { fleet: queue.address.apply((redisAddress): FleetOutput => ({ hub: cfg.fleet.hub, redisAddress, redisPort: queue.port })) } : {}),
    } satisfies Inputs<StackOutputs>;
}
