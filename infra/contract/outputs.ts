// Stack outputs: a typed contract. The program builds them here (stackOutputs) and the operator
// scripts read them back through the one parser here (parseStackOutputs), so no script cuts a path
// out of a URL or guesses a field. Every URL comes from the host's AppStack, which knows the scheme
// its proxy really serves.
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../config";
import { HostKind } from "../vocabulary";
import { COLORS, Color, otherColor } from "../vocabulary";
import type { AppStack } from "../service/appStack";
import type { GpuHost } from "../hosts/gpuHost";
import type { StackApiKeys } from "../service/access";

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

/** One host in the `hosts` output. */
export interface HostOutput {
    readonly kind: HostKind;
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
    readonly slots: Readonly<Record<Color, SlotOutput>>;
    /** PEM of the host's internal CA root (tls mode "internal"), for clients to pin. */
    readonly caRootCert?: string;
    /** Kind-specific facts (region, zone, instanceType, spot, ssh...). */
    readonly [detail: string]: unknown;
}

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
    readonly slots: Readonly<Record<Color, SlotOutput>>;
    readonly hosts: Readonly<Record<string, HostOutput>>;
    /** Every image the stack put on its hosts, for clean-up advice. */
    readonly hostImages: readonly string[];
    /** The generated client API key (secret). */
    readonly apiKey?: string;
    /** The key the operator scripts' checks use: a rate-limit bucket of its own (secret). */
    readonly opsApiKey?: string;
    readonly caRootCert?: string | null;
}

/** The program's outputs, Inputs of the StackOutputs shape. */
export function stackOutputs(cfg: StackConfig, deployed: readonly { host: GpuHost; app: AppStack }[], keys?: StackApiKeys) {
    const idleColor = otherColor(cfg.liveColor);
    const primary = deployed[0].app;
    const hosts: Record<string, pulumi.Input<Record<string, unknown>>> = {};
    for (const { host, app } of deployed) {
        hosts[host.name] = {
            kind: host.kind,
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
            ...(host.details ?? {}),
        };
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
        hosts: pulumi.output(hosts),
        // What `npm run destroy` names for removal: the images the stack put on its hosts, and no other.
        hostImages: [...new Set(deployed.flatMap(({ app }) => app.images))],
        // The generated keys, secrets (`pulumi stack output apiKey --show-secrets`); none when auth is off.
        ...(keys ? { apiKey: keys.generated, opsApiKey: keys.ops } : {}),
        // null rather than undefined where there is none (plain HTTP, acme): the engine warns about an
        // undefined stack output and drops it.
        caRootCert: primary.caRootCert.apply((c) => c ?? null),
    };
}

/** Outputs that do not have the shape the scripts rely on; `problems` names each at once. */
export class OutputsError extends Error {
    constructor(readonly missing: readonly string[], readonly problems: readonly string[]) {
        super([...missing.map((k) => `no output "${k}"`), ...problems].join("; "));
        this.name = "OutputsError";
    }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isColor = (v: unknown): v is Color => v === "blue" || v === "green";
const isText = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/**
 * Checks raw stack outputs (`pulumi stack output --json --show-secrets`, or the Automation API's
 * values) against the contract and returns them typed; throws OutputsError listing every missing or
 * malformed field.
 */
export function parseStackOutputs(raw: Record<string, unknown>): StackOutputs {
    const required = ["liveColor", "idleColor", "idleUrl", "slots", "hosts"];
    const missing = required.filter((k) => raw[k] === undefined || raw[k] === null);
    if (missing.length) throw new OutputsError(missing, []);
    const problems: string[] = [];
    const { liveColor, idleColor, hosts } = raw;
    if (!isColor(liveColor)) problems.push(`liveColor must be "blue" or "green", got ${JSON.stringify(liveColor)}`);
    if (!isColor(idleColor) || (isColor(liveColor) && idleColor !== otherColor(liveColor))) {
        problems.push(`idleColor must be the other color than liveColor (${JSON.stringify(liveColor)}), got ${JSON.stringify(idleColor)}`);
    }
    const slotsOf = (where: string, v: unknown) => {
        for (const c of COLORS) {
            const s = isObject(v) ? v[c] : undefined;
            for (const f of ["release", "commit", "label", "image"] as const) {
                if (!isObject(s) || !isText(s[f])) problems.push(`${where}.${c}.${f} must be a non-empty string, got ${JSON.stringify(isObject(s) ? s[f] : s)}`);
            }
        }
    };
    slotsOf("slots", raw.slots);
    if (!isObject(hosts) || Object.keys(hosts).length === 0) {
        problems.push(`hosts must map each host name to its outputs, got ${JSON.stringify(hosts)}`);
    } else {
        for (const [name, h] of Object.entries(hosts)) {
            if (!isObject(h)) {
                problems.push(`hosts.${name} must be an object, got ${JSON.stringify(h)}`);
                continue;
            }
            for (const f of ["liveUrl", "idleUrl", "healthUrl", "idleHealthUrl", "address", "kind"]) {
                if (!isText(h[f])) problems.push(`hosts.${name}.${f} must be a non-empty string, got ${JSON.stringify(h[f])}`);
            }
            slotsOf(`hosts.${name}.slots`, h.slots);
        }
    }
    if (problems.length) throw new OutputsError([], problems);
    return raw as unknown as StackOutputs;
}
