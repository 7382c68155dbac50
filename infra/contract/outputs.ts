// Stack outputs: a typed contract. The program builds them here (stackOutputs, checked against the
// types with `satisfies`) and the operator scripts read them back through the one parser here
// (parseStackOutputs), so no script cuts a path out of a URL or guesses a field. Every URL comes from
// the host's AppStack, which knows the scheme its proxy really serves.
//
// The values are in every deployed stack's state: a changed key or value shows as an output change
// on the next `pulumi up`, and a script of an older version reads it. Add fields; rename none.
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { HOST_KINDS } from "../clouds";
import { Color, HostKind, LOCAL, SSH, otherColor } from "../vocabulary";
import type { CloudDetails, CloudKind, DetailsOf, HostDetailsInput, Inputs, RemoteKind, ServerDetails } from "./details";
import type { KeptPins } from "../service/pin";
import { PinsOutput, isObject, readPins } from "./pins";
import type { HostRole } from "../config/sections/fleet";

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

/** What the outputs read from a host's app (an AppStack has it). */
export interface AppSource {
    readonly liveUrl: pulumi.Output<string>;
    readonly idleUrl: pulumi.Output<string>;
    readonly docsUrl: pulumi.Output<string>;
    readonly healthUrl: pulumi.Output<string>;
    readonly idleHealthUrl: pulumi.Output<string>;
    readonly slots: SlotsOutput;
    readonly caRootCert: pulumi.Output<string | undefined>;
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

// ---- The scripts' side: raw outputs in, checked field by field, typed outputs out. ----

/** Outputs that do not have the shape the scripts rely on: the ones missing, and every other problem. */
export class OutputsError extends Error {
    constructor(readonly missing: readonly string[], readonly problems: readonly string[]) {
        super([...missing.map((k) => `no output "${k}"`), ...problems].join("; "));
        this.name = "OutputsError";
    }
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
const isHostKind = (v: unknown): v is HostKind => (HOST_KINDS as readonly unknown[]).includes(v);

/** Reads fields one by one; a bad one is noted and a stand-in returned, so every problem is found in one pass. */
class Fields {
    readonly problems: string[] = [];

    private bad(where: string, allowed: string, got: unknown): void {
        this.problems.push(`${where} must be ${allowed}, got ${show(got)}`);
    }

    text(where: string, v: unknown): string {
        if (typeof v === "string" && v.length > 0) return v;
        this.bad(where, "a non-empty string", v);
        return "";
    }

    /** Absent, or a non-empty string. */
    optionalText(where: string, v: unknown): string | undefined {
        return v === undefined ? undefined : this.text(where, v);
    }

    color(where: string, v: unknown): Color {
        if (v === "blue" || v === "green") return v;
        this.bad(where, "\"blue\" or \"green\"", v);
        return "blue";
    }

    /** The idle color: the other one than `live`. */
    idleColor(where: string, v: unknown, liveWhere: string, live: unknown): Color {
        if ((v === "blue" || v === "green") && (live !== "blue" && live !== "green" || v === otherColor(live))) return v;
        this.bad(where, `the other color than ${liveWhere} (${show(live)})`, v);
        return "green";
    }

    bool(where: string, v: unknown): boolean {
        if (typeof v === "boolean") return v;
        this.bad(where, "true or false", v);
        return false;
    }

    role(where: string, v: unknown): HostRole {
        if (v === "hub" || v === "worker") return v;
        this.bad(where, "\"hub\" or \"worker\"", v);
        return "worker";
    }

    port(where: string, v: unknown): number {
        if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535) return v;
        this.bad(where, "a port number (1-65535)", v);
        return 1;
    }

    /** An object, or undefined (noted) for anything else: its fields are then not read. */
    object(where: string, v: unknown, allowed: string): Record<string, unknown> | undefined {
        if (isObject(v)) return v;
        this.bad(where, allowed, v);
        return undefined;
    }

    texts(where: string, v: unknown): string[] {
        if (Array.isArray(v)) return v.map((x, i) => this.text(`${where}[${i}]`, x));
        this.bad(where, "a list of non-empty strings", v);
        return [];
    }

