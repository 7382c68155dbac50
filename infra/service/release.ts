// How a slot's pinned release becomes a build: the context is the app directory as it is in the
// slot's git commit, exported once into .pulumi/releases/<tree id>/ and never changed again, and the
// image tag is a digest of exactly the files Docker would send from it. So an edit on disk, a later
// commit or a moved branch cannot reach a slot: only a new pin can (infra/service/pin.ts: a release,
// or a release name set in the config). A pinned commit this clone does not have (a teammate's
// release, a CI runner's first look at the stack) is fetched from origin first.
import ignore from "@balena/dockerignore";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { SlotConfig } from "../config/sections/release";
import { NAMESPACE } from "../vocabulary";
import { ORIGIN, SNAPSHOT_REFS, fetchCommit, git, hasObject, repoOf } from "./git";

export interface BuildSource {
    /** Build context to hand Docker, relative to the project root (Pulumi runs the program there),
     *  so moving the checkout does not look like a change. */
    readonly context: string;
    /** Image tag: the first 16 hex digits of the digest of what Docker would send. */
    readonly tag: string;
    /** The git tree id of the context in the slot's commit. */
    readonly tree: string;
}

/** A commit's short form, for people. */
export const shortCommit = (commit: string): string => commit.slice(0, 12);

/**
 * A pinned release as people and the app see it (APP_RELEASE, /health, each job's processed_by):
 * "workdir@3f2a9c1b0d4e", "v1.2.0@ab12cd34ef56"; the commit alone when it is the release's name.
 * It changes only when the slot's pin does, and the pin changes only when a release sets it.
 */
export const releaseLabel = (r: SlotConfig): string => (r.release === r.commit ? shortCommit(r.commit) : `${r.release}@${shortCommit(r.commit)}`);

/**
 * The files Docker would send for a build of `contextDir` with `dockerfile` (relative to it): every
 * file .dockerignore does not exclude, by Docker's own rules (negation, `**`, leading `/`; the
 * @balena/dockerignore port of moby's patternmatcher), plus the Dockerfile and .dockerignore, which
 * the docker CLI always sends (cli/command/image/build TrimBuildFilesFromExcludes). Sorted, "/"-separated.
 */
export function dockerContextFiles(contextDir: string, dockerfile = "Dockerfile"): string[] {
    const ignoreFile = path.join(contextDir, ".dockerignore");
    const patterns = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, "utf8").split(/\r?\n/) : [];
    const ig = ignore().add(patterns);
    // Without a negation, an ignored directory holds nothing Docker sends: skip it (node_modules).
    const canReinclude = patterns.some((p) => p.trim().startsWith("!"));
    const always = new Set([dockerfile.split(path.sep).join("/"), ".dockerignore"]);
    const files: string[] = [];
    const walk = (rel: string) => {
        for (const entry of fs.readdirSync(path.join(contextDir, rel), { withFileTypes: true })) {
            const child = rel ? `${rel}/${entry.name}` : entry.name;
            if (entry.isDirectory()) {
                if (canReinclude || !ig.ignores(`${child}/`)) walk(child);
            } else if ((entry.isFile() || entry.isSymbolicLink()) && (always.has(child) ? fs.existsSync(path.join(contextDir, child)) : !ig.ignores(child))) {
                files.push(child);
            }
        }
    };
    walk("");
    return files.sort();
}

/** sha256 over the path, executable bit and content of every file Docker would send. */
export function contextDigest(contextDir: string, dockerfile = "Dockerfile"): string {
    const hash = crypto.createHash("sha256");
    for (const f of dockerContextFiles(contextDir, dockerfile)) {
        const file = path.join(contextDir, f);
        const stat = fs.lstatSync(file);
        hash.update(`${f}\0${stat.isSymbolicLink() ? "l" : stat.mode & 0o111 ? "x" : "-"}\0`);
        hash.update(stat.isSymbolicLink() ? fs.readlinkSync(file) : fs.readFileSync(file));
        hash.update("\0");
    }
    return hash.digest("hex");
}

