// The end-to-end harness: a fresh copy of the project, the real engine (the CLI, the Node.js language
// host and the docker, command and random plugins from ../shared/engine, installed by .ci/run), a real
// dockerd, and the operator's own commands (`npm run up`, `release`, ...) run as child processes.
// What the engine changed is read from the stack's state (`pulumi stack export` before and after),
// independently of what the scripts themselves report.
import { ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "..", "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The figures an e2e run prints at the end, one row per step. */
export interface StepFigures {
    step: string;
    seconds: number;
    changes: string;
    sent?: number;
    failed?: number;
    note?: string;
}

export class Figures {
    readonly rows: StepFigures[] = [];

    add(row: StepFigures): void {
        this.rows.push(row);
    }

    render(title: string): string {
        const head = ["step", "time", "engine changes", "live requests", "failed", "notes"];
        const rows = this.rows.map((r) => [r.step, `${r.seconds.toFixed(1)} s`, r.changes, r.sent === undefined ? "-" : String(r.sent),
            r.failed === undefined ? "-" : String(r.failed), r.note ?? ""]);
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join(" | ").trimEnd();
        return [title, line(head), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n");
    }
}

export interface Run {
    readonly code: number;
    readonly output: string;
    readonly seconds: number;
}

/** Runs a command to completion (async, so the traffic generator in this process keeps going). */
export function run(cmd: string, args: readonly string[], o: { cwd: string; env?: NodeJS.ProcessEnv; log?: string; input?: string }): Promise<Run> {
    const started = Date.now();
    return new Promise((resolve) => {
        const child = execFile(cmd, [...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            const output = `${stdout}${stderr}`;
            if (o.log) fs.appendFileSync(o.log, `\n$ ${cmd} ${args.join(" ")}  (exit ${code})\n${output}`);
            resolve({ code, output, seconds: (Date.now() - started) / 1000 });
        });
        if (o.input !== undefined) child.stdin?.end(o.input);
    });
}

/** Whether a Docker engine answers. */
export const dockerAnswers = (): boolean => spawnSync("docker", ["version"], { stdio: "ignore", timeout: 20_000 }).status === 0;

/**
 * A Docker engine for the run: the one that answers, or Debian's dockerd started here (overlay2,
 * else vfs). Returns a function that stops what was started here, and nothing else.
 */
export async function ensureDockerd(logDir: string): Promise<() => Promise<void>> {
    if (dockerAnswers()) return async () => {};
    for (const driver of ["overlay2", "vfs"]) {
        const log = fs.openSync(path.join(logDir, `dockerd-${driver}.log`), "a");
        const child: ChildProcess = spawn("dockerd", [`--storage-driver=${driver}`], { stdio: ["ignore", log, log], detached: true });
        for (let i = 0; i < 60 && child.exitCode === null; i++) {
            if (dockerAnswers()) {
                return async () => {
                    child.kill("SIGTERM");
                    for (let j = 0; j < 60 && child.exitCode === null; j++) await sleep(500);
                };
            }
            await sleep(500);
        }
        child.kill("SIGKILL");
    }
    throw new Error(`dockerd did not start (overlay2 or vfs); see ${logDir}/dockerd-*.log`);
}

/**
 * Containers and networks (named after the host: `<host>-...`) a run left in the engine when it was killed before its own
 * destroy (a stopped runner, a killed job). Docker refuses a second network of the same name
 * ("network with name local-app-net already exists"), so a new run would fail on the old one's
 * debris. Under CI=true (the runner's engine is the tests' own) they are removed; elsewhere the
 * engine may hold the operator's real stack on a host of that name, so the run stops and names them instead.
 * So do its volumes (a stale Redis would hold its jobs), except the model cache, which destroy
 * keeps on purpose and a new run reuses (creating a volume that exists returns it).
 */
export function clearLeftovers(host: string): string[] {
    const list = (what: "container" | "network" | "volume") => spawnSync("docker", [what, "ls", ...(what === "container" ? ["-a"] : []), "--format", what === "container" ? "{{.Names}}" : "{{.Name}}"], { encoding: "utf8" })
        .stdout.split("\n").map((s) => s.trim()).filter((n) => n.startsWith(`${host}-`));
    const containers = list("container");
    const networks = list("network");
    const volumes = list("volume").filter((v) => !v.endsWith("-ollama-models"));
    const found = [...containers.map((c) => `container ${c}`), ...networks.map((n) => `network ${n}`), ...volumes.map((v) => `volume ${v}`)];
    if (found.length === 0) return [];
    if (process.env.CI !== "true") {
        throw new Error(`the Docker engine holds ${found.join(", ")} from an earlier run on host ${host}; ` +
            `destroy the stack that made them, or remove them (docker rm -f, docker network rm, docker volume rm), then run again`);
    }
    if (containers.length) spawnSync("docker", ["rm", "-f", ...containers], { stdio: "ignore" });
    for (const n of networks) spawnSync("docker", ["network", "rm", n], { stdio: "ignore" });
    if (volumes.length) spawnSync("docker", ["volume", "rm", ...volumes], { stdio: "ignore" });
    const left = [...list("container"), ...list("network"), ...list("volume").filter((v) => volumes.includes(v))];
    if (left.length) throw new Error(`could not remove the leftovers on host ${host}: ${left.join(", ")}`);
    return found;
}

/** Builds (or finds, cached) the stand-ins for the pinned images; returns the build's output. */
export async function buildStandIns(logDir: string): Promise<Run> {
    const r = await run("bash", [path.join(REPO, "test", "e2e", "standins", "build.sh")], { cwd: REPO, log: path.join(logDir, "standins.log") });
    if (r.code !== 0) throw new Error(`stand-in images: build.sh exited ${r.code}:\n${r.output.slice(-3000)}`);
    return r;
}

/** The files of the working tree a fresh clone of it would have (tracked and untracked, not ignored). */
function projectFiles(): string[] {
    const out = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO, encoding: "utf8" }).stdout;
    return out.split("\0").filter((f) => f && fs.existsSync(path.join(REPO, f)));
}

