// The git the releases need, as argument arrays (never a shell string, so no config value is ever
// parsed by a shell): run a command, find the repository of the app context, and fetch a pinned
// commit this clone does not have from `origin`.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** The remote a missing pinned commit is fetched from and a snapshot is pushed to. */
export const ORIGIN = "origin";
/** Where workdir snapshots are kept from `git gc`, here and on origin: refs/gpu-hosts/snapshots/<commit>. */
export const SNAPSHOT_REFS = "refs/gpu-hosts/snapshots";
/** Where a commit fetched for a pin is kept from `git gc`: refs/gpu-hosts/pinned/<commit>. */
export const FETCHED_REFS = "refs/gpu-hosts/pinned";

/** A pin that cannot be made: "usage" for a release name git does not know, "git" for the rest. */
export class PinError extends Error {
    constructor(readonly kind: "git" | "usage", message: string) {
        super(message);
        this.name = "PinError";
    }
}

export interface GitOptions {
    readonly env?: NodeJS.ProcessEnv;
    /** Kill git after this long (a fetch or push over a dead network). Defaults to none. */
    readonly timeoutMs?: number;
}

/** Runs git in `cwd` and returns its trimmed stdout; throws with git's stderr on failure. */
export function git(cwd: string, args: readonly string[], o: GitOptions = {}): string {
    return execFileSync("git", [...args], {
        cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: o.env ?? process.env, maxBuffer: 1 << 26, timeout: o.timeoutMs,
    }).trim();
}

/** git's first stderr line of a failed git() call. */
export function gitError(e: unknown): string {
    const err = e as { stderr?: string; signal?: string; message?: string };
    if (err.signal === "SIGTERM" && !err.stderr) return "timed out";
    return (err.stderr || err.message || String(e)).trim().split("\n")[0].trim();
}

/** The repository root holding `dir`, and `dir`'s path inside it ("" for the root). */
export function repoOf(dir: string): { top: string; prefix: string } {
    let top: string;
    try {
        top = git(dir, ["rev-parse", "--show-toplevel"]);
    } catch (e) {
        throw new PinError("git", `the app context ${dir} is not in a git repository (${gitError(e)}); releases are pinned to git commits: ` +
            "run `git init && git add -A && git commit -m init` first");
    }
    const prefix = path.relative(fs.realpathSync(top), fs.realpathSync(dir)).split(path.sep).join("/");
    return { top, prefix };
}

/** Whether `rev` names an object of `top` (rev is a full id or a ref expression, never an option). */
export function hasObject(top: string, rev: string): boolean {
    try {
        git(top, ["rev-parse", "--verify", "--quiet", rev]);
        return true;
    } catch {
        return false;
    }
}

/** Whether `top` has a remote named `name`. */
export function hasRemote(top: string, name = ORIGIN): boolean {
    return git(top, ["remote"]).split("\n").includes(name);
}

/**
 * Fetches `commit` from origin into `top`, kept under refs/gpu-hosts/pinned/<commit>; returns
 * undefined once the commit is here, or why it is not. By its id: a server gives any commit that is
 * the tip of one of its refs (a pushed snapshot: refs/gpu-hosts/snapshots/<commit>), and under
 * protocol v2 (git's default since 2.26, and GitHub's) any commit a ref reaches (a tag, a branch that
 * has moved on). No prompt (the engine owns the terminal), and a bound on a dead network.
 */
export function fetchCommit(top: string, commit: string, timeoutMs = 120_000): string | undefined {
    if (!hasRemote(top)) return `${top} has no remote "${ORIGIN}" to fetch it from`;
    try {
        git(top, ["fetch", "--quiet", "--no-tags", ORIGIN, `+${commit}:${FETCHED_REFS}/${commit}`], { env: { ...process.env, GIT_TERMINAL_PROMPT: "0" }, timeoutMs });
    } catch (e) {
        return `git fetch ${ORIGIN} ${commit}: ${gitError(e)}`;
    }
    return hasObject(top, `${commit}^{commit}`) ? undefined : `git fetch ${ORIGIN} ${commit}: not a commit`;
}
