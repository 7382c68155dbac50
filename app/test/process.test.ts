/**
 * The worker as a real child process (src/worker.ts through ts-node, the same code tsc compiles to
 * dist/worker.js): SIGTERM drains, SIGKILL loses nothing, and the health check command exits right.
 */
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { AppConfig } from "../src/config";
import { heartbeatAge } from "../src/heartbeat";
import { createLogger } from "../src/logger";
import { startWorker } from "../src/worker-runtime";
import { Api, startApi } from "./helpers/api";
import { configEnv, testConfig, waitFor } from "./helpers/fixtures";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { RedisHandle, startRedis } from "./helpers/redis-server";

const APP_DIR = resolve(__dirname, "..");

interface Child {
    readonly proc: ChildProcess;
    output(): string;
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnTs(script: string, args: string[], env: Record<string, string>): Child {
    const proc = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", script, ...args], {
        cwd: APP_DIR,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout?.on("data", (d) => (out += d));
    proc.stderr?.on("data", (d) => (out += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
        proc.once("exit", (code, signal) => res({ code, signal })),
    );
    return { proc, output: () => out, exited };
}

describe("worker process", () => {
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let dir: string;
    const children: Child[] = [];
    const cleanups: Array<() => Promise<void>> = [];

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-proc-"));
    });
    after(async () => {
        await Promise.all([redis?.stop(), ollama.stop()]);
        rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => ollama.reset());
    afterEach(async () => {
        for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
        await Promise.all(cleanups.splice(0).map((f) => f()));
    });

    async function setup(overrides: Record<string, string> = {}): Promise<{ config: AppConfig; api: Api }> {
        const config = testConfig(redis.url, ollama.url, { HEARTBEAT_FILE: join(dir, `hb-${Math.random()}`), LOG_LEVEL: "info", ...overrides });
        const api = await startApi(testConfig(redis.url, ollama.url, { QUEUE_NAME: config.queueName }));
        cleanups.push(() => api.close());
        return { config, api };
    }

    function worker(config: AppConfig): Child {
        const child = spawnTs("src/worker.ts", [], configEnv(config));
        children.push(child);
        return child;
    }

    async function submit(api: Api): Promise<string> {
        const res = await api.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: "NVDA", date: "2024-05-10" } });
        assert.equal(res.statusCode, 202, res.body);
        return res.json().job_id;
    }

    const jobOf = async (api: Api, id: string) => (await api.app.inject({ method: "GET", url: `/jobs/${id}` })).json();

    it("finishes its in-flight job on SIGTERM before exiting 0, and never logs the Redis password", async () => {
        const { config, api } = await setup();
        const child = worker(config);
        ollama.delayMs = 1500;
        const id = await submit(api);
        await waitFor("the worker to call Ollama", async () => ollama.generateCalls().length === 1, 15_000);
        assert.equal((await jobOf(api, id)).status, "running");

        child.proc.kill("SIGTERM");
        const { code } = await child.exited;
        assert.equal(code, 0, child.output());
        // By the time the process is gone, the job is done: it was not left for stalled recovery.
        const job = await jobOf(api, id);
        assert.equal(job.status, "completed", JSON.stringify(job));
        assert.equal(ollama.generateCalls().length, 1);
        assert.equal(ollama.generateCalls()[0].aborted, false);

        const lines = child.output().trim().split("\n").map((l) => JSON.parse(l));
        const msgs = lines.map((l) => l.msg);
        assert.ok(msgs.indexOf("shutting down") < msgs.indexOf("job completed"), msgs.join(" | "));
        assert.ok(msgs.indexOf("job completed") < msgs.indexOf("stopped"), child.output());
        const password = new URL(config.redisUrl).password;
        assert.ok(password.length > 0);
        assert.doesNotMatch(child.output(), new RegExp(password));
    });

    it("loses no job when a worker is SIGKILLed: another worker picks it up after the lock expires", async () => {
        const { config, api } = await setup({ WORKER_LOCK_DURATION_MS: "1000", WORKER_STALLED_INTERVAL_MS: "300" });
        const doomed = worker(config);
        ollama.hang = true;
        const id = await submit(api);
        await waitFor("the first worker to call Ollama", async () => ollama.generateCalls().length === 1, 15_000);
        doomed.proc.kill("SIGKILL");
        assert.equal((await doomed.exited).signal, "SIGKILL");
        ollama.hang = false;

        const rescuer = startWorker(config, createLogger({ ...config, logLevel: "silent" }, "worker"));
        cleanups.push(() => rescuer.close());
        const job = await waitFor("the job to complete on the second worker", async () => {
            const j = await jobOf(api, id);
            return j.status === "completed" ? j : undefined;
        }, 10_000);
        assert.equal(job.result?.ticker, "NVDA", JSON.stringify(job));
        assert.equal(ollama.generateCalls().length, 2);
    });

    it("`healthcheck.js worker` exits 0 while the worker beats, and `healthcheck.js api` exits 1 with no api", async () => {
        const { config } = await setup();
        const child = worker(config);
        const env = { HEARTBEAT_FILE: config.heartbeatFile, HEARTBEAT_MAX_AGE_MS: "1000", HEARTBEAT_INTERVAL_MS: "200" };
        await waitFor("a heartbeat file", async () => (await heartbeatAge(config.heartbeatFile)) !== null, 15_000);
        const [ok, noApi] = [spawnTs("src/healthcheck.ts", ["worker"], env), spawnTs("src/healthcheck.ts", ["api"], { PORT: "9" })];
        const [okExit, noApiExit] = await Promise.all([ok.exited, noApi.exited]);
        assert.equal(okExit.code, 0, ok.output());
        assert.match(ok.output(), /^healthy: heartbeat \d+ ms old/);
        assert.equal(noApiExit.code, 1, noApi.output());
        assert.match(noApi.output(), /^unhealthy: GET \/health failed/);
        child.proc.kill("SIGTERM");
        assert.equal((await child.exited).code, 0, child.output());
    });
});
