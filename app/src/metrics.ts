/**
 * GET /metrics: the api's view of its slot in Prometheus text format, built with prom-client (the
 * Node ecosystem's Prometheus client) on a Registry of the api's own, so tests can build several
 * apps in one process. Every series carries slot="<APP_SLOT>" ("" when unset): a slot's api reports
 * its own slot's queue and worker, and `npm run status` scrapes both the live and the idle port.
 *
 * Where each value comes from:
 * - this api process: jobs it accepted; job durations, seen through BullMQ's event stream while it
 *   runs; the Node process metrics;
 * - Redis, read at scrape time within REDIS_TIMEOUT_MS: finished-job counts that BullMQ's own
 *   scripts keep as the worker finishes jobs, the queue's job counts, and what the worker reports
 *   (src/reports.ts): Ollama errors and its breaker. When Redis does not answer in time, /metrics
 *   still answers at once: gpu_hosts_redis_up is 0, the Redis-read gauges are left out (a stale
 *   depth would look current), and the Redis-read counters keep their last value.
 */
import { JobType, Queue, QueueEvents } from "bullmq";
import type Redis from "ioredis";
import type { Logger } from "pino";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AppConfig } from "./config";
import { openRedis } from "./connection";
import { withTimeout } from "./redis";
import { BREAKER_STATES, breakerFromReports } from "./reports";
import { BULL_PREFIX, breakerReportsKey, ollamaErrorsKey } from "./keys";

/**
 * Run time of a job's last attempt, in seconds: a stand-in answers in milliseconds, a small model on
 * a GPU in a second or two, a busy or CPU-bound one in tens of seconds, up to JOB_TIMEOUT_MS (300 s).
 */
export const JOB_DURATION_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

/** The "finished recently" windows, in minutes; the longest must fit the history the worker keeps (FINISHED_HISTORY_MINUTES in reports.ts). */
export const FINISHED_WINDOWS_MIN = [5, 60] as const;

/**
 * The states of Queue.getJobCounts exposed as gpu_hosts_queue_jobs. BullMQ 6 types leave "paused"
 * out of JobType: pausing a queue is now a flag in its meta hash and the jobs stay in wait. Its
 * getCounts-1.lua still counts the legacy paused list (LLEN), which holds jobs only for a queue that
 * an older BullMQ paused; it is reported as it is.
 */
export const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children", "completed", "failed", "paused"] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
/** Jobs waiting to run (not running): gpu_hosts_queue_depth. */
const WAITING_STATES: readonly QueueState[] = ["waiting", "paused", "delayed", "prioritized"];

/** BullMQ's per-queue finished-job metrics, as Queue.getMetrics returns them. */
export interface FinishedMetrics {
    readonly meta: { readonly count: number; readonly prevTS: number; readonly prevCount: number };
    /** Finished jobs per whole minute, newest first. */
    readonly data: readonly number[];
}

const MINUTE_MS = 60_000;

/**
 * Jobs finished in the current minute and the `minutes - 1` whole minutes before it (so over the
 * last minutes-1 to `minutes` minutes), from BullMQ's per-minute metrics.
 *
 * How BullMQ keeps them (includes/collectMetrics.lua, run by moveToFinished-14.lua with the
 * finishing worker's clock): `meta.count` counts every finished job. A job finishing in a later
 * minute than `meta.prevTS` first pushes onto the data list the count of the minute of prevTS
 * (count - prevCount), then a 0 for each minute in between, and sets prevTS to its own time and
 * prevCount to the count before it. So data[i] counts the minute floor(prevTS / 60 s) - 1 - i, and
 * the minute of prevTS itself is `count - prevCount`, not yet on the list. Nothing is pushed while
 * no job finishes: minutes after prevTS's are zeros that are not stored.
 */
export function finishedInWindow(m: FinishedMetrics, nowMs: number, minutes: number): number {
    if (!m.meta.prevTS) return 0; // no job finished yet (the first one sets prevTS)
    const first = Math.floor(nowMs / MINUTE_MS) - minutes + 1; // oldest minute inside the window
    const last = Math.floor(m.meta.prevTS / MINUTE_MS);
    let sum = last >= first ? Math.max(0, m.meta.count - m.meta.prevCount) : 0;
    for (let i = 0; i < m.data.length && last - 1 - i >= first; i++) sum += m.data[i];
    return sum;
}

