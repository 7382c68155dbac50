import type { FastifyInstance } from "fastify";
import type { Queue } from "bullmq";
import type { AppConfig } from "../../src/config";
import { AnalysisJobData, AnalysisResult, createQueue } from "../../src/jobs";
import { createLogger } from "../../src/logger";
import { probeOllama } from "../../src/ollama";
import { createProbeClient, pingRedis } from "../../src/redis";
import { buildServer } from "../../src/server";

/** The api wired exactly as src/api.ts wires it, minus listen(): tests drive it with inject(). */
export interface Api {
    app: FastifyInstance;
    queue: Queue<AnalysisJobData, AnalysisResult>;
    close(): Promise<void>;
}

export async function startApi(config: AppConfig): Promise<Api> {
    const logger = createLogger(config, "api");
    const { queue, close: closeQueue } = createQueue(config);
    queue.on("error", () => undefined);
    const probe = createProbeClient(config.redisUrl, config.redisTimeoutMs);
    const app = await buildServer({
        config,
        logger,
        queue,
        redisState: () => pingRedis(probe, config.redisTimeoutMs),
        ollamaState: () => probeOllama(config.ollamaBaseUrl, config.ollamaModel, config.ollamaHealthTimeoutMs),
    });
    return {
        app,
        queue,
        async close() {
            await app.close();
            await closeQueue().catch(() => undefined);
            probe.disconnect();
        },
    };
}
