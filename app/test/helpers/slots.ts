/**
 * A slot's api and worker as real child processes (src/api.ts and src/worker.ts through ts-node,
 * the same code tsc compiles into the image), started from an environment record: exactly the
 * KEY=value lines the program gives a slot's containers, plus test-only timers.
 *
 * Used by app/test/slots.test.ts (with slotEnvLines below) and by the program's
 * test/slots.integration.test.ts (with the program's own slotEnvironment()).
 */
import { ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { resolve } from "node:path";

export const APP_DIR = resolve(__dirname, "..", "..");

/**
 * The env of one slot, mirroring infra/service/slotEnv.ts slotEnvironment() line for line (the app
 * compiles with rootDir "." and cannot import it). The program-level test/slots.integration.test.ts
 * runs the same processes with the real slotEnvironment(), so a drift between the two shows there.
 */
export function slotEnvLines(a: {
    color: "blue" | "green";
    release: string;
    redisUrl: string;
    port: number;
    ollamaUrl: string;
    model: string;
    workerConcurrency: number;
    limits: { requestsPerMinute: number; queueMaxDepth: number };
}): string[] {
    return [
        `REDIS_URL=${a.redisUrl}`,
        `PORT=${a.port}`,
        `OLLAMA_BASE_URL=${a.ollamaUrl}`,
        `OLLAMA_MODEL=${a.model}`,
        `WORKER_CONCURRENCY=${a.workerConcurrency}`,
        `APP_SLOT=${a.color}`,
        `APP_RELEASE=${a.release}`,
        `QUEUE_NAME=jobs-${a.color}`,
        `LOOKUP_QUEUES=jobs-blue,jobs-green`,
        `RATE_LIMIT_MAX=${a.limits.requestsPerMinute}`,
        "RATE_LIMIT_WINDOW_MS=60000",
        `QUEUE_MAX_DEPTH=${a.limits.queueMaxDepth}`,
    ];
}

/** KEY=value lines (as docker's `envs`) to a record; the value is everything after the first "=". */
export function envRecord(lines: readonly string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of lines) {
        const i = line.indexOf("=");
        if (i <= 0) throw new Error(`not a KEY=value line: ${JSON.stringify(line.slice(0, 40))}`);
        out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
}

export interface AppProcess {
    readonly proc: ChildProcess;
    output(): string;
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
    stop(graceMs?: number): Promise<void>;
}

/** Runs src/<role>.ts with `env` (and PATH/HOME only from the parent). */
export function spawnRole(role: "api" | "worker", env: Record<string, string>): AppProcess {
    const proc = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", `src/${role}.ts`], {
        cwd: APP_DIR,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", TS_NODE_PROJECT: resolve(APP_DIR, "tsconfig.json"), ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout?.on("data", (d) => (out = (out + d).slice(-200_000)));
    proc.stderr?.on("data", (d) => (out = (out + d).slice(-200_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
        proc.once("exit", (code, signal) => res({ code, signal })),
    );
    const gone = () => proc.exitCode !== null || proc.signalCode !== null;
    return {
        proc,
        output: () => out,
        exited,
        async stop(graceMs = 5000) {
            if (gone()) return;
            proc.kill("SIGTERM");
            const timer = setTimeout(() => !gone() && proc.kill("SIGKILL"), graceMs);
            await exited;
            clearTimeout(timer);
        },
    };
}

/** Minimal JSON HTTP client for the spawned apis (no keep-alive, so nothing lingers). */
export function httpJson(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 10_000,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any; text: string }> {
    return new Promise((resolvePromise, reject) => {
        const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
        const req = request(
            url,
            {
                method,
                agent: false,
                timeout: timeoutMs,
                headers: { ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}), ...headers },
            },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (text += c));
                res.on("end", () => {
                    let parsed: unknown = undefined;
                    try {
                        parsed = text ? JSON.parse(text) : undefined;
                    } catch {
                        // not JSON; text carries it
                    }
                    resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
                });
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(payload);
    });
}

/** Waits until GET <baseUrl>/health answers 200, or the process exits, or the time runs out. */
export async function waitHealthy(baseUrl: string, p: AppProcess, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (p.proc.exitCode !== null) throw new Error(`api exited with ${p.proc.exitCode}:\n${p.output()}`);
        try {
            if ((await httpJson("GET", `${baseUrl}/health`, undefined, {}, 2000)).status === 200) return;
        } catch {
            // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`api at ${baseUrl} not healthy within ${timeoutMs} ms:\n${p.output().slice(-3000)}`);
}

/** Waits for the worker's "worker ready" log line (it logs JSON lines; LOG_LEVEL must be info or lower). */
export async function waitWorkerReady(p: AppProcess, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (p.proc.exitCode !== null) throw new Error(`worker exited with ${p.proc.exitCode}:\n${p.output()}`);
        if (/"msg":"worker ready"/.test(p.output())) return;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`worker not ready within ${timeoutMs} ms:\n${p.output().slice(-3000)}`);
}

export interface Slot {
    readonly color: string;
    readonly url: string;
    readonly api: AppProcess;
    readonly worker: AppProcess;
    stop(): Promise<void>;
}

/**
 * Starts a slot's api and worker from the program's env lines for that slot, plus `extra` (test
 * timers, heartbeat file); `extra` never overrides a key the program sets.
 */
export async function startSlot(lines: readonly string[], extra: Record<string, string> = {}): Promise<Slot> {
    const env = envRecord(lines);
    for (const key of Object.keys(extra)) if (key in env) throw new Error(`extra env must not override the program's ${key}`);
    const base = { LOG_LEVEL: "info", ...extra, ...env };
    const api = spawnRole("api", { ...base, HOST: "127.0.0.1" });
    const worker = spawnRole("worker", base);
    const url = `http://127.0.0.1:${env.PORT}`;
    const stop = async () => {
        await Promise.all([api.stop(), worker.stop()]);
    };
    try {
        // Start-up only (ts-node compiles each process's sources): 60 s, as the other process tests
        // give it. Four processes at once took over 20 s here on 2 cores at a load average of 18.
        await Promise.all([waitHealthy(url, api, 60_000), waitWorkerReady(worker, 60_000)]);
    } catch (err) {
        await stop();
        throw err;
    }
    return { color: env.APP_SLOT, url, api, worker, stop };
}
