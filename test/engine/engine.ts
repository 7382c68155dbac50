// The real Pulumi engine for the engine suites: the CLI, the Node.js language host beside it, and
// the provider plugins, as ../shared/engine/install.sh (run by .ci/run and scripts/engine.sh) puts
// them in $PULUMI_HOME (default ~/.pulumi): the CLI where the pinned `pulumi` npm launcher runs it
// (versions/<launcher version>/bin), the plugins under plugins/. Each test runs it against a
// throwaway file backend; tracked files are never written.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isCI } from "../helpers/tools";

export const REPO = path.resolve(__dirname, "..", "..");

export interface Engine {
    /** Absolute path of the `pulumi` binary. */
    readonly bin: string;
    /** Directory holding bin/pulumi, as the Automation API's PulumiCommand wants it. */
    readonly root: string;
    /** `pulumi version`, e.g. v3.259.0. */
    readonly version: string;
    /** The PULUMI_HOME holding the provider plugins. */
    readonly home: string;
}

function launcherVersion(): string | undefined {
    try {
        return JSON.parse(fs.readFileSync(path.join(REPO, "node_modules", "pulumi", "package.json"), "utf8")).version;
    } catch {
        return undefined;
    }
}

/** The operator's PULUMI_HOME (test/helpers/setup.ts points $HOME at a temp dir; this is the real one). */
export function pulumiHome(env: NodeJS.ProcessEnv = process.env): string {
    return env.PULUMI_HOME || path.join(os.userInfo().homedir, ".pulumi");
}

const executable = (p: string) => {
    try {
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile();
    } catch {
        return false;
    }
};

/** The installed engine, or why there is none. */
export function findEngine(): Engine | string {
    const v = launcherVersion();
    if (!v) return "node_modules/pulumi is missing (npm ci)";
    const home = pulumiHome();
    const bin = path.join(home, "versions", v, "bin", "pulumi");
    if (!executable(bin)) return `no Pulumi CLI at ${bin}`;
    if (!executable(path.join(path.dirname(bin), "pulumi-language-nodejs"))) return `no Node.js language host beside ${bin}`;
    const r = spawnSync(bin, ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
    if (r.status !== 0) return `${bin} version failed: ${r.stderr}`;
    return { bin, root: path.dirname(path.dirname(bin)), version: r.stdout.trim(), home };
}

/** The engine, or: under CI=true a failure, elsewhere a skip that says how to get one. */
export function requireEngine(ctx: Mocha.Context): Engine {
    const e = findEngine();
    if (typeof e !== "string") return e;
    const why = `${e}: install the engine with \`bash scripts/engine.sh\``;
    if (isCI()) throw new Error(`${why}; CI=true requires the real engine`);
    console.warn(`      skipping: ${why}`);
    return ctx.skip();
}

export interface EngineEnvOptions {
    /**
     * Give the engine the installed provider plugins (PULUMI_HOME is the operator's). Without them
     * PULUMI_HOME is a fresh one in `tmp`, so a program stops at its first provider. Defaults to false.
     */
    readonly plugins?: boolean;
}

/** Environment for the CLI in a test: a file backend under `tmp`, an empty passphrase, no downloads. */
export function engineEnv(engine: Engine, tmp: string, o: EngineEnvOptions = {}): Record<string, string> {
    return {
        PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
        PULUMI_HOME: o.plugins ? engine.home : path.join(tmp, "home"),
        PULUMI_CONFIG_PASSPHRASE: "",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
        // The language host beside the CLI, as the npm launcher arranges it.
        PATH: [path.dirname(engine.bin), process.env.PATH ?? ""].join(path.delimiter),
    };
}

export interface CliResult {
    readonly code: number;
    /** stdout and stderr together, as an operator sees them. */
    readonly output: string;
    /** stdout alone (a `--json` answer, without the engine's diagnostics on stderr). */
    readonly stdout: string;
    readonly ms: number;
}

/** Runs the CLI (async, so stand-in servers in this process keep answering). */
export function runCli(engine: Engine, args: string[], o: { cwd: string; env: Record<string, string> }): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve) => {
        execFile(engine.bin, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, output: `${stdout}${stderr}`, stdout: `${stdout}`, ms: Date.now() - started });
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

/**
 * Sets `env` on this process (openStack, like the scripts, takes the CLI's environment from it) and
 * returns what puts the old values back.
 */
export function setProcessEnv(env: Readonly<Record<string, string>>): () => void {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    return () => {
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    };
}

/**
 * A project directory `workDir` for a test program that stays in the repo (it imports the real
 * program code by relative path): its Pulumi.yaml, an index.js that requires the repo's, and the
 * repo's node_modules. Only the project and stack files live in `workDir`, so no test writes a
 * tracked file.
 */
export function linkRepoProgram(program: string, workDir: string): void {
    fs.mkdirSync(workDir);
    fs.copyFileSync(path.join(program, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
    fs.writeFileSync(path.join(workDir, "index.js"), `module.exports = require(${JSON.stringify(path.join(program, "index.js"))});\n`);
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(workDir, "node_modules"));
}

export const report = (r: CliResult) => `exit ${r.code} after ${r.ms} ms:\n${r.output.slice(-4000)}`;
