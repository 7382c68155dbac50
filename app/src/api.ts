import { readFileSync } from "node:fs";
import { join } from "node:path";
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
        version: packageVersion(),
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

/** The app's own version for the OpenAPI document; dist/ sits next to package.json in the image. */
function packageVersion(): string | undefined {
    try {
        return JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version;
    } catch {
        return undefined;
    }
}

main().catch((err) => {
    // eslint-disable-next-line no-console
    console.error(JSON.stringify({ level: "fatal", role: "api", msg: "api failed to start", err: String(err?.message ?? err) }));
    process.exit(1);
});
