// Pinning: a release name becomes a commit that cannot move, once, when it is set.
//   "workdir"  -> a snapshot of the app context as it is on disk now: a commit object whose tree is
//                 HEAD's with the context replaced by the files on disk (tracked and untracked, minus
//                 .gitignore'd ones), made with a throwaway index (git stash create does the same for
//                 tracked files only) and kept from `git gc` by refs/gpu-hosts/snapshots/<commit>.
//                 Push that ref namespace to let a teammate's machine build it too.
//   a git ref  -> the commit it names now (a branch that moves later does not move the slot).
// The stack config then holds {release, commit}; the program builds only the commit
// (infra/service/release.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { git, gitError } from "../../infra/service/release";
import { SlotConfig } from "../../infra/config";
import { RELEASE } from "../../infra/validators";
import { OpsError } from "./errors";

export const WORKDIR = "workdir";
/** Where snapshot commits are kept from garbage collection. */
export const SNAPSHOT_REFS = "refs/gpu-hosts/snapshots";

/** The repository root holding `contextDir`, and the context's path inside it ("" for the root). */
function repoOf(contextDir: string): { top: string; prefix: string } {
    let top: string;
    try {
        top = git(contextDir, ["rev-parse", "--show-toplevel"]);
    } catch (e) {
        throw new OpsError("git", `the app context ${contextDir} is not in a git repository (${gitError(e)}): releases are pinned to git commits; run \`git init && git add -A && git commit -m init\` first`);
    }
    const prefix = path.relative(fs.realpathSync(top), fs.realpathSync(contextDir)).split(path.sep).join("/");
    return { top, prefix };
}

const hasHead = (top: string): boolean => {
    try {
        git(top, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
        return true;
    } catch {
        return false;
    }
};

/**
 * A commit whose tree is HEAD's with the app context as it is on disk; returns its id. The same
 * context on the same HEAD always gives the same commit.
 */
export function snapshotWorkdir(contextDir: string): string {
    const { top, prefix } = repoOf(contextDir);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-snapshot-"));
    // A fixed identity: the snapshot must not depend on (or fail for want of) the operator's git config.
    const env = {
        ...process.env,
        GIT_INDEX_FILE: path.join(tmp, "index"),
        GIT_AUTHOR_NAME: "gpu-hosts", GIT_AUTHOR_EMAIL: "gpu-hosts@localhost",
        GIT_COMMITTER_NAME: "gpu-hosts", GIT_COMMITTER_EMAIL: "gpu-hosts@localhost",
    };
    try {
        const head = hasHead(top);
        // Dated like HEAD, so an unchanged context on an unchanged HEAD snapshots to the same commit:
        // releasing it again changes nothing.
        const date = head ? git(top, ["show", "-s", "--format=%cI", "HEAD"]) : "1970-01-01T00:00:00Z";
        Object.assign(env, { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
        if (head) git(top, ["read-tree", "HEAD"], env);
        git(top, ["add", "--all", "--", prefix || "."], env);
        const tree = git(top, ["write-tree"], env);
        const commit = git(top, ["commit-tree", tree, ...(head ? ["-p", "HEAD"] : []), "-m", `gpu-hosts: snapshot of ${prefix || "."}/ as it was on disk`], env);
        git(top, ["update-ref", `${SNAPSHOT_REFS}/${commit}`, commit]);
        return commit;
    } catch (e) {
        if (e instanceof OpsError) throw e;
        throw new OpsError("git", `cannot snapshot ${contextDir} (${gitError(e)})`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** The commit `ref` names now; it must hold the app context. */
export function resolveRef(contextDir: string, ref: string): string {
    const { top, prefix } = repoOf(contextDir);
    try {
        const commit = git(top, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
        git(top, ["rev-parse", "--verify", "--quiet", `${commit}:${prefix}`]);
        return commit;
    } catch {
        throw new OpsError("usage", `release ${JSON.stringify(ref)} is not a git ref of ${top} that holds ${prefix || "."}/: use --workdir, or a commit, tag or branch that contains the app context`);
    }
}

/** Pins a release name: "workdir" to a snapshot taken now, anything else to the commit it names. */
export function pinRelease(contextDir: string, release: string): SlotConfig {
    if (!RELEASE.re.test(release)) throw new OpsError("usage", `release must be ${RELEASE.allowed}, got ${JSON.stringify(release)}`);
    return { release, commit: release === WORKDIR ? snapshotWorkdir(contextDir) : resolveRef(contextDir, release) };
}

/** Whether the uncommitted state of the context differs from HEAD: a note for a release from HEAD. */
export function dirtyNote(contextDir: string, ref: string): string | undefined {
    const { top, prefix } = repoOf(contextDir);
    const dirty = git(top, ["status", "--porcelain", "--", prefix || "."]);
    return dirty ? `${contextDir} has uncommitted changes that release ${ref} does not contain (use --workdir to deploy them)` : undefined;
}