/** The tree id of `prefix` in `commit`, or undefined when `top` lacks either. */
function treeOf(top: string, commit: string, prefix: string): string | undefined {
    try {
        return git(top, ["rev-parse", "--verify", "--quiet", `${commit}^{commit}:${prefix}`]);
    } catch {
        return undefined;
    }
}

/**
 * The build source of `pinned` for the app context `contextDir`: the context's tree in the pinned
 * commit, exported once into `cacheDir/<tree id>` (complete or absent: written aside, then renamed)
 * and tagged by its content. A commit this clone lacks is fetched from origin (git.ts fetchCommit);
 * when that fails too, throws naming the slot and the one command that makes the commit fetchable.
 */
export function buildSource(contextDir: string, slot: string, pinned: SlotConfig, cacheDir: string, dockerfile = "Dockerfile"): BuildSource {
    const what = `slot ${slot} is pinned to commit ${pinned.commit} (release ${JSON.stringify(pinned.release)})`;
    let repo: { top: string; prefix: string };
    try {
        repo = repoOf(contextDir);
    } catch (e) {
        throw new Error(`${NAMESPACE}:app.context: ${(e as Error).message}`);
    }
    const { top, prefix } = repo;
    let tree = treeOf(top, pinned.commit, prefix);
    if (tree === undefined && !hasObject(top, `${pinned.commit}^{commit}`)) {
        const why = fetchCommit(top, pinned.commit);
        if (why !== undefined) {
            throw new Error(`${what}, which ${top} does not have and could not fetch (${why}). ` +
                `In the clone that made the release, make it fetchable: git push ${ORIGIN} ${pinned.commit}:${SNAPSHOT_REFS}/${pinned.commit}`);
        }
        tree = treeOf(top, pinned.commit, prefix);
    }
    if (tree === undefined) throw new Error(`${what}, which does not hold the app context ${prefix || "."}/ of ${top}`);
    const dest = path.join(cacheDir, tree);
    const marker = path.join(dest, ".gpu-hosts-digest");
    if (!fs.existsSync(marker)) {
        const tmp = `${dest}.${process.pid}.tmp`;
        fs.rmSync(tmp, { recursive: true, force: true });
        fs.mkdirSync(tmp, { recursive: true });
        const tar = execFileSync("git", ["archive", "--format=tar", tree], { cwd: top, maxBuffer: 1 << 30 });
        execFileSync("tar", ["-x", "-C", tmp], { input: tar });
        // The digest is taken before the marker exists, so the marker is never part of it.
        const digest = contextDigest(tmp, dockerfile);
        fs.writeFileSync(path.join(tmp, ".gpu-hosts-digest"), `${digest}\n`);
        fs.rmSync(dest, { recursive: true, force: true });
        fs.renameSync(tmp, dest);
    }
    const digest = fs.readFileSync(marker, "utf8").trim();
    return { context: dest, tag: digest.slice(0, 16), tree };
}

/** The app context (gpu-hosts:app.context) as an absolute path; throws naming the key when it does not exist. */
export function appContextPath(projectRoot: string, appContext: string): string {
    const contextDir = path.resolve(projectRoot, appContext);
    if (!fs.existsSync(contextDir)) throw new Error(`${NAMESPACE}:app.context: ${contextDir} does not exist`);
    return contextDir;
}

/** Build sources of both slots; a commit shared by both slots is resolved once. */
export function resolveSlots(
    projectRoot: string,
    appContext: string,
    dockerfile: string,
    slots: { readonly blue: SlotConfig; readonly green: SlotConfig },
): { blue: BuildSource; green: BuildSource } {
    const contextDir = appContextPath(projectRoot, appContext);
    const cacheDir = path.join(projectRoot, ".pulumi", "releases");
    const resolve = (slot: "blue" | "green"): BuildSource => {
        const src = buildSource(contextDir, slot, slots[slot], cacheDir, dockerfile);
        return { ...src, context: path.relative(projectRoot, src.context) || "." };
    };
    const blue = resolve("blue");
    const green = slots.green.commit === slots.blue.commit ? blue : resolve("green");
    return { blue, green };
}
