// Stack outputs, the scripts' side: raw outputs in (`pulumi stack output --json --show-secrets`, or
// the Automation API's values), checked field by field against the contract's types
// (./outputs.ts), typed outputs out. Every problem is found in one pass and reported together.
import type { Color, HostKind } from "../vocabulary";
import { LOCAL, SSH, otherColor } from "../vocabulary";
import { HOST_KINDS } from "../clouds";
import type { HostRole } from "../config/sections/fleet";
import type { CloudDetails, ServerDetails } from "./details";
import type { HostOutput, HostOutputBase, SlotOutput, SlotsOutput, StackOutputs } from "./outputs";
import { isObject, readPins } from "./pins";

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
