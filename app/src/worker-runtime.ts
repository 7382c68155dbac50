import { Worker } from "bullmq";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import { OllamaBreaker } from "./breaker";
import { startHeartbeat } from "./heartbeat";
import { bullConnection } from "./connection";
import { AnalysisJobData, AnalysisResult } from "./jobs";
import { BULL_PREFIX, workerWriteKey } from "./keys";
import { createProcessor, OutageHooks } from "./processor";
import { checkRedisWritable, createProbeClient, pingRedis, redisErrorState } from "./redis";
import { exitOnPolicyViolation, guardEvictionPolicy, RedisPolicyError } from "./redisPolicy";
import { countOllamaError, FINISHED_HISTORY_MINUTES, startBreakerReports } from "./reports";

export interface WorkerHandle {
    readonly worker: Worker<AnalysisJobData, AnalysisResult>;
    /**
     * Resolves once Redis was found to meet BullMQ's requirement (maxmemory-policy noeviction) and the
     * worker started taking jobs; pending while Redis is unreachable.
     */
    readonly redisVerified: Promise<void>;
    /** Stops taking jobs, waits for the in-flight ones to finish, then disconnects. */
    close(): Promise<void>;
}

export interface WorkerOptions {
    /** Redis does not meet BullMQ's requirement, at start-up or after a reconnection. Defaults to logging it and exiting 1. */
    readonly onRedisPolicyViolation?: (err: RedisPolicyError) => void;
}

export function startWorker(config: AppConfig, logger: Logger, opts: WorkerOptions = {}): WorkerHandle {
    const probe = createProbeClient(config);
    const policy = guardEvictionPolicy(probe, {
        timeoutMs: config.redisTimeoutMs,
        onViolation: opts.onRedisPolicyViolation ?? exitOnPolicyViolation(logger),
    });
    const breaker = new OllamaBreaker({
        baseMs: config.ollamaRetryBaseMs,
        maxMs: config.ollamaRetryMaxMs,
        pause: (ms) => worker.rateLimit(ms),
        redis: probe,
        queueName: config.queueName,
        logger,
        onChange: () => breakerReports.publish(),
    });
    // The breaker's state for the api's /metrics: refreshed every heartbeat period, and valid for as
    // long as the heartbeat is (HEARTBEAT_MAX_AGE_MS), so a dead or hung worker's report goes stale
    // when its health check starts failing.
    const breakerReports = startBreakerReports({
        redis: probe,
        queueName: config.queueName,
        intervalMs: config.heartbeatIntervalMs,
        ttlMs: config.heartbeatMaxAgeMs,
        timeoutMs: config.redisTimeoutMs,
        state: () => breaker.state(),
    });
    const hooks: OutageHooks = {
        outage: (reason) => breaker.outage(reason),
        succeeded: () => breaker.succeeded(),
        requestFailed: () => countOllamaError(probe, config.queueName),
    };
    const worker: Worker<AnalysisJobData, AnalysisResult> = new Worker<AnalysisJobData, AnalysisResult>(config.queueName, createProcessor(config, logger, hooks), {
        // Blocking connections must not give up on a command; BullMQ requires null here.
        connection: bullConnection(config, "gpu-hosts-worker", { maxRetriesPerRequest: null }),
        prefix: BULL_PREFIX,
        // Started below, once Redis's maxmemory-policy is checked: no job is taken from a Redis that may evict it.
        autorun: false,
        concurrency: config.workerConcurrency,
        // A SIGKILLed worker stops renewing its locks; after lockDuration another worker's stalled
        // check moves the job back to waiting, so no accepted job is lost.
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        maxStalledCount: config.maxStalledCount,
        // BullMQ honours worker.rateLimit() (the breaker's pause) only when a limiter is set; this
        // one is far above any real rate, so it never limits by itself.
        limiter: { max: 1_000_000, duration: 1000 },
        // BullMQ's own per-minute counts of finished jobs, kept in Redis by the script that moves a job
        // to completed or failed (moveToFinished-14.lua -> includes/collectMetrics.lua), only for
        // final outcomes (a retried attempt goes to delayed or wait instead: Job.moveToFailed in
        // classes/job.js). The api's /metrics reads them with Queue.getMetrics.
        metrics: { maxDataPoints: FINISHED_HISTORY_MINUTES },
    });

    worker.on("active", (job) => logger.info({ jobId: job.id, attempt: job.attemptsMade + 1 }, "job started"));
    worker.on("completed", (job) => logger.info({ jobId: job.id, attempts: job.attemptsMade }, "job completed"));
    worker.on("failed", (job, err) => {
        const final = !job || job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1);
        logger[final ? "error" : "warn"](
            { jobId: job?.id, attempt: job?.attemptsMade, err: err.message, final },
            final ? "job failed" : "attempt failed, will retry",
        );
    });
    worker.on("stalled", (jobId) => logger.warn({ jobId }, "stalled job moved back to waiting"));
    // Errors are logged at most once per 5 s (with a count), so a failing Redis cannot flood the log.
    let lastErrorLog = 0;
    let suppressed = 0;
    worker.on("error", (err) => {
        const now = Date.now();
        if (now - lastErrorLog >= 5000) {
            logger.error({ err: err.message, suppressed }, "worker error");
            lastErrorLog = now;
            suppressed = 0;
        } else {
            suppressed++;
        }
        const state = redisErrorState(err);
        if (state === "oom" || state === "readonly") void backOffFromRedis(state);
    });

    // Redis refuses writes (maxmemory with noeviction, a read-only replica): BullMQ would retry
    // taking a job at once, forever. Stop taking jobs instead, probe with a small write at a growing
    // interval, and resume by itself once Redis takes writes again.
    let backingOff = false;
    let closed = false;
    const backOffFromRedis = async (state: string) => {
        if (backingOff || closed) return;
        backingOff = true;
        logger.warn({ redis: state }, "Redis refuses writes: worker paused until it accepts them again");
        try {
            await worker.pause(true);
            for (let delay = 250; !closed; delay = Math.min(delay * 2, 15_000)) {
                await new Promise((r) => setTimeout(r, delay).unref());
                if (closed) return;
                if ((await checkRedisWritable(probe, workerWriteKey(config.queueName), config.redisTimeoutMs)) === "ok") break;
            }
            if (!closed) {
                worker.resume();
                logger.info("Redis accepts writes again: worker resumed");
            }
        } finally {
            backingOff = false;
        }
    };

    const heartbeat = startHeartbeat(
        config.heartbeatFile,
        config.heartbeatIntervalMs,
        async () => worker.isRunning() && (await pingRedis(probe, config.redisTimeoutMs)) === "ok",
    );

    const redisVerified = policy.verified.then(() => {
        if (closed) return;
        worker.run().catch((err) => worker.emit("error", err instanceof Error ? err : new Error(String(err))));
    });

    let closing: Promise<void> | undefined;
    return {
        worker,
        redisVerified,
        close() {
            closing ??= (async () => {
                closed = true;
                policy.stop();
                await worker.close();
                await Promise.all([heartbeat.stop(), breakerReports.stop()]);
                probe.disconnect();
            })();
            return closing;
        },
    };
}
