import { Job, JobsOptions, Queue } from "bullmq";
import type Redis from "ioredis";
import type { AppConfig } from "./config";
import { openRedis } from "./connection";
import { BULL_PREFIX } from "./keys";

/** BullMQ job name; api and worker must agree on it. */
export const JOB_NAME = "analyze";

/** Which slot and release did something to a job; null fields when APP_SLOT/APP_RELEASE are unset. */
export interface SlotStamp {
    readonly slot: string | null;
    readonly release: string | null;
    /** The host, where APP_HOST names it (a fleet); absent otherwise. */
    readonly host?: string;
}

/** What the api enqueues. `accepted_by` is stamped by the api; `processed_by` by the worker at each attempt. */
export interface AnalysisJobData {
    readonly ticker: string;
    readonly date: string;
    readonly accepted_by?: SlotStamp;
    readonly processed_by?: SlotStamp;
}

export const slotStamp = (config: Pick<AppConfig, "slot" | "release"> & Partial<Pick<AppConfig, "hostName">>): SlotStamp =>
    ({ slot: config.slot, release: config.release, ...(config.hostName ? { host: config.hostName } : {}) });

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
    /** The slot and release whose api accepted the job. */
    readonly accepted_by: SlotStamp | null;
    /** The slot and release whose worker ran the latest attempt; null until a worker took it. */
    readonly processed_by: SlotStamp | null;
}

/**
 * Per-job options: retries with exponential backoff, and bounded retention by age AND count, so
 * finished jobs cannot fill Redis: at most jobKeepCompleted + jobKeepFailed finished jobs per queue.
 */
export function jobOptions(
    config: Pick<AppConfig, "jobAttempts" | "jobBackoffMs" | "jobRetentionSeconds" | "jobKeepCompleted" | "jobKeepFailed">,
): JobsOptions {
    return {
        attempts: config.jobAttempts,
        backoff: { type: "exponential", delay: config.jobBackoffMs },
        removeOnComplete: { age: config.jobRetentionSeconds, count: config.jobKeepCompleted },
        removeOnFail: { age: config.jobRetentionSeconds, count: config.jobKeepFailed },
    };
}

export type AnalysisQueue = Queue<AnalysisJobData, AnalysisResult>;

export interface QueueHandle {
    /** The queue the api enqueues into (QUEUE_NAME). */
    readonly queue: AnalysisQueue;
    /** Every queue GET /jobs/{id} looks in (LOOKUP_QUEUES), own queue first. */
    readonly lookups: readonly AnalysisQueue[];
    /** The api's Redis client, shared by all its queues. */
    readonly client: Redis;
    /** Closes the queues and their Redis client, also when Redis is down at that moment. */
    close(): Promise<void>;
}

/**
 * The producer side, used by the api. It owns its ioredis client (BullMQ then treats it as shared
 * and leaves it open), so close() can stop it for sure: when Redis is down at close time BullMQ's
 * QUIT fails and a client it owned would keep reconnecting in the background.
 */
export function createQueue(config: AppConfig): QueueHandle {
    const client = openRedis(config, "gpu-hosts-api", {
        // Fail fast while Redis is down so POST /jobs answers 503 instead of hanging.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
    });
    client.on("error", () => undefined); // surfaced through the queue's "error" event and the 503s
    const open = (name: string): AnalysisQueue =>
        new Queue<AnalysisJobData, AnalysisResult>(name, { connection: client, prefix: BULL_PREFIX, defaultJobOptions: jobOptions(config) });
    const queue = open(config.queueName);
    const lookups = [queue, ...config.lookupQueues.filter((n) => n !== config.queueName).map(open)];
    return {
        queue,
        lookups,
        client,
        async close() {
            try {
                await Promise.allSettled(lookups.map((q) => q.close()));
            } finally {
                client.disconnect();
            }
        },
    };
}

export interface FoundJob {
    readonly queue: AnalysisQueue;
    readonly view: JobView;
}

/**
 * Finds a job in any of `queues` with O(1)/O(log n) Redis work: EXISTS on each queue's job hash
 * (one round trip), then the state from sorted-set scores and the active list, which is bounded by
 * the workers' concurrency. BullMQ's own getJobState would LPOS the whole waiting list, which costs
 * milliseconds of Redis time per lookup once a backlog builds, and an unknown id would pay it on
 * every queue. A job whose hash exists but that is in none of those sets is waiting (or paused).
 */
export async function findJob(client: Redis, queues: readonly AnalysisQueue[], id: string): Promise<FoundJob | null> {
    const exists = await client.pipeline(queues.map((q) => ["exists", q.toKey(id)])).exec();
    for (let i = 0; i < queues.length; i++) {
        const [err, n] = exists?.[i] ?? [new Error("no reply"), 0];
        if (err) throw err;
        if (n !== 1) continue;
        const q = queues[i];
        const replies = await client
            .multi()
            .zscore(q.toKey("completed"), id)
            .zscore(q.toKey("failed"), id)
            .lpos(q.toKey("active"), id)
            .exec();
        if (!replies) throw new Error("job lookup transaction aborted");
        for (const [e] of replies) if (e) throw e;
        const [[, completed], [, failed], [, active]] = replies;
        const state = completed !== null ? "completed" : failed !== null ? "failed" : active !== null ? "active" : "waiting";
        const job = await q.getJob(id);
        if (!job) return null; // removed between the two reads (retention)
        return { queue: q, view: jobView(job, state) };
    }
    return null;
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
        accepted_by: stampOf(job.data.accepted_by),
        processed_by: stampOf(job.data.processed_by),
    };
}


function stampOf(v: unknown): SlotStamp | null {
    if (!v || typeof v !== "object") return null;
    const { slot, release, host } = v as Record<string, unknown>;
    return { slot: typeof slot === "string" ? slot : null, release: typeof release === "string" ? release : null, ...(typeof host === "string" ? { host } : {}) };
}
