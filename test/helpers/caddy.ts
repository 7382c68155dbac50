// Debian's caddy beside the tests and the swap benchmark: free loopback ports, and a caddy process
// run with the program's command line whose HOME, XDG dirs and log all live in one scratch dir.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { caddyRun } from "../../infra/service/caddy";

/** Asks the kernel for a free loopback port (released before use; fine on a quiet machine). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
    });
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** SIGTERM, then SIGKILL if the child is still running after `graceMs`; resolves at once if it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
    if (!isRunning(child)) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    if (isRunning(child)) child.kill("SIGKILL");
}

export interface CaddyProcess {
    readonly child: ChildProcess;
    /** True until caddy exits. */
    running(): boolean;
    /** Caddy's log so far; the last `lines` lines when given. */
    log(lines?: number): string;
    /** SIGTERM, then SIGKILL if caddy is still running after `graceMs`. */
    stop(graceMs: number): Promise<void>;
}

/** Runs `caddy run` on `configPath` from `bin`, with HOME, XDG dirs and caddy.log inside `dir`. */
export function startCaddy(bin: string, configPath: string, dir: string): CaddyProcess {
    // Caddy keeps its data and autosave under HOME/XDG dirs: keep them out of the real home.
    const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "config"), XDG_DATA_HOME: path.join(dir, "data") };
    const logPath = path.join(dir, "caddy.log");
    const fd = fs.openSync(logPath, "a");
    const [, ...args] = caddyRun(configPath);
    const child = spawn(bin, args, { env, cwd: dir, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    const running = () => isRunning(child);
    return {
        child,
        running,
        log: (lines) => {
            const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8").trim() : "";
            return lines === undefined ? text : text.split("\n").slice(-lines).join("\n");
        },
        stop: (graceMs) => stopChild(child, graceMs),
    };
}

export interface AuthProcess {
    readonly child: ChildProcess;
    readonly port: number;
    /** Its stdout and stderr so far. */
    log(): string;
    stop(graceMs: number): Promise<void>;
}

/** Runs the key service (auth/server.js) with plain node on a loopback port, reading `keysFile`. */
export async function startAuthService(keysFile: string): Promise<AuthProcess> {
    const port = await freePort();
    const script = path.join(__dirname, "..", "..", "auth", "server.js");
    const child = spawn(process.execPath, [script], {
        env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), KEYS_FILE: keysFile },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    const running = () => isRunning(child);
    for (let i = 0; !out.includes("listening"); i++) {
        if (!running() || i > 100) throw new Error(`auth service did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
    }
    return {
        child,
        port,
        log: () => out,
        stop: (graceMs) => stopChild(child, graceMs),
    };
}

/** Installs `text` as the key file exactly as the host command does: `server.js write-keys`, fed on stdin. */
export function writeKeys(keysFile: string, text: string): { status: number | null; stdout: string; stderr: string } {
    const script = path.join(__dirname, "..", "..", "auth", "server.js");
    const r = spawnSync(process.execPath, [script, "write-keys"], { input: text, encoding: "utf8", env: { PATH: process.env.PATH ?? "", KEYS_FILE: keysFile } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}


/**
 * The caddy binary a benchmark runs and its version ("v2.11.6"), or why it cannot run: `bin` (the
 * benchmark's --caddy flag), else $CADDY, else the caddy on PATH (Debian's package, 2.6.2). The
 * pinned release, built from source, is `bash test/e2e/standins/caddy.sh` (it prints its path).
 */
export function caddyVersion(label: string, bin = process.env.CADDY || "caddy"): { readonly bin: string; readonly version: string } | { readonly missing: string } {
    const r = spawnSync(bin, ["version"], { encoding: "utf8" });
    if (!r.error && r.status === 0) return { bin, version: r.stdout.trim().split(" ")[0] };
    return { missing: `${label} needs a caddy binary: --caddy PATH, $CADDY, or caddy on PATH (Debian: apt-get install -y caddy; the pinned release: bash test/e2e/standins/caddy.sh); ${bin}: ${r.error ? r.error.message : r.stderr.trim()}` };
}

/** What a caddy benchmark starts in its scratch dir, and the one clean-up that stops all of it. */
export interface BenchScaffold {
    readonly tmp: string;
    /** Short-lived helper processes, killed on clean-up. */
    readonly children: Set<ChildProcess>;
    /** Stand-in slots, closed on clean-up. */
    readonly servers: http.Server[];
    /** Stops everything and removes the scratch dir; idempotent. */
    cleanup(): Promise<void>;
}

/**
 * A benchmark's scratch dir and clean-up, also on ^C/SIGTERM (exit 130/143) and, as a last resort,
 * at process exit. `procs` returns the caddy and key service started so far.
 */
export function benchScaffold(label: string, what: string, procs: () => { caddy?: CaddyProcess; auth?: AuthProcess }): BenchScaffold {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${label.replace(/[^a-z]+/g, "-")}-`));
    const children = new Set<ChildProcess>();
    const servers: http.Server[] = [];
    let cleaning: Promise<void> | undefined;
    const cleanup = () => {
        cleaning ??= (async () => {
            for (const c of children) if (isRunning(c)) c.kill("SIGKILL");
            const { caddy, auth } = procs();
            await caddy?.stop(5000);
            await auth?.stop(2000);
            for (const s of servers) {
                s.closeAllConnections();
                s.close();
            }
            fs.rmSync(tmp, { recursive: true, force: true });
        })();
        return cleaning;
    };
    const onSignal = (sig: NodeJS.Signals) => {
        console.error(`\n${label}: ${sig}, stopping ${what}`);
        cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    process.once("exit", () => {
        const { caddy, auth } = procs();
        if (caddy && isRunning(caddy.child)) caddy.child.kill("SIGKILL");
        if (auth && isRunning(auth.child)) auth.child.kill("SIGKILL");
    });
    return { tmp, children, servers, cleanup };
}
