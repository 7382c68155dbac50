import { Job, JobsOptions, Queue } from "bullmq";
import Redis from "ioredis";
import type { AppConfig } from "./config";

/** BullMQ job name; api and worker must agree on it. */
export const JOB_NAME = "analyze";

/** What the api enqueues. */
export interface AnalysisJobData {
    readonly ticker: string;
    readonly date: string;
}

/** What the worker stores as the job's return value. */
export interface AnalysisResult {
    readonly ticker: string;
    readonly date: string;
    readonly model: string;
    readonly analysis: string;
}

export type PublicStatus = "pending" | "running" | "completed" | "failed";

/** The job as GET /jobs/{id} shows it. */
export interface JobView {
    readonly job_id: string;
    readonly status: PublicStatus;
    readonly ticker: string;
    readonly date: string;
    readonly attempts_made: number;
    readonly result: AnalysisResult | null;
    readonly error: string | null;
    readonly created_at: string;
    readonly started_at: string | null;
    readonly finished_at: string | null;
}

/**
 * BullMQ connection options from the one REDIS_URL. BullMQ builds its own ioredis clients from
 * these (and duplicates a blocking one for the worker), so no host/port/password is split out.
 */
export function bullConnection(config: Pick<AppConfig, "redisUrl">, extra: Record<string, unknown> = {}) {
    return { url: config.redisUrl, connectionName: "gpu-hosts-app", ...extra };
}

/** Per-job options: retries with exponential backoff, and bounded retention so Redis does not grow forever. */
export function jobOptions(config: Pick<AppConfig, "jobAttempts" | "jobBackoffMs" | "jobRetentionSeconds">): JobsOptions {
    return {
        attempts: config.jobAttempts,
        backoff: { type: "exponential", delay: config.jobBackoffMs },
        removeOnComplete: { age: config.jobRetentionSeconds },
        removeOnFail: { age: config.jobRetentionSeconds },
    };
}

export interface QueueHandle {
    readonly queue: Queue<AnalysisJobData, AnalysisResult>;
    /** Closes the queue and its Redis client, also when Redis is down at that moment. */
    close(): Promise<void>;
}

/**
 * The producer side, used by the api. It owns its ioredis client (BullMQ then treats it as shared
 * and leaves it open), so close() can stop it for sure: when Redis is down at close time BullMQ's
 * QUIT fails and a client it owned would keep reconnecting in the background.
 */
export function createQueue(config: AppConfig): QueueHandle {
    const client = new Redis(config.redisUrl, {
        // Fail fast while Redis is down so POST /jobs answers 503 instead of hanging.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectionName: "gpu-hosts-api",
    });
    client.on("error", () => undefined); // surfaced through the queue's "error" event and the 503s
    const queue = new Queue<AnalysisJobData, AnalysisResult>(config.queueName, {
        connection: client,
        defaultJobOptions: jobOptions(config),
    });
    return {
        queue,
        async close() {
            try {
                await queue.close();
            } finally {
                client.disconnect();
            }
        },
    };
}

export function publicStatus(state: string): PublicStatus {
    switch (state) {
        case "active":
            return "running";
        case "completed":
            return "completed";
        case "failed":
            return "failed";
        // waiting, delayed (backing off before a retry), prioritized, waiting-children
        default:
            return "pending";
    }
}

const iso = (ms: number | undefined | null): string | null => (ms ? new Date(ms).toISOString() : null);

export function jobView(job: Job<AnalysisJobData, AnalysisResult>, state: string): JobView {
    const status = publicStatus(state);
    return {
        job_id: String(job.id),
        status,
        ticker: job.data.ticker,
        date: job.data.date,
        attempts_made: job.attemptsMade,
        result: status === "completed" ? (job.returnvalue ?? null) : null,
        error: status === "failed" ? job.failedReason || "failed" : null,
        created_at: iso(job.timestamp) ?? new Date(0).toISOString(),
        started_at: iso(job.processedOn),
        finished_at: status === "completed" || status === "failed" ? iso(job.finishedOn) : null,
    };
}

