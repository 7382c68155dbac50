import type { FastifyInstance } from "fastify";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { GenerationReport } from "./breaker";
import type { AppConfig } from "./config";
import { AnalysisJobData, AnalysisResult, createQueue, findJob } from "./jobs";
import { generationKey, healthWriteKey } from "./keys";
import { ApiMetrics, createApiMetrics } from "./metrics";
import { probeOllama } from "./ollama";
import { checkRedisWritable } from "./redis";
import { exitOnPolicyViolation, guardEvictionPolicy, RedisPolicyError } from "./redisPolicy";
import { buildServer } from "./server";

export interface ApiHandle {
    readonly app: FastifyInstance;
    readonly queue: Queue<AnalysisJobData, AnalysisResult>;
    /** What GET /metrics serves. */
    readonly metrics: ApiMetrics;
    /**
     * Resolves once Redis was found to meet BullMQ's requirement (maxmemory-policy noeviction);
     * pending while Redis is unreachable. src/api.ts listens only after it.
     */
    readonly redisVerified: Promise<void>;
    /** Stops accepting, answers 503 to new requests, waits for in-flight ones, then disconnects. */
    close(): Promise<void>;
}

/** Key /health writes to prove Redis takes writes on the api's own connection. */

export interface ApiOptions {
    /** The app's version, for the OpenAPI document. */
    readonly version?: string;
    /** Redis does not meet BullMQ's requirement, at start-up or after a reconnection. Defaults to logging it and exiting 1. */
    readonly onRedisPolicyViolation?: (err: RedisPolicyError) => void;
}

/** The api wired up (queue, Redis checks, server), not yet listening; src/api.ts and the tests share it. */
export async function createApi(config: AppConfig, logger: Logger, opts: ApiOptions = {}): Promise<ApiHandle> {
    const { version } = opts;
    const { queue, lookups, client, close: closeQueue } = createQueue(config);
    const policy = guardEvictionPolicy(client, {
        timeoutMs: config.redisTimeoutMs,
        onViolation: opts.onRedisPolicyViolation ?? exitOnPolicyViolation(logger),
    });
    queue.on("error", (err) => logger.warn({ err: err.message }, "queue connection error"));
    for (const q of lookups) if (q !== queue) q.on("error", () => undefined); // same client, reported once above
    const metrics = createApiMetrics({ config, queue, client, logger });
    const app = await buildServer({
        config,
        logger,
        queue,
        metrics,
        redis: client,
        findJob: async (id) => (await findJob(client, lookups, id))?.view ?? null,
        // The client that serves POST and GET is the one checked, so /health cannot say 200 while
        // it is still reconnecting (after a Redis restart) or while Redis refuses writes.
        redisState: () => checkRedisWritable(client, healthWriteKey(config.queueName), config.redisTimeoutMs),
        ollamaState: () => probeOllama(config.ollamaBaseUrl, config.ollamaModel, config.ollamaHealthTimeoutMs),
        generationState: async () => {
            const raw = await client.get(generationKey(config.queueName));
            if (!raw) return "unknown";
            return (JSON.parse(raw) as GenerationReport).state === "failing" ? "failing" : "ok";
        },
        queueDepth: async () => {
            const counts = await queue.getJobCounts("waiting", "delayed", "prioritized", "active", "waiting-children");
            return Object.values(counts).reduce((a, b) => a + b, 0);
        },
        version,
    });
    return {
        app,
        queue,
        metrics,
        redisVerified: policy.verified,
        async close() {
            policy.stop();
            await app.close();
            await metrics.close();
            await closeQueue();
        },
    };
}
