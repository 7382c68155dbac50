/**
 * GET /metrics (issue 18), against a real redis-server, a real BullMQ worker and the Ollama
 * stand-in: the exposition is valid Prometheus text, every metric of the contract is there with its
 * labels, and the values move with what the api and the worker really did.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "bullmq";
import Redis from "ioredis";
import type { AppConfig } from "../src/config";
import { bullConnection } from "../src/connection";
import { createLogger } from "../src/logger";
import { FINISHED_WINDOWS_MIN, finishedInWindow, JOB_DURATION_BUCKETS_S, QUEUE_STATES } from "../src/metrics";
import { breakerFromReports, FINISHED_HISTORY_MINUTES } from "../src/reports";
import { breakerReportsKey, ollamaErrorsKey } from "../src/keys";
import { startWorker, WorkerHandle } from "../src/worker-runtime";
import { Api, startApi } from "./helpers/api";
import { testConfig, waitFor } from "./helpers/fixtures";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { Family, parseExposition, sampleValue, samplesNamed } from "./helpers/prometheus";
import { freePort, RedisHandle, startRedis } from "./helpers/redis-server";

const JSON_CT = { "content-type": "application/json" };
const MINUTE = 60_000;

/** The contract `npm run status` parses: name, type and label names besides slot. */
const CONTRACT: ReadonlyArray<readonly [string, Family["type"], readonly string[]]> = [
    ["gpu_hosts_jobs_accepted_total", "counter", []],
    ["gpu_hosts_jobs_completed_total", "counter", []],
    ["gpu_hosts_jobs_failed_total", "counter", []],
    ["gpu_hosts_jobs_finished_recent", "gauge", ["outcome", "window"]],
    ["gpu_hosts_queue_depth", "gauge", []],
    ["gpu_hosts_queue_jobs", "gauge", ["state"]],
    ["gpu_hosts_job_duration_seconds", "histogram", []],
    ["gpu_hosts_ollama_errors_total", "counter", []],
    ["gpu_hosts_breaker_open", "gauge", []],
    ["gpu_hosts_breaker_state", "gauge", ["state"]],
    ["gpu_hosts_workers", "gauge", []],
    ["gpu_hosts_redis_up", "gauge", []],
];

