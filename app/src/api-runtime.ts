import type { FastifyInstance } from "fastify";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import { AnalysisJobData, AnalysisResult, createQueue, findJob } from "./jobs";
import { probeOllama } from "./ollama";
import { createProbeClient, pingRedis } from "./redis";
import { buildServer } from "./server";

export interface ApiHandle {
    readonly app: FastifyInstance;
    readonly queue: Queue<AnalysisJobData, AnalysisResult>;
    /** Stops accepting, answers 503 to new requests, waits for in-flight ones, then disconnects. */
    close(): Promise<void>;
}

/** The api wired up (queue, Redis probe, server), not yet listening; src/api.ts and the tests share it. */
export async function createApi(config: AppConfig, logger: Logger, version?: string): Promise<ApiHandle> {
    const { queue, lookups, client, close: closeQueue } = createQueue(config);
    queue.on("error", (err) => logger.warn({ err: err.message }, "queue connection error"));
    for (const q of lookups) if (q !== queue) q.on("error", () => undefined); // same client, reported once above
    const probe = createProbeClient(config.redisUrl, config.redisTimeoutMs);
    const app = await buildServer({
        config,
        logger,
        queue,
        findJob: async (id) => (await findJob(client, lookups, id))?.view ?? null,
        redisState: () => pingRedis(probe, config.redisTimeoutMs),
        ollamaState: () => probeOllama(config.ollamaBaseUrl, config.ollamaModel, config.ollamaHealthTimeoutMs),
        version,
    });
    return {
        app,
        queue,
        async close() {
            await app.close();
            try {
                await closeQueue();
            } finally {
                probe.disconnect();
            }
        },
    };
}