    slots(where: string, v: unknown): SlotsOutput {
        const o = this.object(where, v, "{ blue: {...}, green: {...} }");
        const slot = (c: Color): SlotOutput => {
            const s = o && this.object(`${where}.${c}`, o[c], "{ release, commit, label, image }");
            const field = (f: keyof SlotOutput) => (s ? this.text(`${where}.${c}.${f}`, s[f]) : "");
            return { release: field("release"), commit: field("commit"), label: field("label"), image: field("image") };
        };
        return { blue: slot("blue"), green: slot("green") };
    }
}

/** What a cloud VM adds. */
const cloudDetails = (f: Fields, w: string, h: Readonly<Record<string, unknown>>): CloudDetails => ({
    region: f.text(`${w}.region`, h.region),
    zone: f.text(`${w}.zone`, h.zone),
    instanceType: f.text(`${w}.instanceType`, h.instanceType),
    spot: f.bool(`${w}.spot`, h.spot),
    ssh: f.text(`${w}.ssh`, h.ssh),
});

/** What an operator's server adds. */
const serverDetails = (f: Fields, w: string, h: Readonly<Record<string, unknown>>): ServerDetails => {
    const port = f.port(`${w}.port`, h.port);
    const user = f.text(`${w}.user`, h.user);
    const machineId = f.text(`${w}.machineId`, h.machineId);
    const authorizedKey = f.optionalText(`${w}.authorizedKey`, h.authorizedKey);
    return { port, user, machineId, ...(authorizedKey === undefined ? {} : { authorizedKey }), ssh: f.text(`${w}.ssh`, h.ssh) };
};

function hostOutput(f: Fields, where: string, h: Readonly<Record<string, unknown>>): HostOutput | undefined {
    const field = (k: string) => `${where}.${k}`;
    const kind = h.kind;
    if (!isHostKind(kind)) f.problems.push(`${field("kind")} must be one of ${HOST_KINDS.map(show).join(", ")}, got ${show(kind)}`);
    const caRootCert = f.optionalText(field("caRootCert"), h.caRootCert);
    const base: HostOutputBase = {
        gpu: f.text(field("gpu"), h.gpu),
        address: f.text(field("address"), h.address),
        liveUrl: f.text(field("liveUrl"), h.liveUrl),
        idleUrl: f.text(field("idleUrl"), h.idleUrl),
        healthUrl: f.text(field("healthUrl"), h.healthUrl),
        idleHealthUrl: f.text(field("idleHealthUrl"), h.idleHealthUrl),
        docsUrl: f.text(field("docsUrl"), h.docsUrl),
        apiUrl: f.text(field("apiUrl"), h.apiUrl),
        liveColor: f.color(field("liveColor"), h.liveColor),
        idleColor: f.idleColor(field("idleColor"), h.idleColor, field("liveColor"), h.liveColor),
        slots: f.slots(field("slots"), h.slots),
        ...(caRootCert === undefined ? {} : { caRootCert }),
        ...(h.role === undefined ? {} : { role: f.role(field("role"), h.role) }),
    };
    if (!isHostKind(kind)) return undefined;
    // Every cloud adds the same facts (details.ts DetailsOf), so a new cloud is read here already.
    if (kind === LOCAL) return { kind, ...base };
    if (kind === SSH) return { kind, ...base, ...serverDetails(f, where, h) };
    return { kind, ...base, ...cloudDetails(f, where, h) };
}

/** The outputs every deployed stack has, in the order their absence is reported. */
const REQUIRED = ["liveColor", "idleColor", "liveUrl", "idleUrl", "apiUrl", "docsUrl", "healthUrl", "model", "image", "slots", "hosts", "hostImages"] as const;

/**
 * Checks raw stack outputs (`pulumi stack output --json --show-secrets`, or the Automation API's
 * values) against the contract and returns them typed, built from the checked fields only; throws
 * OutputsError naming every missing output, else every malformed field.
 */
export function parseStackOutputs(raw: Readonly<Record<string, unknown>>): StackOutputs {
    const missing = REQUIRED.filter((k) => raw[k] === undefined || raw[k] === null);
    if (missing.length) throw new OutputsError(missing, []);
    // Read in the order of StackOutputs' fields, so the problems come in that order too.
    const f = new Fields();
    const liveColor = f.color("liveColor", raw.liveColor);
    const idleColor = f.idleColor("idleColor", raw.idleColor, "liveColor", raw.liveColor);
    const urls = {
        liveUrl: f.text("liveUrl", raw.liveUrl),
        idleUrl: f.text("idleUrl", raw.idleUrl),
        apiUrl: f.text("apiUrl", raw.apiUrl),
        docsUrl: f.text("docsUrl", raw.docsUrl),
        healthUrl: f.text("healthUrl", raw.healthUrl),
    };
    const model = f.text("model", raw.model);
    const image = f.text("image", raw.image);
    const slots = f.slots("slots", raw.slots);
    const pins = readPins(raw);
    const hosts: Record<string, HostOutput> = {};
    const hostsRaw = f.object("hosts", raw.hosts, "an object mapping each host name to its outputs");
    if (hostsRaw && Object.keys(hostsRaw).length === 0) f.problems.push("hosts must name at least one host, got {}");
    for (const [name, h] of Object.entries(hostsRaw ?? {})) {
        const o = f.object(`hosts.${name}`, h, "an object");
        const host = o && hostOutput(f, `hosts.${name}`, o);
        if (host) hosts[name] = host;
    }
    const hostImages = f.texts("hostImages", raw.hostImages);
    const apiKey = f.optionalText("apiKey", raw.apiKey);
    const opsApiKey = f.optionalText("opsApiKey", raw.opsApiKey);
    const caRootCert = raw.caRootCert === null ? null : f.optionalText("caRootCert", raw.caRootCert);
    const fleetRaw = raw.fleet === undefined || raw.fleet === null ? undefined : f.object("fleet", raw.fleet, "{ hub, redisAddress, redisPort }");
    const fleet = fleetRaw && {
        hub: f.text("fleet.hub", fleetRaw.hub),
        redisAddress: f.text("fleet.redisAddress", fleetRaw.redisAddress),
        redisPort: f.port("fleet.redisPort", fleetRaw.redisPort),
    };
    if (fleet && hostsRaw && !(fleet.hub in hosts)) f.problems.push(`fleet.hub must name a host of hosts (${Object.keys(hosts).map(show).join(", ")}), got ${show(fleet.hub)}`);
    const outputs: StackOutputs = {
        liveColor,
        idleColor,
        ...urls,
        model,
        image,
        slots,
        pins,
        hosts,
        hostImages,
        ...(apiKey === undefined ? {} : { apiKey }),
        ...(opsApiKey === undefined ? {} : { opsApiKey }),
        ...(caRootCert === undefined ? {} : { caRootCert }),
        ...(fleet === undefined ? {} : { fleet }),
    };
    if (f.problems.length) throw new OutputsError([], f.problems);
    return outputs;
}
