// Whether a stack has config changes that no update has applied yet, from its history alone: the
// config its last update ran with (`pulumi stack history` keeps every update's config, Pulumi.yaml's
// defaults included) against the config now. A swap records itself with an update of the routes only
// (`pulumi up --target`), which leaves every other resource as it is; it still refuses to run over a
// config nobody has applied, as it did when it previewed the whole stack. This costs one CLI call and
// no run of the program, so the check is done before any traffic moves. What it cannot see is a change
// of the program itself (a new version of gpu-hosts, an edit of auth/); the targeted update applies
// none of that, and the next `npm run up` shows it. Pure: records in, a verdict out.
import type { ConfigEntry, UpdateRecord } from "./stackOps";

/** Kinds of operation that change neither the resources' inputs nor the config they were made with. */
const READ_ONLY = new Set(["refresh", "preview"]);

/** How many history entries the check reads: enough to see past the refreshes `recover` runs. */
export const HISTORY_DEPTH = 10;

export type ConfigVerdict =
    /** The config is the one the last update applied. */
    | { readonly ok: true; readonly since: UpdateRecord }
    /** Why the config may have changes no update applied. */
    | { readonly ok: false; readonly why: string };

const same = (a: ConfigEntry | undefined, b: ConfigEntry | undefined) =>
    a !== undefined && b !== undefined && a.value === b.value && a.secret === b.secret;

/** The keys whose value or secrecy differs, or that only one side has, sorted; never a value. */
export function changedKeys(before: Readonly<Record<string, ConfigEntry>>, now: Readonly<Record<string, ConfigEntry>>): string[] {
    const keys = new Set([...Object.keys(before), ...Object.keys(now)]);
    return [...keys].filter((k) => !same(before[k], now[k])).sort();
}

/**
 * Compares `now` (the stack's config, every key) with the config of the newest update in `history`
 * (newest first; refreshes and previews skipped). Not ok when that update did not succeed, when there
 * is none in the entries read, or when any key differs.
 */
export function configSinceLastUpdate(history: readonly UpdateRecord[], now: Readonly<Record<string, ConfigEntry>>): ConfigVerdict {
    const last = history.find((u) => !READ_ONLY.has(u.kind));
    if (!last) return { ok: false, why: `no update in its last ${history.length} operation(s) to compare its config with` };
    if (last.kind !== "update") return { ok: false, why: `its last operation was a ${last.kind} (${last.result}), not an update` };
    if (last.result !== "succeeded") return { ok: false, why: `its last update ${last.result === "failed" ? "failed" : `is ${last.result}`}` };
    const changed = changedKeys(last.config, now);
    if (changed.length) return { ok: false, why: `its config changed since the last update (${changed.join(", ")})` };
    return { ok: true, since: last };
}