describe("GET /metrics", () => {
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let admin: Redis;
    let dir: string;
    const open: Array<{ close(): Promise<void> }> = [];

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        admin = new Redis(redis.url);
        dir = mkdtempSync(join(tmpdir(), "app-test-metrics-"));
    });
    after(async () => {
        admin?.disconnect();
        await Promise.all([redis?.stop(), ollama.stop()]);
        rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => ollama.reset());
    afterEach(async () => {
        await Promise.all(open.splice(0).map((o) => o.close()));
    });

    function config(overrides: Record<string, string> = {}): AppConfig {
        return testConfig(redis.url, ollama.url, { HEARTBEAT_FILE: join(dir, `hb-${Math.random()}`), ...overrides });
    }
    async function apiOnly(overrides: Record<string, string> = {}): Promise<{ config: AppConfig; api: Api }> {
        const c = config(overrides);
        const api = await startApi(c);
        open.push(api);
        return { config: c, api };
    }
    async function stack(overrides: Record<string, string> = {}): Promise<{ config: AppConfig; api: Api; worker: WorkerHandle }> {
        const { config: c, api } = await apiOnly(overrides);
        const worker = startWorker(c, createLogger(c, "worker"));
        open.push(worker);
        return { config: c, api, worker };
    }
    async function scrape(api: Api): Promise<Map<string, Family>> {
        const res = await api.app.inject({ method: "GET", url: "/metrics" });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers["content-type"], api.metrics.registry.contentType);
        return parseExposition(res.body);
    }
    /** Scrapes until `test` holds for the parsed exposition. */
    async function scrapeUntil(api: Api, what: string, test: (m: Map<string, Family>) => boolean, timeoutMs = 10_000) {
        return waitFor(what, async () => {
            const m = await scrape(api);
            return test(m) ? m : undefined;
        }, timeoutMs);
    }
    async function submit(api: Api, ticker: string, headers: Record<string, string> = {}): Promise<{ status: number; id: string }> {
        const res = await api.app.inject({ method: "POST", url: "/jobs", headers: { ...JSON_CT, ...headers }, payload: { ticker, date: "2024-05-10" } });
        assert.ok(res.statusCode === 202 || res.statusCode === 200, res.body);
        return { status: res.statusCode, id: res.json().job_id };
    }
    async function finished(api: Api, id: string) {
        return waitFor(`job ${id} to finish`, async () => {
            const job = (await api.app.inject({ method: "GET", url: `/jobs/${id}` })).json();
            return job.status === "completed" || job.status === "failed" ? job : undefined;
        });
    }
    const blue = { slot: "blue" };
    const value = (m: Map<string, Family>, name: string, labels: Record<string, string> = {}) => sampleValue(m, name, { ...blue, ...labels });

    it("is valid Prometheus text with every metric of the contract, each labelled with the slot, and the process metrics", async () => {
        const { api } = await stack();
        const m = await scrapeUntil(api, "the worker's first breaker report", (x) => samplesNamed(x, "gpu_hosts_breaker_open").length === 1);
        for (const [name, type, labels] of CONTRACT) {
            const family = m.get(name);
            assert.ok(family, `${name} is missing`);
            assert.equal(family.type, type, name);
            assert.ok(family.help.length > 20, `${name} has a help text`);
            assert.ok(family.samples.length > 0, `${name} has samples`);
            for (const s of family.samples) {
                const expected = ["slot", ...labels, ...(s.name.endsWith("_bucket") ? ["le"] : [])].sort();
                assert.deepEqual(Object.keys(s.labels).sort(), expected, `${s.name}${JSON.stringify(s.labels)}`);
            }
        }
        // Every series of the exposition, the process ones included, names its slot.
        for (const f of m.values()) for (const s of f.samples) assert.equal(s.labels.slot, "blue", `${s.name}${JSON.stringify(s.labels)}`);
        assert.ok(m.has("process_cpu_seconds_total") && m.has("nodejs_eventloop_lag_seconds"), "prom-client's default metrics");

        for (const name of ["gpu_hosts_jobs_accepted_total", "gpu_hosts_jobs_completed_total", "gpu_hosts_jobs_failed_total", "gpu_hosts_ollama_errors_total", "gpu_hosts_queue_depth"]) {
            assert.equal(value(m, name), 0, name);
        }
        assert.deepEqual(samplesNamed(m, "gpu_hosts_queue_jobs").map((s) => s.labels.state).sort(), [...QUEUE_STATES].sort());
        assert.deepEqual(
            samplesNamed(m, "gpu_hosts_jobs_finished_recent").map((s) => `${s.labels.outcome}/${s.labels.window}`).sort(),
            ["completed/5m", "completed/60m", "failed/5m", "failed/60m"],
        );
        assert.deepEqual(
            samplesNamed(m, "gpu_hosts_job_duration_seconds_bucket").map((s) => s.labels.le),
            [...JOB_DURATION_BUCKETS_S.map(String), "+Inf"],
        );
        assert.equal(value(m, "gpu_hosts_job_duration_seconds_count"), 0);
        assert.equal(value(m, "gpu_hosts_breaker_open"), 0);
        assert.deepEqual(
            Object.fromEntries(samplesNamed(m, "gpu_hosts_breaker_state").map((s) => [s.labels.state, s.value])),
            { closed: 1, open: 0, half_open: 0 },
        );
        assert.equal(value(m, "gpu_hosts_workers"), 1);
        assert.equal(value(m, "gpu_hosts_redis_up"), 1);
    });

    it("labels an unset APP_SLOT as slot=\"\"", async () => {
        const { api } = await apiOnly({ APP_SLOT: "" });
        const m = await scrape(api);
        for (const f of m.values()) for (const s of f.samples) assert.equal(s.labels.slot, "", s.name);
    });

    it("counts accepted jobs (not idempotent replays), completed ones, the recent windows and their durations, from a real worker", async () => {
        const { api } = await stack();
        ollama.delayMs = 150; // every attempt runs at least 0.15 s
        const ids = [(await submit(api, "AAA")).id, (await submit(api, "BBB")).id];
        const keyed = await submit(api, "CCC", { "idempotency-key": `k-${Math.random()}` });
        assert.equal(keyed.status, 202);
        ids.push(keyed.id);
        const key = `k-${Math.random()}`;
        assert.equal((await submit(api, "DDD", { "idempotency-key": key })).status, 202);
        assert.equal((await submit(api, "DDD", { "idempotency-key": key })).status, 200, "a replay");
        for (const id of ids) assert.equal((await finished(api, id)).status, "completed");

        const m = await scrapeUntil(api, "4 jobs completed and observed", (x) =>
            value(x, "gpu_hosts_jobs_completed_total") === 4 && value(x, "gpu_hosts_job_duration_seconds_count") === 4);
        assert.equal(value(m, "gpu_hosts_jobs_accepted_total"), 4);
        assert.equal(value(m, "gpu_hosts_jobs_failed_total"), 0);
        for (const window of ["5m", "60m"]) {
            assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "completed", window }), 4, window);
            assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "failed", window }), 0, window);
        }
        assert.equal(value(m, "gpu_hosts_job_duration_seconds_bucket", { le: "0.1" }), 0, "no attempt took under 0.1 s");
        assert.ok(value(m, "gpu_hosts_job_duration_seconds_sum") >= 4 * 0.15, String(value(m, "gpu_hosts_job_duration_seconds_sum")));
        assert.equal(value(m, "gpu_hosts_queue_jobs", { state: "completed" }), 4);
        assert.equal(value(m, "gpu_hosts_queue_depth"), 0);
        assert.equal(value(m, "gpu_hosts_ollama_errors_total"), 0);
    });

    it("keeps the completed count across an api restart: it is BullMQ's count in Redis, not the api's", async () => {
        const { config: c, api } = await stack();
        await finished(api, (await submit(api, "AAA")).id);
        await scrapeUntil(api, "1 completed", (x) => value(x, "gpu_hosts_jobs_completed_total") === 1);
        await api.close();
        const again = await startApi(c);
        open.push(again);
        const m = await scrape(again);
        assert.equal(value(m, "gpu_hosts_jobs_completed_total"), 1);
        assert.equal(value(m, "gpu_hosts_jobs_accepted_total"), 0, "the accepted count is the api process's own");
    });

    it("counts failed jobs, their Ollama errors and their durations", async () => {
        // An unknown model is a permanent error (HTTP 404): the job fails at once.
        const { api } = await stack({ OLLAMA_MODEL: "no-such-model" });
        const ids = [(await submit(api, "AAA")).id, (await submit(api, "BBB")).id];
        for (const id of ids) assert.equal((await finished(api, id)).status, "failed");
        const m = await scrapeUntil(api, "2 failed jobs observed", (x) =>
            value(x, "gpu_hosts_jobs_failed_total") === 2 && value(x, "gpu_hosts_job_duration_seconds_count") === 2);
        assert.equal(value(m, "gpu_hosts_jobs_completed_total"), 0);
        assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "failed", window: "5m" }), 2);
        assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "failed", window: "60m" }), 2);
        assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "completed", window: "5m" }), 0);
        assert.equal(value(m, "gpu_hosts_ollama_errors_total"), 2);
        assert.equal(value(m, "gpu_hosts_queue_jobs", { state: "failed" }), 2);
    });

    it("counts a job that keeps hanging Ollama once when it fails, and each timed-out call as an Ollama error", async () => {
        const { api } = await stack({ JOB_TIMEOUT_MS: "200", JOB_ATTEMPTS: "1", JOB_MAX_DEFERRALS: "2" });
        ollama.hang = true;
        assert.equal((await finished(api, (await submit(api, "AAA")).id)).status, "failed");
        const m = await scrapeUntil(api, "the failure", (x) => value(x, "gpu_hosts_jobs_failed_total") === 1);
        assert.equal(value(m, "gpu_hosts_ollama_errors_total"), 3, "two put-backs, then the failing call");
        assert.equal(value(m, "gpu_hosts_jobs_finished_recent", { outcome: "failed", window: "5m" }), 1);
    });

    it("shows the queue depth and each state's count while jobs wait", async () => {
        const { api } = await apiOnly(); // no worker: jobs stay waiting
        for (const t of ["A1", "A2", "A3"]) await submit(api, t);
        await api.queue.add("analyze", { ticker: "LATER", date: "2024-05-10" }, { delay: 10 * MINUTE });
        await api.queue.add("analyze", { ticker: "FIRST", date: "2024-05-10" }, { priority: 1 });
        const m = await scrape(api);
        assert.deepEqual(
            Object.fromEntries(samplesNamed(m, "gpu_hosts_queue_jobs").map((s) => [s.labels.state, s.value])),
            { waiting: 3, active: 0, delayed: 1, prioritized: 1, "waiting-children": 0, completed: 0, failed: 0, paused: 0 },
        );
        assert.equal(value(m, "gpu_hosts_queue_depth"), 5);
        assert.equal(value(m, "gpu_hosts_jobs_accepted_total"), 3, "jobs added past the api are not accepted by it");
        // No worker reports: its breaker is unknown, so absent, and no worker is counted.
        assert.equal(samplesNamed(m, "gpu_hosts_breaker_open").length, 0);
        assert.equal(samplesNamed(m, "gpu_hosts_breaker_state").length, 0);
        assert.equal(value(m, "gpu_hosts_workers"), 0);
    });

    it("counts Ollama errors and flips the breaker gauge to open, half_open, and closed once Ollama answers", async () => {
        // One put-back, then the job fails on the probe: no job is left to probe with, so the breaker
        // stays half_open (its pause over, not closed yet) until the next job.
        const { api } = await stack({ OLLAMA_RETRY_BASE_MS: "1500", OLLAMA_RETRY_MAX_MS: "3000", JOB_MAX_DEFERRALS: "1", JOB_ATTEMPTS: "1" });
        ollama.failNext = 1_000_000;
        const first = await submit(api, "AAA");
        const breaker = (x: Map<string, Family>) => Object.fromEntries(samplesNamed(x, "gpu_hosts_breaker_state").map((s) => [s.labels.state, s.value]));
        const opened = await scrapeUntil(api, "the breaker open", (x) => samplesNamed(x, "gpu_hosts_breaker_open")[0]?.value === 1);
        assert.deepEqual(breaker(opened), { closed: 0, open: 1, half_open: 0 });
        assert.equal(value(opened, "gpu_hosts_ollama_errors_total"), 1);
        assert.equal(value(opened, "gpu_hosts_jobs_failed_total"), 0, "an outage fails no job");
        assert.equal((await finished(api, first.id)).status, "failed");
        const half = await scrapeUntil(api, "the breaker half_open", (x) => breaker(x).half_open === 1);
        assert.deepEqual(breaker(half), { closed: 0, open: 0, half_open: 1 });
        assert.equal(value(half, "gpu_hosts_breaker_open"), 1, "not closed");
        ollama.failNext = 0;
        assert.equal((await finished(api, (await submit(api, "BBB")).id)).status, "completed");
        const closed = await scrapeUntil(api, "the breaker closed", (x) => value(x, "gpu_hosts_breaker_open") === 0);
        assert.deepEqual(breaker(closed), { closed: 1, open: 0, half_open: 0 });
        assert.equal(value(closed, "gpu_hosts_ollama_errors_total"), 2, "every failed generate call, and only those");
        assert.equal(ollama.generateCalls().length, 3);
    });

    it("drops a worker's breaker report when it stops", async () => {
        const { api, worker } = await stack();
        await scrapeUntil(api, "the report", (x) => value(x, "gpu_hosts_workers") === 1);
        await worker.close();
        const m = await scrape(api);
        assert.equal(value(m, "gpu_hosts_workers"), 0);
        assert.equal(samplesNamed(m, "gpu_hosts_breaker_open").length, 0);
    });

    it("keeps the Redis-read counters going up when Redis loses its counts", async () => {
        const { config: c, api } = await apiOnly();
        await admin.set(ollamaErrorsKey(c.queueName), "5");
        assert.equal(value(await scrape(api), "gpu_hosts_ollama_errors_total"), 5);
        await admin.del(ollamaErrorsKey(c.queueName)); // as FLUSHALL would
        await admin.set(ollamaErrorsKey(c.queueName), "2"); // two more since
        assert.equal(value(await scrape(api), "gpu_hosts_ollama_errors_total"), 7);
        await admin.set(ollamaErrorsKey(c.queueName), "3");
        assert.equal(value(await scrape(api), "gpu_hosts_ollama_errors_total"), 8);
    });

    it("answers within REDIS_TIMEOUT_MS when Redis is unreachable, with redis_up 0, no Redis-read gauge, and the counters kept", async () => {
        // A port where a listener accepts connections and never answers: every Redis call hangs.
        const { createServer } = await import("node:net");
        const sockets = new Set<import("node:net").Socket>();
        const blackHole = createServer((s) => sockets.add(s.on("error", () => undefined)));
        const port = await freePort();
        await new Promise<void>((r) => blackHole.listen(port, "127.0.0.1", r));
        try {
            const c = testConfig(`redis://127.0.0.1:${port}/0`, ollama.url, { REDIS_TIMEOUT_MS: "300", HEARTBEAT_FILE: join(dir, "hb-black-hole") });
            const api = await startApi(c); // gives up waiting for Redis after 5 s
            open.push(api);
            const started = Date.now();
            const m = await scrape(api);
            const ms = Date.now() - started;
            assert.ok(ms < 1500, `answered in ${ms} ms`);
            assert.equal(value(m, "gpu_hosts_redis_up"), 0);
            for (const name of ["gpu_hosts_queue_depth", "gpu_hosts_queue_jobs", "gpu_hosts_jobs_finished_recent", "gpu_hosts_breaker_open", "gpu_hosts_workers"]) {
                assert.equal(samplesNamed(m, name).length, 0, name);
            }
            assert.equal(value(m, "gpu_hosts_jobs_completed_total"), 0);
            assert.equal(value(m, "gpu_hosts_jobs_accepted_total"), 0);
        } finally {
            for (const s of sockets) s.destroy();
            await new Promise((r) => blackHole.close(r));
        }
    });

    it("answers at once when Redis is down after it was up, keeping what it counted", async () => {
        const down = await startRedis();
        try {
            const c = testConfig(down.url, ollama.url, { HEARTBEAT_FILE: join(dir, "hb-down") });
            const api = await startApi(c);
            open.push(api);
            const worker = startWorker(c, createLogger(c, "worker"));
            await finished(api, (await submit(api, "AAA")).id);
            await scrapeUntil(api, "1 completed", (x) => value(x, "gpu_hosts_jobs_completed_total") === 1);
            await worker.close();
            await down.stop();
            const started = Date.now();
            const m = await scrape(api);
            assert.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms`);
            assert.equal(value(m, "gpu_hosts_redis_up"), 0);
            assert.equal(value(m, "gpu_hosts_jobs_completed_total"), 1, "a counter keeps its last value");
            assert.equal(value(m, "gpu_hosts_jobs_accepted_total"), 1);
            assert.equal(samplesNamed(m, "gpu_hosts_queue_depth").length, 0);
        } finally {
            await down.stop();
        }
    });

    it("is in the OpenAPI document, needs no rate-limit budget, and answers with prom-client's content type", async () => {
        const { api } = await apiOnly({ RATE_LIMIT_MAX: "2" });
        // The limit counts per client address in Redis, shared with the other tests: a fresh address.
        const from = { "x-forwarded-for": `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250)).join(".")}` };
        const docs = await api.app.inject({ method: "GET", url: "/docs/json", headers: from });
        assert.equal(docs.statusCode, 200, docs.body);
        const doc = docs.json();
        assert.ok(doc.paths["/metrics"].get, "GET /metrics is documented");
        assert.ok(doc.paths["/metrics"].get.responses["200"].content["text/plain"], JSON.stringify(doc.paths["/metrics"].get.responses));
        const unknown = "/jobs/00000000-0000-4000-8000-000000000000";
        assert.equal((await api.app.inject({ method: "GET", url: unknown, headers: from })).statusCode, 404);
        assert.equal((await api.app.inject({ method: "GET", url: unknown, headers: from })).statusCode, 429, "the budget of 2 is spent");
        for (let i = 0; i < 5; i++) {
            const res = await api.app.inject({ method: "GET", url: "/metrics", headers: from });
            assert.equal(res.statusCode, 200, `scrape ${i + 1}: ${res.body.slice(0, 200)}`);
            assert.equal(res.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        }
    });

    it("several apps in one process keep their own registries", async () => {
        const a = await apiOnly({ APP_SLOT: "blue" });
        const b = await apiOnly({ APP_SLOT: "green" });
        await submit(a.api, "AAA");
        assert.equal(value(await scrape(a.api), "gpu_hosts_jobs_accepted_total"), 1);
        assert.equal(sampleValue(await scrape(b.api), "gpu_hosts_jobs_accepted_total", { slot: "green" }), 0);
    });
});

describe("finished-job windows from BullMQ's per-minute metrics", () => {
    let redis: RedisHandle;
    before(async () => {
        redis = await startRedis();
    });
    after(async () => redis?.stop());

    it("counts what BullMQ's own scripts recorded, job by job, at known times", async () => {
        // Jobs are taken and finished by hand (Worker.getNextJob and Job.moveToCompleted, BullMQ's
        // manual processing API), with Date.now() pinned for each finish: moveToCompletedArgs
        // (classes/redis-queue-backend.js) stamps the finish with it, and collectMetrics.lua files
        // the job under that minute.
        const c = testConfig(redis.url, "http://127.0.0.1:9", {});
        const api = await startApi(c);
        const worker = new Worker(c.queueName, null, { connection: bullConnection(c, "gpu-hosts-worker", { maxRetriesPerRequest: null }), metrics: { maxDataPoints: FINISHED_HISTORY_MINUTES } });
        const realNow = Date.now;
        try {
            const now = realNow();
            // Oldest first, as time goes: out of both windows, in 60m only, in both (twice), the current minute.
            const finishes = [now - 70 * MINUTE, now - 30 * MINUTE, now - 3 * MINUTE, now - 3 * MINUTE, now];
            for (const [i, at] of finishes.entries()) {
                await api.queue.add("analyze", { ticker: `T${i}`, date: "2024-05-10" });
                const job = await worker.getNextJob("token", { block: false });
                assert.ok(job, "a job to take");
                Date.now = () => at;
                try {
                    await job.moveToCompleted({ ticker: `T${i}`, date: "2024-05-10", model: "m", analysis: "a" }, "token", false);
                } finally {
                    Date.now = realNow;
                }
            }
            const metrics = await api.queue.getMetrics("completed", 0, -1);
            assert.equal(metrics.meta.count, 5);
            assert.ok(metrics.data.length <= FINISHED_HISTORY_MINUTES, `${metrics.data.length} data points kept`);
            assert.equal(finishedInWindow(metrics, realNow(), 5), 3);
            assert.equal(finishedInWindow(metrics, realNow(), 60), 4);
            const res = await api.app.inject({ method: "GET", url: "/metrics" });
            const m = parseExposition(res.body);
            assert.equal(sampleValue(m, "gpu_hosts_jobs_finished_recent", { slot: "blue", outcome: "completed", window: "5m" }), 3);
            assert.equal(sampleValue(m, "gpu_hosts_jobs_finished_recent", { slot: "blue", outcome: "completed", window: "60m" }), 4);
            assert.equal(sampleValue(m, "gpu_hosts_jobs_completed_total", { slot: "blue" }), 5);
        } finally {
            Date.now = realNow;
            await worker.close();
            await api.close();
        }
    });

    it("reads the minutes after the last finish as empty, and a window start as exclusive", () => {
        const t0 = Date.UTC(2024, 4, 10, 12, 0, 30); // 12:00:30
        // Finishes at 11:50 (2), 11:58 (1), then 12:00:30 (1, the one that pushed the earlier minutes).
        const m = { meta: { count: 4, prevTS: t0, prevCount: 3 }, data: [0, 1, 0, 0, 0, 0, 0, 0, 0, 2] };
        assert.equal(finishedInWindow(m, t0, 5), 2); // 11:56..12:00
        assert.equal(finishedInWindow(m, t0, 60), 4);
        assert.equal(finishedInWindow(m, t0 + 4 * MINUTE, 5), 1); // 12:00..12:04: only the 12:00 one
        assert.equal(finishedInWindow(m, t0 + 5 * MINUTE, 5), 0); // 12:01..12:05
        assert.equal(finishedInWindow(m, t0 + 59 * MINUTE, 60), 1);
        assert.equal(finishedInWindow({ meta: { count: 0, prevTS: 0, prevCount: 0 }, data: [] }, t0, 5), 0);
        // The worker's clock a little ahead of the api's: its current minute still counts.
        assert.equal(finishedInWindow(m, t0 - MINUTE, 5), 2);
    });

    it("keeps enough history for the longest window", () => {
        assert.ok(Math.max(...FINISHED_WINDOWS_MIN) <= FINISHED_HISTORY_MINUTES);
    });
});

describe("breaker reports", () => {
    it("count fresh reports only, and give the worst state", () => {
        const now = 1_000_000;
        const r = (state: string, until: number) => JSON.stringify({ state, until });
        assert.deepEqual(breakerFromReports({}, now), { workers: 0, state: null });
        assert.deepEqual(breakerFromReports({ a: r("closed", now + 1), b: r("open", now - 1) }, now), { workers: 1, state: "closed" });
        assert.deepEqual(breakerFromReports({ a: r("closed", now + 1), b: r("half_open", now + 1) }, now), { workers: 2, state: "half_open" });
        assert.deepEqual(breakerFromReports({ a: r("open", now), b: r("half_open", now + 1) }, now), { workers: 2, state: "open" });
        assert.deepEqual(breakerFromReports({ a: "not json", b: r("ajar", now + 1), c: JSON.stringify({ state: "open" }) }, now), { workers: 0, state: null });
        assert.equal(breakerReportsKey("jobs-blue"), "gpu-hosts:breaker:jobs-blue");
    });
});
