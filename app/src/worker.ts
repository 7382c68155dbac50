import { loadConfig, redisCaLabel, redisTarget } from "./config";
import { createLogger } from "./logger";
import { exitOnConfigError, logWhileWaiting, onShutdownSignal } from "./process";
import { startWorker } from "./worker-runtime";

function main(): void {
    const config = exitOnConfigError(loadConfig, "worker");
    const logger = createLogger(config, "worker");
    const handle = startWorker(config, logger);
    onShutdownSignal(logger, async () => {
        logger.info({ active: "finishing in-flight jobs" }, "worker closing");
        await handle.close();
    });
    // Ready once both of BullMQ's connections are up and Redis's maxmemory-policy passed the check
    // (a violation exits 1 before any job is taken).
    const ready = Promise.all([handle.worker.waitUntilReady(), handle.redisVerified]);
    void logWhileWaiting(logger, handle.redisVerified, { redis: redisTarget(config.redisUrl) }, "waiting for Redis, to check its maxmemory-policy before taking jobs");
    ready.then(
        () =>
            logger.info(
                {
                    queue: config.queueName,
                    redis: redisTarget(config.redisUrl),
                    redisCa: redisCaLabel(config),
                    ollama: config.ollamaBaseUrl,
                    model: config.ollamaModel,
                    concurrency: config.workerConcurrency,
                    attempts: config.jobAttempts,
                    timeoutMs: config.jobTimeoutMs,
                },
                "worker ready",
            ),
        (err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, "worker could not reach Redis"),
    );
}

main();
