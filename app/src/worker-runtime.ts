import { Worker } from "bullmq";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import { OllamaBreaker } from "./breaker";
import { startHeartbeat } from "./heartbeat";
import { AnalysisJobData, AnalysisResult, bullConnection } from "./jobs";
import { createProcessor } from "./processor";
import { createProbeClient, pingRedis } from "./redis";

export interface WorkerHandle {
    readonly worker: Worker<AnalysisJobData, AnalysisResult>;
    /** Stops taking jobs, waits for the in-flight ones to finish, then disconnects. */
    close(): Promise<void>;
}

export function startWorker(config: AppConfig, logger: Logger): WorkerHandle {
    const probe = createProbeClient(config.redisUrl, config.redisTimeoutMs);
    const breaker = new OllamaBreaker({
        baseMs: config.ollamaRetryBaseMs,
        maxMs: config.ollamaRetryMaxMs,
        pause: (ms) => worker.rateLimit(ms),
        redis: probe,
        queueName: config.queueName,
        logger,
    });
    const worker: Worker<AnalysisJobData, AnalysisResult> = new Worker<AnalysisJobData, AnalysisResult>(config.queueName, createProcessor(config, logger, breaker), {
        // Blocking connections must not give up on a command; BullMQ requires null here.
        connection: bullConnection(config, { maxRetriesPerRequest: null }),
        concurrency: config.workerConcurrency,
        // A SIGKILLed worker stops renewing its locks; after lockDuration another worker's stalled
        // check moves the job back to waiting, so no accepted job is lost.
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        maxStalledCount: config.maxStalledCount,
        // BullMQ honours worker.rateLimit() (the breaker's pause) only when a limiter is set; this
        // one is far above any real rate, so it never limits by itself.
        limiter: { max: 1_000_000, duration: 1000 },
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
    worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));

    const heartbeat = startHeartbeat(
        config.heartbeatFile,
        config.heartbeatIntervalMs,
        async () => worker.isRunning() && (await pingRedis(probe, config.redisTimeoutMs)) === "ok",
    );

    let closing: Promise<void> | undefined;
    return {
        worker,
        close() {
            closing ??= (async () => {
                await worker.close();
                await heartbeat.stop();
                probe.disconnect();
            })();
            return closing;
        },
    };
}
