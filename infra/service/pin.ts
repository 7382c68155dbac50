// Pinning: a release name becomes a commit that cannot move, once, when it is set; and which pin
// each slot keeps from one update to the next, so that no later `up`, no edit on disk and no later
// commit moves a slot without a release.
//   "workdir"  -> the app context as it is on disk now: HEAD when the context is as committed (a commit
//                 other clones can fetch), else a snapshot, a commit object whose tree is HEAD's with the
//                 context replaced by the files on disk (tracked and untracked, minus .gitignore'd ones),
//                 made with a throwaway index (git stash create does the same for tracked files only)
//                 and kept from `git gc` by refs/gpu-hosts/snapshots/<commit>.
//   a git ref  -> the commit it names now (a branch that moves later does not move the slot).
// Both the operator scripts (scripts/lib/pin.ts: `npm run up` and `npm run release` write the pin into
// the config) and the program itself (a new stack under plain `pulumi up`, or a release name set with
// `pulumi config set`) pin with these functions; the program keeps what it pinned in the stack's
// `pins` output and reads it back on the next update (infra/contract/pins.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { AppConfig } from "../config/sections/service";
import type { SlotConfig, SlotsConfig } from "../config/sections/release";
import { COLORS, Color, NAMESPACE } from "../vocabulary";
import { PinError, SNAPSHOT_REFS, git, gitError, hasObject, repoOf } from "./git";
import { appContextPath } from "./release";

export const WORKDIR = "workdir";

/**
 * A commit whose tree is HEAD's with the app context as it is on disk; returns its id: HEAD itself
 * when that is HEAD's own tree. The same context on the same HEAD always gives the same commit.
 * `keep` writes refs/gpu-hosts/snapshots/<commit> (a preview passes false: it keeps nothing).
 */