/**
 * A Prometheus counter that follows a count kept in Redis and never goes down. It starts at the
 * count Redis holds (so it survives api restarts). A count lower than the last one read means Redis
 * lost it (FLUSHALL, a Redis restart without persistence, the queue obliterated): what Redis counted
 * since is added on top, so the counter still only goes up while this api runs. After an api
 * restart it starts again from Redis's count, which Prometheus sees as an ordinary counter reset.
 * A loss followed, before the next scrape, by more jobs than were lost is not seen.
 */
class RedisCountFollower {
    private last: number | undefined;

    constructor(
        private readonly counter: Counter<"slot">,
        private readonly labels: { slot: string },
    ) {
        counter.inc(labels, 0);
    }

    follow(count: number): void {
        const delta = this.last === undefined || count < this.last ? count : count - this.last;
        this.last = count;
        if (delta > 0) this.counter.inc(this.labels, delta);
    }
}

/** One scrape's reads from Redis. */
interface RedisSnapshot {
    readonly counts: Record<QueueState, number>;
    readonly completed: FinishedMetrics;
    readonly failed: FinishedMetrics;
    readonly ollamaErrors: number;
    readonly breakerReports: Record<string, string>;
}

export interface ApiMetrics {
    /** The api's own registry (not prom-client's global one). */
    readonly registry: Registry;
    /** A POST /jobs made a new job (202); an idempotent replay (200) is not one. */
    jobAccepted(): void;
    /** Reads Redis (bounded by REDIS_TIMEOUT_MS), then renders the exposition text. */
    render(): Promise<string>;
    /** Resolves once the connection of the event stream that feeds the duration histogram is ready (never rejects). */
    ready(): Promise<void>;
    close(): Promise<void>;
}

