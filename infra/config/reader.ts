// The config reader: turns the raw key/value strings Pulumi hands the program into typed values,
// collecting every problem instead of stopping at the first (ConfigError lists them all). Each
// read returns a usable value (the default) when the given one is bad, so checking goes on.
import { NAMESPACE } from "../vocabulary";
import type { Pattern } from "../validators";

export class ConfigError extends Error {
    constructor(public readonly problems: readonly string[]) {
        super(`invalid ${NAMESPACE} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

/** A value as a message shows it. */
export const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Collects problems; each reader returns a usable value (the default) so checking continues. */
export class Reader {
    readonly problems: string[] = [];

    constructor(
        private readonly raw: Readonly<Record<string, string | undefined>>,
        /** Whether a key was set with --secret. */
        readonly isSecret: (key: string) => boolean = () => false,
    ) {}

    fail(key: string, allowed: string, got: unknown): void {
        this.problems.push(`${NAMESPACE}:${key} must be ${allowed}, got ${show(got)}`);
    }

    /** The raw value of a top-level key: JSON-decoded where Pulumi serialised a structured value. */
    value(key: string): unknown {
        const text = this.raw[key];
        if (text === undefined) return undefined;
        try {
            return JSON.parse(text);
        } catch {
            return text;
        }
    }

    /** The raw text of a string-typed top-level key (never JSON-decoded: "570" stays a string). */
    text(key: string): string | undefined {
        return this.raw[key];
    }

    string(key: string, v: unknown, fallback: string, pattern: RegExp, allowed: string): string {
        if (v === undefined) return fallback;
        if (typeof v === "string" && pattern.test(v)) return v;
        this.fail(key, allowed, v);
        return fallback;
    }

    /** A string the pattern accepts; `allowed` defaults to the pattern's own words. */
    pattern(key: string, v: unknown, fallback: string, p: Pattern, allowed: string = p.allowed): string {
        return this.string(key, v, fallback, p.re, allowed);
    }

    oneOf<T extends string>(key: string, v: unknown, fallback: T, options: readonly T[]): T {
        if (v === undefined) return fallback;
        if (typeof v === "string" && (options as readonly string[]).includes(v)) return v as T;
        this.fail(key, options.map(show).join(" or "), v);
        return fallback;
    }

    int(key: string, v: unknown, fallback: number, min: number, max: number): number {
        if (v === undefined) return fallback;
        const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
        if (typeof n === "number" && Number.isInteger(n) && n >= min && n <= max) return n;
        this.fail(key, `an integer from ${min} to ${max}`, v);
        return fallback;
    }

    bool(key: string, v: unknown, fallback: boolean): boolean {
        if (v === undefined) return fallback;
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        this.fail(key, "true or false", v);
        return fallback;
    }

    /** An object whose fields are checked one by one; unknown fields are problems too. */
    object<T extends object>(key: string, v: unknown, fallback: T, fields: { [K in keyof T]: (fk: string, fv: unknown, d: T[K]) => T[K] }): T {
        if (v === undefined) return fallback;
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.fail(key, `an object with fields ${Object.keys(fields).join(", ")}`, v);
            return fallback;
        }
        const given = v as Record<string, unknown>;
        for (const k of Object.keys(given)) {
            if (!(k in fields)) this.problems.push(`${NAMESPACE}:${key}.${k} is not a known field; known fields: ${Object.keys(fields).join(", ")}`);
        }
        const out = {} as T;
        for (const k of Object.keys(fields) as (keyof T)[]) {
            out[k] = fields[k](`${key}.${String(k)}`, given[k as string], fallback[k]);
        }
        return out;
    }

    list<T>(key: string, v: unknown, fallback: readonly T[], item: (v: unknown) => v is T, allowed: string, nonEmpty: boolean): readonly T[] {
        if (v === undefined) return fallback;
        if (!Array.isArray(v)) {
            this.fail(key, `a list of ${allowed}`, v);
            return fallback;
        }
        if (nonEmpty && v.length === 0) {
            this.fail(key, `a non-empty list of ${allowed}`, v);
            return fallback;
        }
        const bad = v.filter((x) => !item(x));
        if (bad.length > 0) {
            this.fail(key, `a list of ${allowed}`, bad.length === 1 ? bad[0] : bad);
            return fallback;
        }
        return v as T[];
    }

    command(key: string, v: unknown, fallback: readonly string[]): readonly string[] {
        return this.list(key, v, fallback, (x): x is string => typeof x === "string" && x.length > 0,
            "non-empty strings (exec form, e.g. [\"node\", \"dist/api.js\"])", true);
    }
}
