/**
 * What a slot's worker reports through Redis for its api's GET /metrics. The worker has no HTTP
 * port, and a slot's api and worker share nothing but Redis, so each count or state lives in a small
 * per-queue key that the worker writes and the api reads at scrape time. The worker never waits for
 * these writes: a report that Redis refuses is lost, and a job is never slowed or failed by one.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type Redis from "ioredis";
import { breakerReportsKey, ollamaErrorsKey } from "./keys";
import { withTimeout } from "./redis";

/**
 * Minutes of per-minute finished-job counts BullMQ keeps for a queue: the worker's
 * `metrics.maxDataPoints`. The api's longest "finished recently" window (60 minutes) needs the
 * current minute, which BullMQ keeps in the metrics hash, plus the 59 before it from this list
 * (see finishedInWindow in metrics.ts); a longer history would only cost Redis memory.
 */
export const FINISHED_HISTORY_MINUTES = 60;


/**
 * The worker's Ollama circuit breaker:
 * - closed: generations work (or none failed since the worker started);
 * - open: an outage error paused the queue, and the pause is still running;
 * - half_open: the pause ran out and the breaker has not closed yet: the next job taken is the probe.
 */
export type BreakerState = "closed" | "open" | "half_open";
export const BREAKER_STATES: readonly BreakerState[] = ["closed", "open", "half_open"];

/** One worker's breaker, as it last reported it. */
export interface BreakerReport {
    readonly state: BreakerState;
    /** Epoch ms after which the report is stale (the worker stopped reporting: dead, hung or cut off). */
    readonly until: number;
}

/** Counts one Ollama request error of the queue's worker; fire and forget. */
export function countOllamaError(redis: Redis, queueName: string): void {
    redis.incr(ollamaErrorsKey(queueName)).catch(() => undefined);
}

/**
 * Publishes the worker's breaker state every `intervalMs`, and at once through publish() (on a
 * change), each report valid for `ttlMs`. The hash expires with the last report, and each round
 * drops the stale fields of workers that died without saying so, so it holds one field per live
 * worker. stop() removes this worker's field: a stopped worker is gone from /metrics at once.
 */
export function startBreakerReports(opts: {
    readonly redis: Redis;
    readonly queueName: string;
    readonly intervalMs: number;
    readonly ttlMs: number;
    /** Budget of each round's Redis calls, so a Redis that stopped answering cannot pile rounds up or hold stop(). */
    readonly timeoutMs: number;
    readonly state: () => BreakerState;
}): { publish(): void; stop(): Promise<void> } {
    const key = breakerReportsKey(opts.queueName);
    // hostname is the container id in Docker: the field says which container reported.
    const field = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    let stopped = false;
    let inFlight: Promise<void> = Promise.resolve();
    const round = async () => {
        if (stopped) return;
        const now = Date.now();
        const report: BreakerReport = { state: opts.state(), until: now + opts.ttlMs };
        try {
            await withTimeout(
                (async () => {
                    const replies = await opts.redis.multi().hset(key, field, JSON.stringify(report)).pexpire(key, opts.ttlMs).hgetall(key).exec();
                    const all = (replies?.[2]?.[1] ?? {}) as Record<string, string>;
                    const stale = Object.entries(all)
                        .filter(([f, raw]) => f !== field && !isFresh(parseBreakerReport(raw), now))
                        .map(([f]) => f);
                    if (stale.length > 0) await opts.redis.hdel(key, ...stale);
                })(),
                opts.timeoutMs,
                "breaker report",
            );
        } catch {
            // Redis is down or refuses writes: the report goes stale, which is what the api then shows.
        }
    };
    const publish = () => {
        inFlight = inFlight.then(round);
    };
    publish();
    const timer = setInterval(publish, opts.intervalMs);
    timer.unref();
    return {
        publish,
        async stop() {
            stopped = true;
            clearInterval(timer);
            await inFlight;
            await withTimeout(opts.redis.hdel(key, field), opts.timeoutMs, "breaker report removal").catch(() => undefined);
        },
    };
}

/** A report from its JSON, or null when it is not one. */
export function parseBreakerReport(raw: string): BreakerReport | null {
    try {
        const v = JSON.parse(raw) as Partial<BreakerReport>;
        return typeof v.until === "number" && BREAKER_STATES.includes(v.state as BreakerState) ? { state: v.state as BreakerState, until: v.until } : null;
    } catch {
        return null;
    }
}

function isFresh(report: BreakerReport | null, now: number): report is BreakerReport {
    return report !== null && report.until >= now;
}

/**
 * The queue's breaker from its workers' reports: how many workers reported and are not stale, and
 * the worst state among them (open, then half_open, then closed; the pause is queue-wide, so one
 * open breaker stops the whole queue), or null when no worker reported.
 */
export function breakerFromReports(hash: Record<string, string>, now: number): { readonly workers: number; readonly state: BreakerState | null } {
    const fresh = Object.values(hash).map(parseBreakerReport).filter((r): r is BreakerReport => isFresh(r, now));
    const rank: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
    const state = fresh.reduce<BreakerState | null>((worst, r) => (worst === null || rank[r.state] > rank[worst] ? r.state : worst), null);
    return { workers: fresh.length, state };
}