export function createApiMetrics(opts: {
    readonly config: AppConfig;
    readonly queue: Queue;
    /** The api's own Redis client (no offline queue: fails at once while Redis is down). */
    readonly client: Redis;
    readonly logger: Logger;
}): ApiMetrics {
    const { config, queue, client } = opts;
    const slot = { slot: config.slot ?? "" };
    const registry = new Registry();
    const registers = [registry];
    // The usual process_* and nodejs_* series: a few gauges read at scrape time, an event-loop delay
    // monitor and a GC observer; cheap next to a request.
    collectDefaultMetrics({ register: registry, labels: slot });

    const accepted = new Counter({
        name: "gpu_hosts_jobs_accepted_total",
        help: "Jobs this api accepted (POST /jobs answered 202); idempotent replays are not counted. Restarts with the api.",
        labelNames: ["slot"] as const,
        registers,
    });
    accepted.inc(slot, 0);
    const completed = new Counter({
        name: "gpu_hosts_jobs_completed_total",
        help: "Jobs of this slot's queue that completed, as BullMQ counts them in Redis when the worker finishes them.",
        labelNames: ["slot"] as const,
        registers,
    });
    const failed = new Counter({
        name: "gpu_hosts_jobs_failed_total",
        help: "Jobs of this slot's queue that failed for good (no attempt left, or a permanent error), as BullMQ counts them in Redis.",
        labelNames: ["slot"] as const,
        registers,
    });
    const ollamaErrors = new Counter({
        name: "gpu_hosts_ollama_errors_total",
        help: "Ollama generate calls of this slot's worker that failed (HTTP error, refused or dropped connection, time limit, empty answer), counted in Redis.",
        labelNames: ["slot"] as const,
        registers,
    });
    const follow = {
        completed: new RedisCountFollower(completed, slot),
        failed: new RedisCountFollower(failed, slot),
        ollamaErrors: new RedisCountFollower(ollamaErrors, slot),
    };
    const finishedRecent = new Gauge({
        name: "gpu_hosts_jobs_finished_recent",
        help: "Jobs of this slot's queue that finished in the current minute and the window-1 whole minutes before it, from BullMQ's per-minute counts.",
        labelNames: ["slot", "outcome", "window"] as const,
        registers,
    });
    const depth = new Gauge({
        name: "gpu_hosts_queue_depth",
        help: "Jobs of this slot's queue waiting to run (waiting, paused, delayed, prioritized); running jobs are not counted.",
        labelNames: ["slot"] as const,
        registers,
    });
    const queueJobs = new Gauge({
        name: "gpu_hosts_queue_jobs",
        help: "Jobs of this slot's queue per state, as BullMQ's Queue.getJobCounts reports them (finished jobs within retention).",
        labelNames: ["slot", "state"] as const,
        registers,
    });
    const duration = new Histogram({
        name: "gpu_hosts_job_duration_seconds",
        help: "Run time of the last attempt (processedOn to finishedOn) of the jobs of this slot's queue that finished, completed or failed, while this api ran.",
        labelNames: ["slot"] as const,
        buckets: JOB_DURATION_BUCKETS_S,
        registers,
    });
    duration.zero(slot);
    const breakerOpen = new Gauge({
        name: "gpu_hosts_breaker_open",
        help: "1 while the Ollama circuit breaker of this slot's worker is not closed (open or half_open), else 0; absent without a fresh worker report.",
        labelNames: ["slot"] as const,
        registers,
    });
    const breakerState = new Gauge({
        name: "gpu_hosts_breaker_state",
        help: "1 for the Ollama circuit breaker's current state (closed, open, half_open) in this slot's worker, 0 for the others; the worst state when several workers report.",
        labelNames: ["slot", "state"] as const,
        registers,
    });
    const workers = new Gauge({
        name: "gpu_hosts_workers",
        help: "Workers of this slot's queue whose breaker report is fresh (they report every HEARTBEAT_INTERVAL_MS).",
        labelNames: ["slot"] as const,
        registers,
    });
    const redisUp = new Gauge({
        name: "gpu_hosts_redis_up",
        help: "1 when this scrape read Redis within REDIS_TIMEOUT_MS, else 0 (then the Redis-read gauges are absent and the Redis-read counters keep their last value).",
        labelNames: ["slot"] as const,
        registers,
    });

    const readRedis = async (): Promise<RedisSnapshot> => {
        // The last data point a window needs: the 60-minute one reads the current minute from the
        // metrics hash and the 59 before it from the list (indexes 0..58).
        const end = Math.max(...FINISHED_WINDOWS_MIN) - 2;
        const [counts, completedMetrics, failedMetrics, reports] = await Promise.all([
            queue.getJobCounts(...(QUEUE_STATES as readonly string[] as JobType[])),
            queue.getMetrics("completed", 0, end),
            queue.getMetrics("failed", 0, end),
            client.pipeline().get(ollamaErrorsKey(config.queueName)).hgetall(breakerReportsKey(config.queueName)).exec(),
        ]);
        if (!reports) throw new Error("metrics read: no reply");
        const [[getErr, errorCount], [hashErr, hash]] = reports;
        if (getErr) throw getErr;
        if (hashErr) throw hashErr;
        return {
            counts: Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>,
            completed: completedMetrics,
            failed: failedMetrics,
            ollamaErrors: Number(errorCount ?? 0) || 0,
            breakerReports: (hash ?? {}) as Record<string, string>,
        };
    };

    /** Gauges read from Redis: dropped when Redis does not answer, so no stale value looks current. */
    const redisGauges = [finishedRecent, depth, queueJobs, breakerOpen, breakerState, workers];
    const apply = (s: RedisSnapshot, now: number) => {
        for (const g of redisGauges) g.reset();
        redisUp.set(slot, 1);
        for (const state of QUEUE_STATES) queueJobs.set({ ...slot, state }, s.counts[state]);
        depth.set(slot, WAITING_STATES.reduce((sum, state) => sum + s.counts[state], 0));
        follow.completed.follow(s.completed.meta.count);
        follow.failed.follow(s.failed.meta.count);
        follow.ollamaErrors.follow(s.ollamaErrors);
        for (const minutes of FINISHED_WINDOWS_MIN) {
            for (const [outcome, m] of [["completed", s.completed], ["failed", s.failed]] as const) {
                finishedRecent.set({ ...slot, outcome, window: `${minutes}m` }, finishedInWindow(m, now, minutes));
            }
        }
        const breaker = breakerFromReports(s.breakerReports, now);
        workers.set(slot, breaker.workers);
        if (breaker.state !== null) {
            breakerOpen.set(slot, breaker.state === "closed" ? 0 : 1);
            for (const state of BREAKER_STATES) breakerState.set({ ...slot, state }, state === breaker.state ? 1 : 0);
        }
    };

    // One read at a time: concurrent scrapes share it, so a burst of scrapes costs Redis one read,
    // and an older read can never be applied after a newer one (a counter would see a false drop).
    let refreshing: Promise<void> | undefined;
    const refresh = (): Promise<void> => {
        refreshing ??= (async () => {
            try {
                const snapshot = await withTimeout(readRedis(), config.redisTimeoutMs, "metrics read");
                apply(snapshot, Date.now());
            } catch (err) {
                opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "metrics: Redis read failed");
                for (const g of redisGauges) g.reset();
                redisUp.set(slot, 0);
            } finally {
                refreshing = undefined;
            }
        })();
        return refreshing;
    };

    const durations = watchJobDurations(config, queue, client, (seconds) => duration.observe(slot, seconds));

    return {
        registry,
        jobAccepted: () => accepted.inc(slot),
        async render() {
            await refresh();
            return registry.metrics();
        },
        ready: durations.ready,
        close: durations.close,
    };
}

