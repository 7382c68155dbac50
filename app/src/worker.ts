import { loadConfig, redisTarget } from "./config";
import { createLogger } from "./logger";
import { exitOnConfigError, onShutdownSignal } from "./process";
import { startWorker } from "./worker-runtime";

function main(): void {
    const config = exitOnConfigError(loadConfig, "worker");
    const logger = createLogger(config, "worker");
    const handle = startWorker(config, logger);
    onShutdownSignal(logger, async () => {
        logger.info({ active: "finishing in-flight jobs" }, "worker closing");
        await handle.close();
    });
    handle.worker.waitUntilReady().then(
        () =>
            logger.info(
                {
                    queue: config.queueName,
                    redis: redisTarget(config.redisUrl),
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
