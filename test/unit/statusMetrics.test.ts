// A slot's /metrics read by status, on text that prom-client itself writes (the app's client library,
// app/node_modules/prom-client), with the series and labels of the app's contract (app/src/metrics.ts).
import * as assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "../../app/node_modules/prom-client";
import { slotMetrics, slotsIn } from "../../scripts/lib/status/metrics";

/** What a slot's api serves: every series of the contract for `slot`, plus the Node defaults. */
async function exposition(slot: string, o: { breaker?: number; redisUp?: number; withRedisGauges?: boolean } = {}): Promise<string> {
    const registry = new Registry();
    const registers = [registry];
    const s = { slot };
    collectDefaultMetrics({ register: registry, labels: s });
    new Counter({ name: "gpu_hosts_jobs_accepted_total", help: "accepted", labelNames: ["slot"], registers }).inc(s, 42);
    new Counter({ name: "gpu_hosts_jobs_completed_total", help: "completed", labelNames: ["slot"], registers }).inc(s, 40);
    new Counter({ name: "gpu_hosts_jobs_failed_total", help: "failed", labelNames: ["slot"], registers }).inc(s, 1);
    new Counter({ name: "gpu_hosts_ollama_errors_total", help: "errors", labelNames: ["slot"], registers }).inc(s, 3);
    const h = new Histogram({ name: "gpu_hosts_job_duration_seconds", help: "duration", labelNames: ["slot"], buckets: [0.1, 1, 10], registers });
    h.observe(s, 0.4);
    h.observe(s, 2);
    new Gauge({ name: "gpu_hosts_redis_up", help: "redis", labelNames: ["slot"], registers }).set(s, o.redisUp ?? 1);
    if (o.withRedisGauges !== false) {
        const recent = new Gauge({ name: "gpu_hosts_jobs_finished_recent", help: "recent", labelNames: ["slot", "outcome", "window"], registers });
        recent.set({ ...s, outcome: "completed", window: "5m" }, 7);
        recent.set({ ...s, outcome: "failed", window: "5m" }, 0);
        recent.set({ ...s, outcome: "completed", window: "60m" }, 38);
        recent.set({ ...s, outcome: "failed", window: "60m" }, 1);
        new Gauge({ name: "gpu_hosts_queue_depth", help: "depth", labelNames: ["slot"], registers }).set(s, 2);
        const jobs = new Gauge({ name: "gpu_hosts_queue_jobs", help: "jobs", labelNames: ["slot", "state"], registers });
        for (const [state, n] of [["waiting", 2], ["active", 1], ["completed", 38], ["failed", 1]] as const) jobs.set({ ...s, state }, n);
        new Gauge({ name: "gpu_hosts_workers", help: "workers", labelNames: ["slot"], registers }).set(s, 1);
        if (o.breaker !== undefined) new Gauge({ name: "gpu_hosts_breaker_open", help: "breaker", labelNames: ["slot"], registers }).set(s, o.breaker);
    }
    return registry.metrics();
}

describe("status: reading a slot's /metrics", () => {
    it("reads every counter and gauge of the contract for its slot", async () => {
        const text = await exposition("blue", { breaker: 0 });
        assert.match(text, /gpu_hosts_job_duration_seconds_bucket\{le="0.1",slot="blue"\} 0/, "prom-client's own text");
        assert.deepEqual(slotMetrics(text, "blue"), {
            queueDepth: 2,
            queueJobs: { waiting: 2, active: 1, completed: 38, failed: 1 },
            completed5m: 7, failed5m: 0, completed60m: 38, failed60m: 1,
            acceptedTotal: 42, completedTotal: 40, failedTotal: 1, ollamaErrorsTotal: 3,
            breakerOpen: false, redisUp: true, workers: 1,
        });
    });

    it("an open breaker, Redis down (the Redis-read gauges then absent), no worker report", async () => {
        assert.equal(slotMetrics(await exposition("green", { breaker: 1 }), "green").breakerOpen, true);
        const down = slotMetrics(await exposition("green", { redisUp: 0, withRedisGauges: false }), "green");
        assert.equal(down.redisUp, false);
        assert.equal(down.queueDepth, null);
        assert.equal(down.completed5m, null);
        assert.equal(down.breakerOpen, null);
        assert.equal(down.completedTotal, 40, "counters keep their last value");
    });

    it("refuses an answer for another slot, or one that is not the contract's", async () => {
        const green = await exposition("green");
        assert.deepEqual(slotsIn(green), ["green"]);
        assert.throws(() => slotMetrics(green, "blue"), /it reports slot "green", not "blue"/);
        assert.throws(() => slotMetrics("<html><body>502 Bad Gateway</body></html>", "blue"), /no gpu_hosts_\* series/);
        assert.throws(() => slotMetrics("", "blue"), /no gpu_hosts_\* series/);
    });
});
