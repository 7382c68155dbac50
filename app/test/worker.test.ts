import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppConfig } from "../src/config";
import { checkWorker, runHealthcheck } from "../src/healthcheck";
import { writeHeartbeat } from "../src/heartbeat";
import { createLogger } from "../src/logger";
import { startWorker, WorkerHandle } from "../src/worker-runtime";
import { Api, startApi } from "./helpers/api";
import { testConfig, waitFor } from "./helpers/fixtures";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { freePort, RedisHandle, startRedis } from "./helpers/redis-server";

describe("worker", () => {
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let dir: string;
    const open: Array<{ close(): Promise<void> }> = [];

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-worker-"));
    });
    after(async () => {
        await Promise.all([redis?.stop(), ollama.stop()]);
        rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => ollama.reset());
    afterEach(async () => {
        await Promise.all(open.splice(0).map((o) => o.close()));
    });

    /** A fresh queue with an api and a worker on it. */
    async function stack(overrides: Record<string, string> = {}): Promise<{ config: AppConfig; api: Api; worker: WorkerHandle }> {
        const config = testConfig(redis.url, ollama.url, { HEARTBEAT_FILE: join(dir, `hb-${Math.random()}`), ...overrides });
        const api = await startApi(config);
        const worker = startWorker(config, createLogger(config, "worker"));
        open.push(worker, api);
        return { config, api, worker };
    }

    async function submit(api: Api, ticker = "NVDA", date = "2024-05-10"): Promise<string> {
        const res = await api.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker, date } });
        assert.equal(res.statusCode, 202, res.body);
        return res.json().job_id;
    }

    async function finished(api: Api, id: string, timeoutMs = 10_000) {
        return waitFor(`job ${id} to finish`, async () => {
            const job = (await api.app.inject({ method: "GET", url: `/jobs/${id}` })).json();
            return job.status === "completed" || job.status === "failed" ? job : undefined;
        }, timeoutMs);
    }

    it("completes a job with the stand-in's answer, asked through Ollama's generate API", async () => {
        const { api } = await stack();
        ollama.answer = (prompt) => `NVDA looks busy. (${prompt.length} chars asked)`;
        const id = await submit(api);
        const job = await finished(api, id);
        assert.equal(job.status, "completed", JSON.stringify(job));
        const [call] = ollama.generateCalls();
        assert.equal(call.path, "/api/generate");
        assert.equal(call.body.model, "stand-in");
        assert.equal(call.body.stream, false);
        assert.match(String(call.body.prompt), /NVDA/);
        assert.match(String(call.body.prompt), /2024-05-10/);
        assert.deepEqual(job.result, {
            ticker: "NVDA",
            date: "2024-05-10",
            model: "stand-in",
            analysis: `NVDA looks busy. (${String(call.body.prompt).length} chars asked)`,
        });
        assert.equal(job.error, null);
        assert.equal(job.attempts_made, 1);
        assert.deepEqual(job.accepted_by, { slot: "blue", release: "r-test" });
        assert.deepEqual(job.processed_by, { slot: "blue", release: "r-test" });
        assert.ok(Date.parse(job.created_at) <= Date.parse(job.started_at));
        assert.ok(Date.parse(job.started_at) <= Date.parse(job.finished_at));
    });

    it("stamps the host that processed a job when APP_HOST names it (a fleet's worker hosts), and only then", async () => {
        const { api } = await stack({ APP_HOST: "gpu-7" });
        const job = await finished(api, await submit(api));
        assert.equal(job.status, "completed", JSON.stringify(job));
        // The api was started with the same env, so its stamp names the host too; without APP_HOST
        // (the test above) neither stamp has the field.
        assert.deepEqual(job.processed_by, { slot: "blue", release: "r-test", host: "gpu-7" });
    });

    it("puts jobs back during Ollama 500s without spending attempts, then completes them (the breaker)", async () => {
        const { api } = await stack({ JOB_ATTEMPTS: "2" });
        ollama.failNext = 6;
        const ids = [await submit(api, "AAA"), await submit(api, "BBB")];
        for (const id of ids) {
            const job = await finished(api, id);
            assert.equal(job.status, "completed", JSON.stringify(job));
            assert.equal(job.attempts_made, 1, "an outage spends no attempt");
        }
        assert.equal(ollama.generateCalls().length, 8);
    });

    it("takes an empty answer as the job's own failure: an attempt spent, retried with backoff, no outage pause", async () => {
        const { api } = await stack({ JOB_ATTEMPTS: "2" });
        const normal = ollama.answer;
        let empties = 1;
        ollama.answer = (prompt, model) => (empties-- > 0 ? "   " : normal(prompt, model));
        try {
            const job = await finished(api, await submit(api, "EMPTY"));
            assert.equal(job.status, "completed", JSON.stringify(job));
            assert.equal(job.attempts_made, 2, "the empty answer spent an attempt");
            assert.equal(ollama.generateCalls().length, 2);
            const health = (await api.app.inject({ method: "GET", url: "/health" })).json();
            assert.notEqual(health.ollama, "degraded", JSON.stringify(health));
        } finally {
            ollama.answer = normal;
        }
    });

    it("stops taking jobs while Ollama answers 500s (no attempt burnt, no spinning), and drains the backlog after", async () => {
        const { api } = await stack({ JOB_ATTEMPTS: "3", OLLAMA_RETRY_BASE_MS: "100", OLLAMA_RETRY_MAX_MS: "400" });
        ollama.failNext = 1_000_000;
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) ids.push(await submit(api, `Q${i}`));
        await new Promise((r) => setTimeout(r, 2000));
        // Without the breaker: 20 jobs x 3 attempts in well under 2 s, then 20 failed jobs.
        // With it: a probe round (at most WORKER_CONCURRENCY = 2 calls) per pause of 100, 200, 400, 400... ms.
        const during = ollama.generateCalls().length;
        assert.ok(during <= 20, `${during} generate calls during a 2 s outage`);
        ollama.failNext = 0;
        for (const id of ids) {
            const job = await finished(api, id);
            assert.equal(job.status, "completed", JSON.stringify(job));
            assert.equal(job.attempts_made, 1);
        }
    });

    it("fails no job while Ollama refuses connections, and resumes by itself", async () => {
        const { api } = await stack({ JOB_ATTEMPTS: "2" });
        await ollama.refuse();
        let ids: string[];
        try {
            ids = await Promise.all(["R1", "R2", "R3"].map((t) => submit(api, t)));
            await new Promise((r) => setTimeout(r, 1000)); // far longer than 2 attempts' backoff (50 + 100 ms)
            for (const id of ids) {
                // Waiting, or held by one of the breaker's probes at this instant (a probe takes a job
                // and puts it back when Ollama still refuses): never failed, no attempt spent.
                const job = (await api.app.inject({ method: "GET", url: `/jobs/${id}` })).json();
                assert.ok(job.status === "pending" || job.status === "running", JSON.stringify(job));
                assert.equal(job.attempts_made, 0, JSON.stringify(job));
            }
        } finally {
            // Whatever failed above, the next test's stand-in accepts connections again.
            await ollama.accept();
        }
        for (const id of ids) {
            const job = await finished(api, id);
            assert.equal(job.status, "completed", JSON.stringify(job));
            assert.equal(job.attempts_made, 1);
        }
    });

    it("reports Ollama degraded in /health while generation fails though listing models works", async () => {
        const { api } = await stack();
        ollama.failNext = 1_000_000;
        const id = await submit(api);
        const health = await waitFor("ollama degraded", async () => {
            const h = (await api.app.inject({ method: "GET", url: "/health" })).json();
            return h.ollama === "degraded" ? h : undefined;
        }, 5000);
        assert.equal(health.generation, "failing");
        assert.equal(health.status, "healthy", "Ollama never makes the api unhealthy");
        ollama.failNext = 0;
        assert.equal((await finished(api, id)).status, "completed");
        await waitFor("ollama ok again", async () => (await api.app.inject({ method: "GET", url: "/health" })).json().ollama === "ok", 5000);
    });

    it("fails an unknown model at once, without retrying (404 is not transient)", async () => {
        const { api } = await stack({ OLLAMA_MODEL: "no-such-model", JOB_ATTEMPTS: "3" });
        const job = await finished(api, await submit(api));
        assert.equal(job.status, "failed");
        assert.match(job.error, /HTTP 404.*not found/);
        assert.equal(ollama.generateCalls().length, 1);
        assert.equal(job.attempts_made, 1);
        assert.ok(job.finished_at);
    });

    it("aborts a hung Ollama request at the time limit, puts the job back without spending an attempt, and completes it once Ollama answers", async () => {
        const { api } = await stack({ JOB_TIMEOUT_MS: "300", JOB_ATTEMPTS: "1" });
        ollama.hang = true;
        const id = await submit(api);
        await waitFor("two hung calls", async () => ollama.generateCalls().length >= 2, 5000);
        ollama.hang = false;
        const job = await finished(api, id);
        assert.equal(job.status, "completed", JSON.stringify(job));
        assert.equal(job.attempts_made, 1);
        const calls = ollama.generateCalls();
        // The stand-in saw each hung request's connection closed: the time limit really aborted it.
        await waitFor("the hung requests to be seen as aborted", async () => calls.slice(0, -1).every((c) => c.aborted), 2000);
    });

    it("fails a job that keeps hanging after JOB_MAX_DEFERRALS put-backs, naming the time limit", async () => {
        const { api } = await stack({ JOB_TIMEOUT_MS: "200", JOB_ATTEMPTS: "1", JOB_MAX_DEFERRALS: "2" });
        ollama.hang = true;
        const job = await finished(api, await submit(api));
        assert.equal(job.status, "failed");
        assert.match(job.error, /timed out after 200 ms/);
        assert.equal(ollama.generateCalls().length, 3);
    });

    it("keeps a fresh heartbeat while running, which goes stale after close", async () => {
        const { config, worker } = await stack();
        await waitFor("a heartbeat", async () => (await checkWorker(config)).ok, 3000);
        await worker.close();
        await new Promise((r) => setTimeout(r, config.heartbeatMaxAgeMs + 100));
        const check = await checkWorker(config);
        assert.equal(check.ok, false);
        assert.match(check.detail, /heartbeat \d+ ms old, limit 1000 ms/);
    });
});

describe("healthcheck", () => {
    it("worker: fails without a heartbeat file and with a stale one, passes with a fresh one", async () => {
        const dir = mkdtempSync(join(tmpdir(), "app-test-hc-"));
        const file = join(dir, "hb");
        const env = { HEARTBEAT_FILE: file, HEARTBEAT_MAX_AGE_MS: "1000", HEARTBEAT_INTERVAL_MS: "200" };
        try {
            assert.deepEqual(await runHealthcheck("worker", env), { ok: false, detail: `no heartbeat at ${file}` });
            await writeHeartbeat(file, Date.now() - 5000);
            assert.equal((await runHealthcheck("worker", env)).ok, false);
            await writeHeartbeat(file, Date.now());
            assert.equal((await runHealthcheck("worker", env)).ok, true);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("api: fails when nothing listens on PORT", async () => {
        const result = await runHealthcheck("api", { PORT: String(await freePort()) });
        assert.equal(result.ok, false);
        assert.match(result.detail, /GET \/health failed/);
    });

    it("rejects an unknown role", async () => {
        assert.equal((await runHealthcheck("db", {})).ok, false);
    });
});
