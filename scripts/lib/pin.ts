// Pinning for the operator scripts: the program's own pinning (infra/service/pin.ts: "workdir" is the
// app context on disk now, a git ref the commit it names now) with the scripts' errors, plus sharing:
// a workdir pin of a stack that other machines deploy (a teammate, CI) is pushed to origin under
// refs/gpu-hosts/snapshots/<commit> before anything is deployed, so every clone's program can fetch it
// (infra/service/git.ts fetchCommit). The stack config then holds {release, commit}.
import { SlotConfig } from "../../infra/config";
import { RELEASE } from "../../infra/validators";
import { ORIGIN, PinError, SNAPSHOT_REFS, git, gitError, hasRemote, repoOf } from "../../infra/service/git";
import * as pin from "../../infra/service/pin";
import { OpsError } from "./errors";

export { SNAPSHOT_REFS } from "../../infra/service/git";
export const WORKDIR = pin.WORKDIR;

/** Runs a pinning step, turning its PinError into the scripts' one-line OpsError. */
function asOps<T>(fn: () => T, usage: (message: string) => string = (m) => m): T {
    try {
        return fn();
    } catch (e) {
        if (!(e instanceof PinError)) throw e;
        throw new OpsError(e.kind, e.kind === "usage" ? usage(e.message) : e.message);
    }
}

/** The app context on disk as a commit (HEAD when unchanged), kept under refs/gpu-hosts/snapshots/. */
export function snapshotWorkdir(contextDir: string): string {
    return asOps(() => pin.snapshotWorkdir(contextDir));
}

/** The commit `ref` names now; it must hold the app context. */
export function resolveRef(contextDir: string, ref: string): string {
    return asOps(() => pin.resolveRef(contextDir, ref), (m) => `release ${m}: use --workdir, or a commit, tag or branch that contains the app context`);
}

/** Pins a release name: "workdir" to the context on disk now, anything else to the commit it names. */
export function pinRelease(contextDir: string, release: string): SlotConfig {
    if (!RELEASE.re.test(release)) throw new OpsError("usage", `release must be ${RELEASE.allowed}, got ${JSON.stringify(release)}`);
    return release === WORKDIR ? { release, commit: snapshotWorkdir(contextDir) } : { release, commit: resolveRef(contextDir, release) };
}

/**
 * Makes a workdir pin fetchable by every machine that deploys `stackName`: pushes it to origin as
 * refs/gpu-hosts/snapshots/<commit> (with the unpushed commits it sits on). Returns a note for the
 * operator, or undefined. Nothing to share: a ref's pin (its commit is where the ref is), and the
 * `local` stack, whose state lives in this clone (stackOps.ts stackEnv). No origin: this clone is the
 * only one, noted. A refused push throws: the release would deploy what no other clone can build,
 * so nothing is deployed.
 */
export function sharePin(contextDir: string, pinned: SlotConfig, stackName: string): string | undefined {
    if (pinned.release !== WORKDIR || stackName === "local") return undefined;
    const { top } = asOps(() => repoOf(contextDir));
    const ref = `${SNAPSHOT_REFS}/${pinned.commit}`;
    if (!hasRemote(top)) return `${top} has no remote "${ORIGIN}": the snapshot ${pinned.commit} exists only in this clone, so only this clone can update stack ${stackName}`;
    try {
        git(top, ["push", "--quiet", ORIGIN, `${pinned.commit}:${ref}`], { timeoutMs: 300_000 });
    } catch (e) {
        throw new OpsError("git", `cannot push the snapshot to ${ORIGIN} (git push ${ORIGIN} ${pinned.commit}:${ref}: ${gitError(e)}): ` +
            `other clones and CI could not build stack ${stackName}, so nothing was released; fix the access to ${ORIGIN} and release again, ` +
            "or commit and push the change and release that commit (--release <ref>)");
    }
    return undefined;
}

/**
 * The Pinner of a command on stack `stackName`: pins (pinRelease), then shares the pin (sharePin),
 * logging its note; a refused push fails the pin, before any config is written.
 */
export function pinnerFor(stackName: string, log: (line: string) => void): (contextDir: string, release: string) => SlotConfig {
    return (contextDir, release) => {
        const pinned = pinRelease(contextDir, release);
        const note = sharePin(contextDir, pinned, stackName);
        if (note) log(`note: ${note}`);
        return pinned;
    };
}

/** Whether the uncommitted state of the context differs from HEAD: a note for a release from HEAD. */
export function dirtyNote(contextDir: string, ref: string): string | undefined {
    const { top, prefix } = asOps(() => repoOf(contextDir));
    const dirty = git(top, ["status", "--porcelain", "--", prefix || "."]);
    return dirty ? `${contextDir} has uncommitted changes that release ${ref} does not contain (use --workdir to deploy them)` : undefined;
}
