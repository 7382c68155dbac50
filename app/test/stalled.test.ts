/**
 * A worker killed mid-job loses no job, on the default lock and stalled-check settings: two worker
 * processes on one queue (as two GPU hosts' workers of a slot, over TLS as the worker ACL user), one
 * SIGKILLed while it runs jobs. BullMQ's stalled check returns its jobs to the queue, the other
 * worker completes them, each job completes exactly once, and all are done within 60 s of the kill
 * (the fleet e2e's bar).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Redis from "ioredis";
import { loadConfig } from "../src/config";
import { Api, startApi } from "./helpers/api";
import { waitFor } from "./helpers/fixtures";
import { FleetRedis, startFleetRedis } from "./helpers/fleet-redis";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { AppProcess, spawnRole, waitWorkerReady } from "./helpers/slots";

/** The fleet e2e's bar: every job done within this after a worker is killed. */
const BAR_MS = 60_000;
/** What each job takes in the stand-in "Ollama". */
const JOB_MS = 3000;

/** The queue's event stream as [ms, fields] (stream ids start with the ms time of the XADD). */
async function events(admin: Redis, queue: string): Promise<Array<{ at: number; event: string; jobId: string }>> {
    const entries = (await admin.xrange(`bull:${queue}:events`, "-", "+")) as Array<[string, string[]]>;
    return entries.map(([id, f]) => {
        const fields = Object.fromEntries(f.flatMap((_, i) => (i % 2 === 0 ? [[f[i], f[i + 1]]] : [])));
        return { at: Number(id.split("-")[0]), event: fields.event, jobId: fields.jobId };
    });
}

describe("a worker killed mid-job (default lock and stalled-check settings)", function () {
    this.timeout(240_000);
    let fleet: FleetRedis;
    const ollama = new OllamaStandIn();
    let dir: string;
    let api: Api | undefined;
    const workers: AppProcess[] = [];

    before(async () => {
        [fleet] = await Promise.all([startFleetRedis({ appendonly: true }), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-stalled-"));
    });
    after(async () => {
        await Promise.all(workers.map((w) => w.stop()));
        await api?.close();
        await Promise.all([fleet?.stop(), ollama.stop()]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("returns its jobs to the queue; the other worker completes every job exactly once, within 60 s", async () => {
        const queue = "jobs-blue";
        const env = {
            OLLAMA_BASE_URL: ollama.url,
            OLLAMA_MODEL: "stand-in",
            QUEUE_NAME: queue,
            WORKER_CONCURRENCY: "2",
            LOG_LEVEL: "info",
            // No WORKER_LOCK_DURATION_MS, WORKER_STALLED_INTERVAL_MS or WORKER_MAX_STALLED_COUNT: the defaults are under test.
        };
        const defaults = loadConfig({ REDIS_URL: "redis://x" });
        const [doomed, survivor] = ["a", "b"].map((n) => spawnRole("worker", { ...env, ...fleet.env("worker"), HEARTBEAT_FILE: join(dir, `hb-${n}`) }));
        workers.push(doomed, survivor);
        await Promise.all([waitWorkerReady(doomed, 90_000), waitWorkerReady(survivor, 90_000)]);

        const a = await startApi(loadConfig({ ...fleet.env("api"), OLLAMA_BASE_URL: ollama.url, QUEUE_NAME: queue, LOG_LEVEL: "silent" }));
        api = a;
        ollama.delayMs = JOB_MS;
        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
            const res = await a.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: `T${i}`, date: "2024-05-10" } });
            assert.equal(res.statusCode, 202, res.body);
            ids.push(res.json().job_id);
        }
        // Both workers busy (2 + 2 jobs running), then one is killed: its two jobs are mid-run.
        await waitFor("four jobs running", async () => ollama.generateCalls().length >= 4, 30_000);
        doomed.proc.kill("SIGKILL");
        const killedAt = Date.now();
        assert.equal((await doomed.exited).signal, "SIGKILL");

        const admin = fleet.admin();
        const jobs = await waitFor("every job to finish", async () => {
            const all = await Promise.all(ids.map(async (id) => (await a.app.inject({ method: "GET", url: `/jobs/${id}` })).json()));
            return all.every((j) => j.status === "completed" || j.status === "failed") ? all : undefined;
        }, BAR_MS + 30_000, 250);
        assert.deepEqual(jobs.map((j) => j.status), ids.map(() => "completed"), JSON.stringify(jobs.filter((j) => j.status !== "completed")));

        const log = await events(admin, queue);
        const stalled = log.filter((e) => e.event === "stalled");
        const completed = log.filter((e) => e.event === "completed");
        // The killed worker's two jobs stalled once each; every job completed once.
        assert.equal(stalled.length, 2, JSON.stringify(stalled));
        assert.deepEqual(completed.map((e) => e.jobId).sort(), [...ids].sort(), "each job completes exactly once");
        // Ollama ran the stalled jobs twice (the killed run and the rerun), the others once.
        assert.equal(ollama.generateCalls().length, ids.length + stalled.length);
        for (const e of stalled) {
            const hash = await admin.hgetall(`bull:${queue}:${e.jobId}`);
            assert.equal(hash.stc, "1", `job ${e.jobId} stalled once`);
        }

        const returnedMs = Math.max(...stalled.map((e) => e.at)) - killedAt;
        const lastDoneMs = Math.max(...jobs.map((j) => Date.parse(j.finished_at))) - killedAt;
        // The theory (see config.ts): a lock lives at most lockDuration after its last renewal, and
        // the next stalled check after that moves the job: within lockDuration + stalledInterval.
        const bound = defaults.lockDurationMs + defaults.stalledIntervalMs;
        // eslint-disable-next-line no-console
        console.log(`      kill -> stalled jobs back in the queue: ${(returnedMs / 1000).toFixed(1)} s (bound ${bound / 1000} s); kill -> last job done: ${(lastDoneMs / 1000).toFixed(1)} s (bar ${BAR_MS / 1000} s)`);
        assert.ok(returnedMs <= bound + 2000, `stalled jobs returned ${returnedMs} ms after the kill`);
        assert.ok(lastDoneMs <= BAR_MS, `last job done ${lastDoneMs} ms after the kill`);
        assert.deepEqual(await fleet.aclLog(), []);
    });
});
