import { loadConfig, redisTarget } from "./config";
import { createQueue } from "./jobs";
import { createLogger } from "./logger";
import { probeOllama } from "./ollama";
import { createProbeClient, pingRedis } from "./redis";
import { buildServer } from "./server";
import { exitOnConfigError, onShutdownSignal } from "./process";

async function main(): Promise<void> {
    const config = exitOnConfigError(loadConfig, "api");
    const logger = createLogger(config, "api");
    const { queue, close: closeQueue } = createQueue(config);
    queue.on("error", (err) => logger.warn({ err: err.message }, "queue connection error"));
    const probe = createProbeClient(config.redisUrl, config.redisTimeoutMs);

    const app = await buildServer({
        config,
        logger,
        queue,
        redisState: () => pingRedis(probe, config.redisTimeoutMs),
        ollamaState: () => probeOllama(config.ollamaBaseUrl, config.ollamaModel, config.ollamaHealthTimeoutMs),
        version: process.env.npm_package_version,
    });

    onShutdownSignal(logger, async () => {
        // close() stops accepting, answers 503 to new requests and waits for in-flight ones.
        await app.close();
        await closeQueue();
        probe.disconnect();
    });

    await app.listen({ port: config.port, host: config.host });
    logger.info(
        { port: config.port, queue: config.queueName, redis: redisTarget(config.redisUrl), ollama: config.ollamaBaseUrl, model: config.ollamaModel },
        "api ready",
    );
}

main().catch((err) => {
    // eslint-disable-next-line no-console
    console.error(JSON.stringify({ level: "fatal", role: "api", msg: "api failed to start", err: String(err?.message ?? err) }));
    process.exit(1);
});
