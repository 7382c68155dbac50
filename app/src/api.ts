import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createApi } from "./api-runtime";
import { loadConfig, redisCaLabel, redisTarget } from "./config";
import { createLogger } from "./logger";
import { exitOnConfigError, logWhileWaiting, onShutdownSignal } from "./process";

async function main(): Promise<void> {
    const config = exitOnConfigError(loadConfig, "api");
    const logger = createLogger(config, "api");
    const api = await createApi(config, logger, { version: packageVersion() });
    onShutdownSignal(logger, () => api.close());

    // Serve only once Redis is known to keep jobs (maxmemory-policy noeviction): a violation exits
    // before the first request; while Redis is unreachable the api waits, unhealthy as it would be.
    await logWhileWaiting(logger, api.redisVerified, { redis: redisTarget(config.redisUrl) }, "waiting for Redis, to check its maxmemory-policy before serving");
    await api.app.listen({ port: config.port, host: config.host });
    logger.info(
        {
            port: config.port,
            queue: config.queueName,
            redis: redisTarget(config.redisUrl),
            redisCa: redisCaLabel(config),
            ollama: config.ollamaBaseUrl,
            model: config.ollamaModel,
        },
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
