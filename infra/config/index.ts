// The stack's configuration: one typed object, validated before any resource exists. Each key is
// defined once, with its Pulumi.yaml declaration and its reader, in a section module
// (./sections/*.ts) or its cloud's folder (infra/clouds/<cloud>/section.ts); the rules between keys
// are in ./rules.ts. Pure: takes the raw key/value strings Pulumi hands the program, returns
// StackConfig or throws ConfigError listing every problem at once.
import { CloudName, HostKind, NAMESPACE } from "../vocabulary";
import { CLOUDS, CLOUD_NAMES, HOST_KINDS, PlacementOf, SectionOf } from "../clouds";
import { ConfigError, Reader } from "./reader";
import { ConfigKey, ReadContext, fallbackOf } from "./schema";
import { AccessConfig, apiKeys, auth, tlsKey } from "./sections/access";
import { FallbackConfig, Recorded, fallback, placementsKey } from "./sections/capacity";
import { HostsConfig, cloudsKey, local, ssh, sshPrivateKey } from "./sections/hosts";
import { MachinesConfig, diskGb, nvidiaDriverBranch, spot, sshPublicKey, sshUser } from "./sections/machines";
import { NetworkConfig, apiCidrs, apiPort, idlePort, operatorCidrs, production } from "./sections/network";
import { RegistryConfig, registry, registryPassword } from "./sections/registry";
import { FleetConfig, fleet } from "./sections/fleet";
import { ReleaseConfig, liveColor, slots } from "./sections/release";
import { ServiceConfig, app, images, limits, memoryMb, model, ollama, workerConcurrency } from "./sections/service";
import { checkRules } from "./rules";

export { ConfigError } from "./reader";
export type { AppConfig, ImagePins, LimitsConfig, MemoryConfig, OllamaConfig } from "./sections/service";
export type { SlotConfig, SlotsConfig } from "./sections/release";
export type { LocalConfig, SshHostConfig } from "./sections/hosts";
export type { FallbackConfig, Recorded } from "./sections/capacity";
export type { TlsConfig, TlsMode } from "./sections/access";
export type { RegistryConfig, RegistrySettings } from "./sections/registry";
export type { FleetConfig, FleetSettings, HostRole } from "./sections/fleet";

/**
 * gpu-hosts:placements, written by `npm run deploy`: each moved cloud host's placement by host name
 * ("aws", "aws-2"; read one with infra/clouds/placement.ts recordedPlacement), and skipped hosts.
 */
export type PlacementsConfig = { readonly [host: string]: Recorded<PlacementOf<CloudName>> | readonly string[] | undefined } & { readonly skipped: readonly string[] };

/** The validated config of one stack: every key, typed, defaults applied; one part per section. */
export type StackConfig = { readonly [C in CloudName]: SectionOf<C> } & ServiceConfig & ReleaseConfig & NetworkConfig & MachinesConfig & HostsConfig & AccessConfig & RegistryConfig & FleetConfig & {
    readonly stack: string;
    readonly clouds: readonly HostKind[];
    /** What `npm run deploy` may do when a cloud has no capacity for a host. */
    readonly fallback: FallbackConfig;
    /** Where `npm run deploy` placed each cloud host, by host name (it writes this key); absent: the first candidate. */
    readonly placements: PlacementsConfig;
};

// The keys whose declaration depends on the clouds the registry knows.
const cloudsConfig = cloudsKey(HOST_KINDS);
const tls = tlsKey(CLOUD_NAMES);

/**
 * Every key, in Pulumi.yaml's order. `placements` reads a recorded placement against its cloud's
 * section, so the loader hands it the sections it has read by then.
 */
function keys(sectionOf: (cloud: string) => unknown): readonly ConfigKey<unknown, unknown>[] {
    return [
        cloudsConfig, model, liveColor, slots, images, app, apiPort, idlePort, workerConcurrency, limits, ollama, memoryMb,
        operatorCidrs, apiCidrs, spot, production, sshUser, sshPublicKey, diskGb, nvidiaDriverBranch,
        ...CLOUD_NAMES.map((c) => CLOUDS[c].section),
        fallback, placementsKey(CLOUD_NAMES.map((c) => CLOUDS[c].placements), sectionOf),
        ssh, sshPrivateKey, local, auth, apiKeys, tls, registry, registryPassword, fleet,
    ] as readonly ConfigKey<unknown, unknown>[];
}

/** Every key's declaration, in Pulumi.yaml's order: the one source of Pulumi.yaml's config block and the docs' reference. */
export const CONFIG_KEYS: readonly ConfigKey<unknown, unknown>[] = keys(() => undefined);

