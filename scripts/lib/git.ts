// The default release: the app context's git HEAD, so the image is rebuilt from a commit anyone can
// check out again ("workdir" deploys uncommitted files and is not reproducible elsewhere).
import { execFileSync } from "child_process";
import { OpsError } from "./errors";

export const WORKDIR = "workdir";

export interface DefaultRelease {
    readonly release: string;
    /** A warning for the operator, e.g. uncommitted changes the release will not contain. */
    readonly note?: string;
}

function git(cwd: string, args: string[]): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export function defaultRelease(appDir: string, workdir: boolean): DefaultRelease {
    if (workdir) return { release: WORKDIR };
    let head: string;
    try {
        head = git(appDir, ["rev-parse", "--short", "HEAD"]);
    } catch (e) {
        const why = (e as { stderr?: string }).stderr?.trim().split("\n")[0] || (e as Error).message;
        throw new OpsError("git", `cannot take the release from git HEAD of ${appDir} (${why}); pass --release R or --workdir`);
    }
    let dirty = "";
    try {
        dirty = git(appDir, ["status", "--porcelain", "--", "."]);
    } catch {
        dirty = "";
    }
    const note = dirty ? `${appDir} has uncommitted changes that release ${head} does not contain (use --workdir to deploy them)` : undefined;
    return { release: head, note };
}