/**
 * A fresh copy of the project as the working tree has it, in a new git repository with one commit,
 * sharing this checkout's node_modules (the program's dependencies; the app is built in Docker).
 */
export function projectCopy(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    for (const f of projectFiles()) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.copyFileSync(path.join(REPO, f), path.join(dir, f));
        fs.chmodSync(path.join(dir, f), fs.statSync(path.join(REPO, f)).mode);
    }
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    const git = (...args: string[]) => {
        const r = spawnSync("git", ["-c", "user.email=e2e@localhost", "-c", "user.name=e2e", ...args], { cwd: dir, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
    };
    git("init", "-q");
    git("add", "-A");
    git("commit", "-q", "-m", "e2e copy");
    return dir;
}

/** A resource in an exported state, as far as a diff looks at it. */
interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly id?: string;
    readonly inputs?: unknown;
    readonly outputs?: unknown;
}

/** The stack's resources by URN, from `pulumi stack export --show-secrets`: secrets in plain text, since
 * their ciphertexts change with every save; held in memory only, never printed. */
export async function exportState(dir: string, stack: string, env: NodeJS.ProcessEnv): Promise<Map<string, StateResource>> {
    const r = await run(path.join(dir, "node_modules", ".bin", "pulumi"), ["stack", "export", "--show-secrets", "--stack", stack], { cwd: dir, env });
    // Before the first up there is no stack (nor, for a file backend, a state directory).
    if (r.code !== 0 && /no stack named|unable to open state directory/.test(r.output)) return new Map();
    if (r.code !== 0) throw new Error(`pulumi stack export: ${r.output.slice(-2000)}`);
    const resources: StateResource[] = JSON.parse(r.output).deployment.resources ?? [];
    // Not the providers, the stack itself, or the program's read of its own last outputs (the
    // StackReference `kept-pins`, infra/contract/pins.ts): a read that follows the stack's outputs, on
    // no host; the engine reports it as "read", never as a change.
    const skipped = (t: string) => t.startsWith("pulumi:providers:") || t === "pulumi:pulumi:Stack" || t === "pulumi:pulumi:StackReference";
    return new Map(resources.filter((x) => !skipped(x.type)).map((x) => [x.urn, x]));
}

/** What differs between two exports: created, deleted, and changed (id, inputs or outputs) URNs. */
export interface StateDiff {
    readonly created: string[];
    readonly deleted: string[];
    /** Same URN, new id: replaced. */
    readonly replaced: string[];
    /** Same URN and id, other inputs or outputs: updated in place. */
    readonly updated: string[];
}

export function diffState(before: Map<string, StateResource>, after: Map<string, StateResource>): StateDiff {
    const created = [...after.keys()].filter((u) => !before.has(u)).sort();
    const deleted = [...before.keys()].filter((u) => !after.has(u)).sort();
    const replaced: string[] = [];
    const updated: string[] = [];
    for (const [u, a] of after) {
        const b = before.get(u);
        if (!b) continue;
        if (b.id !== a.id) replaced.push(u);
        else if (JSON.stringify(b.inputs) !== JSON.stringify(a.inputs) || JSON.stringify(b.outputs) !== JSON.stringify(a.outputs)) updated.push(u);
    }
    return { created, deleted, replaced: replaced.sort(), updated: updated.sort() };
}

export const allChanged = (d: StateDiff): string[] => [...d.created, ...d.deleted, ...d.replaced, ...d.updated];
export const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** "2 replaced, 1 updated" or "0". */
export function describeDiff(d: StateDiff): string {
    const parts = ([["created", d.created], ["replaced", d.replaced], ["updated", d.updated], ["deleted", d.deleted]] as const)
        .filter(([, l]) => l.length).map(([w, l]) => `${l.length} ${w}`);
    return parts.length ? parts.join(", ") : "0";
}
