// The real Pulumi CLI for test/engine.test.ts: where it is, how to run it against a throwaway file
// backend, and the Node.js language host it runs programs with.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findTool, isCI } from "../helpers/tools";

export const REPO = path.resolve(__dirname, "..", "..");
/** The stand-in Node.js language host (see its header): used only when no real one is found. */
export const STAND_IN_LANGHOST_DIR = path.join(__dirname, "langhost");

export interface Engine {
    /** Absolute path of the `pulumi` binary. */
    readonly bin: string;
    /** Directory holding bin/pulumi, as the Automation API's PulumiCommand wants it. */
    readonly root: string;
    /** `pulumi version`, e.g. v3.259.0. */
    readonly version: string;
    /** Where it came from: "installed" (on PATH) or "built" (scripts/engine.sh). */
    readonly source: "installed" | "built";
    /** Path of the real pulumi-language-nodejs, or undefined when the stand-in is used. */
    readonly realLangHost?: string;
}

function isLauncher(p: string): boolean {
    try {
        return /node_modules[\\/]pulumi[\\/]run\.js$/.test(fs.realpathSync(p));
    } catch {
        return false;
    }
}

function launcherVersion(): string | undefined {
    try {
        return JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", "pulumi", "package.json"), "utf8")).version;
    } catch {
        return undefined;
    }
}

/** Where scripts/engine.sh installs the built CLI: the npm launcher's cache for its own version. */
export function builtCliPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const v = launcherVersion();
    if (!v) return undefined;
    // The user's real home: test/helpers/setup.ts points $HOME (and so os.homedir()) at a temp dir.
    const home = env.PULUMI_HOME || path.join(os.userInfo().homedir, ".pulumi");
    return path.join(home, "versions", v, "bin", "pulumi");
}

function executable(p: string): boolean {
    try {
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile() && fs.statSync(p).size > 0;
    } catch {
        return false;
    }
}

/** The engine scripts/engine.sh would pick: an installed CLI on PATH first, else the built one. */
export function findEngine(): Engine | undefined {
    let bin: string | undefined;
    let source: Engine["source"] = "installed";
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const p = dir && path.join(dir, "pulumi");
        if (p && executable(p) && !isLauncher(p) && fs.realpathSync(p) !== builtCliPath()) {
            bin = p;
            break;
        }
    }
    if (!bin) {
        const built = builtCliPath();
        if (!built || !executable(built)) return undefined;
        bin = built;
        source = "built";
    }
    const r = spawnSync(bin, ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
    if (r.status !== 0) return undefined;
    const beside = path.join(path.dirname(bin), "pulumi-language-nodejs");
    const realLangHost = executable(beside) ? beside : findTool("pulumi-language-nodejs");
    return { bin, root: path.dirname(path.dirname(bin)), version: r.stdout.trim(), source, realLangHost };
}

/** The engine, or: under CI=true a failure, elsewhere a skip that says how to get one. */
export function requireEngine(ctx: Mocha.Context): Engine {
    const e = findEngine();
    if (e) return e;
    const why = "no Pulumi CLI: none installed on PATH and none built (run `bash scripts/engine.sh`)";
    if (isCI()) throw new Error(`${why}; CI=true requires the real engine`);
    console.warn(`      skipping: ${why}`);
    return ctx.skip();
}

/**
 * Environment for the CLI in a test: a file backend and PULUMI_HOME of its own under `tmp`, an empty
 * passphrase, no downloads, and the stand-in language host on PATH when there is no real one.
 */
export function engineEnv(engine: Engine, tmp: string, extra: Record<string, string> = {}): Record<string, string> {
    const pathDirs = [path.dirname(engine.bin), ...(engine.realLangHost ? [] : [STAND_IN_LANGHOST_DIR]), process.env.PATH ?? ""];
    return {
        PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
        PULUMI_HOME: path.join(tmp, "home"),
        PULUMI_CONFIG_PASSPHRASE: "",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
        PATH: pathDirs.join(path.delimiter),
        ...extra,
    };
}

export interface CliResult {
    readonly code: number;
    /** stdout and stderr together, as an operator sees them. */
    readonly output: string;
    readonly ms: number;
}

/** Runs the CLI (async, so stand-in servers in this process keep answering). */
export function runCli(engine: Engine, args: string[], o: { cwd: string; env: Record<string, string> }): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve) => {
        execFile(engine.bin, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, output: `${stdout}${stderr}`, ms: Date.now() - started });
        });
    });
}

/** A fresh temp dir with state/ and home/ for engineEnv. */
export function tempEngineDir(prefix: string): string {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.mkdirSync(path.join(tmp, "state"));
    fs.mkdirSync(path.join(tmp, "home"));
    return tmp;
}

/** The language host in use, for test titles and logs. */
export function langHostLabel(engine: Engine): string {
    return engine.realLangHost ? `pulumi-language-nodejs at ${engine.realLangHost}` : "the stand-in language host test/engine/langhost";
}
