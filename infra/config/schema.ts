// A config key as one unit: its Pulumi.yaml declaration (type, description, default) and the reader
// that turns a stack's raw value into its typed form. Each section module under infra/config/sections
// (and each cloud's section under infra/clouds/<cloud>/) defines its keys this way; loadConfig reads
// them all, and `npm run gen` writes Pulumi.yaml's config block and docs/configuration.md from the
// same definitions, so the declared defaults and the program's cannot drift.
import type { Reader } from "./reader";

/**
 * How Pulumi.yaml declares a key (pulumi/pulumi sdk/go/common/workspace/project.go, ProjectConfigType:
 * type, items, description, default). The engine fills in the default for a stack that does not set
 * the key, and checks the type, before the program runs.
 */
export interface KeySchema<R = unknown> {
    /** Declared scalar or array type; structured keys leave it out (the engine then takes any value). */
    readonly type?: "string" | "integer" | "boolean" | "array";
    readonly items?: { readonly type: "string" };
    readonly description: string;
    /** The stack's value when it does not set the key: the one default. */
    readonly default: R;
}

/** A placement a cloud section can read: what the capacity keys (candidates, placements) need of a cloud. */
export interface PlacementReading<S = unknown, P = unknown> {
    /** The cloud's name, as gpu-hosts:clouds says it. */
    readonly cloud: string;
    /** The entry's shape, for messages: "{region, zone?, instanceType?, spot?}". */
    readonly shape: string;
    /**
     * One entry at `at`: every field checked, omitted ones from the cloud's section and `spot`, and
     * checked against the catalog when `check`; undefined when it is not an object or lacks its location.
     */
    entry(r: Reader, at: string, v: unknown, section: S, spot: boolean, check: boolean, extra?: readonly string[]): P | undefined;
}

/** What a key's reader may know of the rest of the stack; the loader reads these first. */
export interface ReadContext {
    /** Every host kind there is: "local", each cloud of the registry, "ssh". */
    readonly hostKinds: readonly string[];
    /** Host kinds in gpu-hosts:clouds. */
    readonly clouds: readonly string[];
    /** Whether a host kind is in gpu-hosts:clouds. */
    enabled(kind: string): boolean;
    /** gpu-hosts:spot: a cloud placement's market when it does not say. */
    readonly spot: boolean;
    /** The clouds the registry knows, in its order, with how to read their placements. */
    readonly placements: readonly PlacementReading[];
}

/**
 * One config key: its declaration and its reader. `R` is the value's form in Pulumi.yaml, `T` its
 * typed form; they are the same but for a key whose text is parsed (apiKeys: "a,b" -> ["a", "b"]).
 */
export interface ConfigKey<T, R = T> {
    /** The key without the namespace, as operators type it after "gpu-hosts:". */
    readonly key: string;
    readonly schema: KeySchema<R>;
    /**
     * The typed value from the stack's raw value: the text of a string-typed key, the JSON-decoded
     * value of any other; the schema default when the stack does not set the key. `fallback` is the
     * typed default, what a bad value reads as, so that checking goes on.
     */
    read(r: Reader, raw: unknown, ctx: ReadContext, fallback: T): T;
    /** The typed default when it is not the schema default itself. */
    readonly fallback?: T;
}

/** Declares a key; the identity, for inference of T. */
export function defineKey<T, R = T>(k: ConfigKey<T, R>): ConfigKey<T, R> {
    return k;
}

/** The typed default of a key. */
export function fallbackOf<T, R>(k: ConfigKey<T, R>): T {
    return k.fallback !== undefined ? k.fallback : (k.schema.default as unknown as T);
}