/**
 * Observes the run time of each job of the queue that finishes, from BullMQ's event stream of the
 * queue (QueueEvents: an XREAD loop on its own blocking connection) and the job's own timestamps
 * (processedOn: start of the last attempt; finishedOn), read from the job's hash. "failed" events
 * are final failures only: a retried attempt emits delayed/waiting instead (moveToFinished-14.lua
 * XADDs completed/failed; Job.moveToFailed takes that path only when no retry is left).
 *
 * It covers the jobs that finished while this api ran: QueueEvents starts at the stream's end ("$")
 * and, after a lost connection, goes on from the last event it read (QueueEvents.consumeEvents),
 * so only a job whose hash retention removed before the read, or whose read failed, is missed.
 */
function watchJobDurations(
    config: AppConfig,
    queue: Queue,
    client: Redis,
    observe: (seconds: number) => void,
): { ready(): Promise<void>; close(): Promise<void> } {
    // Its own connection (XREAD blocks it), owned here so close() can surely stop it. Blocking
    // connections must not give up on a command: BullMQ requires maxRetriesPerRequest null.
    const connection = openRedis(config, "gpu-hosts-api-events", { maxRetriesPerRequest: null });
    connection.on("error", () => undefined);
    const events = new QueueEvents(config.queueName, { connection, prefix: BULL_PREFIX, autorun: false });
    events.on("error", () => undefined); // Redis outages show in /health and gpu_hosts_redis_up
    const onFinished = ({ jobId }: { jobId: string }) => {
        client
            .hmget(queue.toKey(jobId), "processedOn", "finishedOn")
            .then(([processedOn, finishedOn]) => {
                const ms = Number(finishedOn) - Number(processedOn);
                if (processedOn && finishedOn && Number.isFinite(ms) && ms >= 0) observe(ms / 1000);
            })
            .catch(() => undefined);
    };
    events.on("completed", onFinished);
    events.on("failed", onFinished);

    // run() gives up for good if its first Redis call fails (the api started while Redis was down):
    // start it again until close().
    let closed = false;
    void (async () => {
        while (!closed) {
            try {
                await events.run();
            } catch {
                if (!closed) await new Promise((r) => setTimeout(r, 1000).unref());
            }
        }
    })();
    return {
        ready: () => events.waitUntilReady().then(() => undefined, () => undefined),
        async close() {
            closed = true;
            // QueueEvents.close() waits for the connection's "end" event (RedisConnection.disconnect in
            // classes/redis-connection.js), which ioredis never emits for a connection that waits
            // between reconnection attempts (its disconnect() only clears the retry timer then): with
            // Redis down it would never return. Then it is not waited for; otherwise the wait is
            // bounded all the same. Either way the connection ends here.
            const closing = events.close().catch(() => undefined);
            if (connection.status !== "reconnecting") {
                let timer: NodeJS.Timeout | undefined;
                await Promise.race([closing, new Promise((r) => (timer = setTimeout(r, 1000)))]);
                clearTimeout(timer);
            }
            connection.disconnect();
        },
    };
}