export function snapshotWorkdir(contextDir: string, keep = true): string {
    const { top, prefix } = repoOf(contextDir);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-snapshot-"));
    // A fixed identity: the snapshot must not depend on (or fail for want of) the operator's git config.
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        GIT_INDEX_FILE: path.join(tmp, "index"),
        GIT_AUTHOR_NAME: "gpu-hosts", GIT_AUTHOR_EMAIL: "gpu-hosts@localhost",
        GIT_COMMITTER_NAME: "gpu-hosts", GIT_COMMITTER_EMAIL: "gpu-hosts@localhost",
    };
    try {
        const head = hasObject(top, "HEAD^{commit}");
        // Dated like HEAD, so an unchanged context on an unchanged HEAD snapshots to the same commit:
        // releasing it again changes nothing.
        const date = head ? git(top, ["show", "-s", "--format=%cI", "HEAD"]) : "1970-01-01T00:00:00Z";
        Object.assign(env, { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
        if (head) git(top, ["read-tree", "HEAD"], { env });
        git(top, ["add", "--all", "--", prefix || "."], { env });
        const tree = git(top, ["write-tree"], { env });
        const commit = head && tree === git(top, ["rev-parse", "HEAD^{tree}"])
            ? git(top, ["rev-parse", "HEAD^{commit}"])
            : git(top, ["commit-tree", tree, ...(head ? ["-p", "HEAD"] : []), "-m", `gpu-hosts: snapshot of ${prefix || "."}/ as it was on disk`], { env });
        if (keep) git(top, ["update-ref", `${SNAPSHOT_REFS}/${commit}`, commit]);
        return commit;
    } catch (e) {
        if (e instanceof PinError) throw e;
        throw new PinError("git", `cannot snapshot ${contextDir} (${gitError(e)})`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** The commit `ref` names now; it must hold the app context. */
export function resolveRef(contextDir: string, ref: string): string {
    const { top, prefix } = repoOf(contextDir);
    try {
        // A validated release name never starts with "-" (infra/validators.ts RELEASE): never an option.
        const commit = git(top, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
        git(top, ["rev-parse", "--verify", "--quiet", `${commit}:${prefix}`]);
        return commit;
    } catch {
        throw new PinError("usage", `${JSON.stringify(ref)} is not a git ref of ${top} that holds ${prefix || "."}/`);
    }
}

/** Pins a release name: "workdir" to the context on disk now, anything else to the commit it names. */
export function pinRelease(contextDir: string, release: string, keep = true): SlotConfig {
    return { release, commit: release === WORKDIR ? snapshotWorkdir(contextDir, keep) : resolveRef(contextDir, release) };
}

/** What the program kept for one slot: the pin it built from, and the config it pinned it from. */
export interface PinRecord {
    /** The release's name the slot was pinned for (gpu-hosts:slots.<color>.release then). */
    readonly release: string;
    /** The commit the slot was pinned to, and runs. */
    readonly commit: string;
    /** gpu-hosts:slots.<color>.commit when it was pinned: "" when unset (the program pinned the name itself). */
    readonly configCommit: string;
}

/** Each slot's kept pin; a slot with none (a new stack) is absent. */
export type KeptPins = Readonly<Partial<Record<Color, PinRecord>>>;

/** Where a slot's commit comes from on this update. */
export type PinDecision =
    /** The slot's config is as it was when the slot was pinned: the kept commit, whatever the ref or the disk say now. */
    | { readonly kind: "kept"; readonly commit: string }
    /** The config names a new commit (`npm run release`, `npm run up`, or `commit` set by hand): that one. */
    | { readonly kind: "config"; readonly commit: string }
    /** A new release name (set with `pulumi config set`, leaving any commit of the old one behind), or a new stack: pin it now. */
    | { readonly kind: "new" };

/**
 * Decides a slot's commit from its config and the pin kept for it. A commit in the config counts only
 * while it is new: once the release name changes and the commit stays, that commit belonged to the old
 * name (stale) and the new name is pinned instead. Pure; the scripts use it to tell what an up will do.
 */
export function decidePin(cfg: SlotConfig, kept: PinRecord | undefined): PinDecision {
    if (kept && cfg.release === kept.release && cfg.commit === kept.configCommit) return { kind: "kept", commit: kept.commit };
    if (cfg.commit !== "" && (!kept || cfg.commit !== kept.configCommit)) return { kind: "config", commit: cfg.commit };
    return { kind: "new" };
}

/**
 * What to write into a slot's config for a pin the scripts made, so that the program builds exactly
 * it: the pin itself, unless it is the very config the kept pin was made from (a config commit the
 * program had set aside as stale, named again): then the release alone, which the program pins anew,
 * to the same commit (a ref that has not moved, or the same files on disk).
 */
export function configFor(pinned: SlotConfig, kept: PinRecord | undefined): SlotConfig {
    const d = decidePin(pinned, kept);
    return d.kind === "kept" && d.commit !== pinned.commit ? { release: pinned.release, commit: "" } : pinned;
}

export interface PinnedSlots {
    /** Each slot's release and the commit it is built from on this update. */
    readonly slots: SlotsConfig;
    /** What the stack keeps for the next update (its `pins` output). */
    readonly records: Readonly<Record<Color, PinRecord>>;
    /** Each slot's decision. */
    readonly decisions: Readonly<Record<Color, PinDecision>>;
}

export interface PinSlotsOptions {
    /** Keep what is pinned now (snapshot refs); false for a preview, which keeps nothing. */
    readonly keep: boolean;
    /** Receives a warning for the operator (pulumi.log.warn in the program). Defaults to none. */
    readonly warn?: (message: string) => void;
    /** Receives a note for the operator (pulumi.log.info in the program). Defaults to none. */
    readonly info?: (message: string) => void;
}

/**
 * Both slots' pins for this update: each slot's decision (decidePin), and the slots with a new release
 * name pinned now, one pin per name (a new stack's two slots run the same snapshot, as `npm run up`
 * pins them). Throws PinError naming the slot's config key when a name cannot be pinned.
 */
export function pinSlots(projectRoot: string, cfg: { readonly app: Pick<AppConfig, "context">; readonly slots: SlotsConfig }, kept: KeptPins, o: PinSlotsOptions): PinnedSlots {
    const contextDir = appContextPath(projectRoot, cfg.app.context);
    const byName = new Map<string, { commit: string; slots: Color[] }>();
    const slots = {} as Record<Color, SlotConfig>;
    const records = {} as Record<Color, PinRecord>;
    const decisions = {} as Record<Color, PinDecision>;
    for (const c of COLORS) {
        const s = cfg.slots[c];
        const d = decidePin(s, kept[c]);
        decisions[c] = d;
        let commit: string;
        if (d.kind !== "new") {
            commit = d.commit;
        } else {
            if (!byName.has(s.release)) {
                try {
                    byName.set(s.release, { commit: pinRelease(contextDir, s.release, o.keep).commit, slots: [] });
                } catch (e) {
                    if (!(e instanceof PinError)) throw e;
                    throw new PinError(e.kind, `${NAMESPACE}:slots.${c}.release: cannot pin ${s.release === WORKDIR ? "the app context on disk" : "it"}: ${e.message}`);
                }
            }
            const pin = byName.get(s.release)!;
            pin.slots.push(c);
            commit = pin.commit;
        }
        slots[c] = { release: s.release, commit };
        records[c] = { release: s.release, commit, configCommit: s.commit };
    }
    for (const [release, pin] of byName) {
        const which = `slot${pin.slots.length > 1 ? "s" : ""} ${pin.slots.join(" and ")}`;
        o.info?.(`${which}: release ${release} pinned to commit ${pin.commit}${o.keep ? ", kept in the stack until the release changes" : " (a preview: the up pins it again)"}`);
        if (o.keep && release === WORKDIR && !isHead(contextDir, pin.commit)) {
            o.warn?.(`${which} run${pin.slots.length > 1 ? "" : "s"} a snapshot of the app context on disk (commit ${pin.commit}) that only this clone has; ` +
                `let other machines build this stack: git push origin ${SNAPSHOT_REFS}/${pin.commit}`);
        }
    }
    return { slots, records, decisions };
}

const isHead = (contextDir: string, commit: string): boolean => {
    const { top } = repoOf(contextDir);
    return hasObject(top, "HEAD^{commit}") && git(top, ["rev-parse", "HEAD^{commit}"]) === commit;
};