/** The keys by section, for the reference in docs/configuration.md. */
export const CONFIG_GROUPS: readonly { readonly title: string; readonly about: string; readonly keys: readonly ConfigKey<unknown, unknown>[] }[] = (() => {
    const k = (name: string) => CONFIG_KEYS.find((x) => x.key === name)!;
    const group = (title: string, about: string, names: readonly string[]) => ({ title, about, keys: names.map(k) });
    return [
        group("Hosts", "Where the service runs: the local Docker engine, cloud VMs, or your own servers over SSH.", ["clouds", "local", "ssh", "sshPrivateKey"]),
        group("Clouds", "Each cloud's own section: where its hosts run, how many (count), and the placements you accept (infra/clouds/<cloud>/section.ts).", CLOUD_NAMES),
        group("Cloud machines", "What every cloud VM gets: market, disk, login and driver.", ["spot", "diskGb", "sshUser", "sshPublicKey", "nvidiaDriverBranch"]),
        group("Capacity", "What `npm run deploy` may do when a cloud has no capacity, and what it chose.", ["fallback", "placements"]),
        group("Releases", "Which release each slot runs, and which slot is live.", ["slots", "liveColor"]),
        group("Service", "What runs on every host, and its limits.", ["app", "model", "images", "workerConcurrency", "limits", "ollama", "memoryMb"]),
        group("Network", "Which ports serve the slots, and who may reach them.", ["apiPort", "idlePort", "apiCidrs", "operatorCidrs", "production"]),
        group("Access", "API keys and HTTPS.", ["auth", "apiKeys", "tls"]),
        group("Registry", "Where every host pulls Docker Hub images from: pull-through mirrors, and a Docker Hub login (anonymous pulls are rate-limited per address).", ["registry", "registryPassword"]),
        group("Fleet", "One endpoint and one queue for every host: the hub serves the API and holds Redis; the other hosts run workers that dial it.", ["fleet"]),
    ];
})();

/** Every key's default, as the program reads it when the stack does not set the key. */
export const DEFAULTS = Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, fallbackOf(k)])) as unknown as Omit<StackConfig, "stack">;

export const KNOWN_KEYS: readonly string[] = CONFIG_KEYS.map((k) => k.key).sort();

/**
 * Validates the raw config of `stack` (keys without the "gpu-hosts:" prefix) and returns the typed
 * config, or throws ConfigError naming every bad key, its value and what is allowed.
 */
export function loadConfig(
    stack: string,
    raw: Readonly<Record<string, string | undefined>>,
    isSecret: (key: string) => boolean = () => false,
): StackConfig {
    const r = new Reader(raw, isSecret);
    for (const k of Object.keys(raw)) {
        if (!KNOWN_KEYS.includes(k)) r.problems.push(`${NAMESPACE}:${k} is not a known key; known keys: ${KNOWN_KEYS.join(", ")}`);
    }
    const values = new Map<string, unknown>();
    const rawOf = (k: ConfigKey<unknown, unknown>) => (k.schema.type === "string" ? r.text(k.key) : r.value(k.key)) ?? k.schema.default;
    const read = (k: ConfigKey<unknown, unknown>, ctx: ReadContext) => {
        const v = k.read(r, rawOf(k), ctx, fallbackOf(k));
        values.set(k.key, v);
        return v;
    };
    // What every other key may depend on: the host kinds, and the market of cloud placements.
    const early: ReadContext = { hostKinds: HOST_KINDS, clouds: [], enabled: () => false, spot: false, placements: [] };
    const clouds = read(cloudsConfig, early) as readonly string[];
    const ctx: ReadContext = {
        hostKinds: HOST_KINDS,
        clouds,
        enabled: (kind) => clouds.includes(kind),
        spot: read(spot, early) as boolean,
        placements: CLOUD_NAMES.map((c) => CLOUDS[c].placements),
    };
    let slotsRead = true;
    for (const k of keys((cloud) => values.get(cloud))) {
        if (values.has(k.key)) continue;
        const before = r.problems.length;
        read(k, ctx);
        if (k.key === slots.key) slotsRead = r.problems.length === before;
    }
    const cfg = { stack, ...Object.fromEntries(values) } as unknown as StackConfig;
    checkRules(r, cfg, slotsRead);
    if (r.problems.length > 0) throw new ConfigError(r.problems);
    return cfg;
}

/** The raw config of this program's namespace, keys stripped of "gpu-hosts:". */
export function namespaced(all: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(all)) {
        if (k.startsWith(`${NAMESPACE}:`)) out[k.slice(NAMESPACE.length + 1)] = v;
    }
    return out;
}
