// How a release string maps to a reproducible build: the context directory and an image tag derived
// from the context's content, so an unchanged app is never rebuilt and a slot's image cannot drift.
//   "workdir"  -> the context as it is on disk; tag = sha256 of its files (minus .dockerignore'd ones)
//   a git ref  -> the context's tree at that ref, exported with `git archive`; tag = the git tree id
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export const WORKDIR = "workdir";

export interface BuildSource {
    /** Build context to hand Docker, relative to the project root (Pulumi runs the program there),
     *  so moving the checkout does not look like a change. */
    readonly context: string;
    /** Content-derived image tag. */
    readonly tag: string;
}

/** Patterns from .dockerignore, as simple globs ("*" within a path segment, "**" across). */
function ignoreMatcher(contextDir: string): (rel: string) => boolean {
    const file = path.join(contextDir, ".dockerignore");
    const patterns = fs.existsSync(file)
        ? fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#") && !l.startsWith("!"))
        : [];
    const regexes = patterns.map((p) => {
        const body = p.replace(/^\/+|\/+$/g, "").split("**").map((part) =>
            part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")).join(".*");
        return new RegExp(`^${body}(/.*)?$`);
    });
    return (rel) => rel === ".git" || rel.startsWith(".git/") || regexes.some((r) => r.test(rel));
}

/** sha256 over the sorted relative paths and contents of every file Docker would see. */
export function contextDigest(contextDir: string): string {
    const ignored = ignoreMatcher(contextDir);
    const files: string[] = [];
    const walk = (rel: string) => {
        for (const entry of fs.readdirSync(path.join(contextDir, rel), { withFileTypes: true })) {
            const child = rel ? `${rel}/${entry.name}` : entry.name;
            if (ignored(child)) continue;
            if (entry.isDirectory()) walk(child);
            else if (entry.isFile()) files.push(child);
        }
    };
    walk("");
    const hash = crypto.createHash("sha256");
    for (const f of files.sort()) {
        hash.update(`${f}\0`);
        hash.update(fs.readFileSync(path.join(contextDir, f)));
        hash.update("\0");
    }
    return hash.digest("hex");
}

function git(cwd: string, args: string[]): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/**
 * Resolves a release of the context at `contextDir`. Git refs are exported once into
 * `cacheDir/<tree id>` and reused, so resolving is cheap and deterministic.
 */
export function resolveRelease(contextDir: string, release: string, cacheDir: string): BuildSource {
    if (!fs.existsSync(contextDir)) throw new Error(`app context ${contextDir} does not exist`);
    if (release === WORKDIR) return { context: contextDir, tag: `wd-${contextDigest(contextDir).slice(0, 16)}` };

    let top: string;
    let tree: string;
    try {
        top = git(contextDir, ["rev-parse", "--show-toplevel"]);
        const prefix = path.relative(top, contextDir).split(path.sep).join("/");
        tree = git(top, ["rev-parse", "--verify", "--quiet", `${release}^{commit}:${prefix}`]);
    } catch {
        throw new Error(`release ${JSON.stringify(release)} is not a git ref of ${contextDir}: use "workdir" or a commit, tag or branch that contains the app context`);
    }
    const dest = path.join(cacheDir, tree);
    if (!fs.existsSync(path.join(dest, ".complete"))) {
        fs.rmSync(dest, { recursive: true, force: true });
        fs.mkdirSync(dest, { recursive: true });
        const tar = execFileSync("git", ["archive", "--format=tar", tree], { cwd: top, maxBuffer: 1 << 30 });
        execFileSync("tar", ["-x", "-C", dest], { input: tar });
        fs.writeFileSync(path.join(dest, ".complete"), `${release}\n`);
    }
    const safe = release.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 40);
    return { context: dest, tag: `${safe}-${tree.slice(0, 12)}` };
}

/** Build sources of both slots; a release shared by both slots is resolved once. */
export function resolveSlots(
    projectRoot: string,
    appContext: string,
    slots: { readonly blue: { readonly release: string }; readonly green: { readonly release: string } },
): { blue: BuildSource; green: BuildSource } {
    const contextDir = path.resolve(projectRoot, appContext);
    const cacheDir = path.join(projectRoot, ".pulumi", "releases");
    const resolve = (release: string): BuildSource => {
        const src = resolveRelease(contextDir, release, cacheDir);
        return { ...src, context: path.relative(projectRoot, src.context) || "." };
    };
    const blue = resolve(slots.blue.release);
    const green = slots.green.release === slots.blue.release ? blue : resolve(slots.green.release);
    return { blue, green };
}
