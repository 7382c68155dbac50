// The environment of a slot's api and worker, as a pure function, so the program (slot.ts) and the
// integration tests that run the real app processes use exactly the same settings.
//
// Work is slot-scoped, like traffic: each slot has its own BullMQ queue (`jobs-<color>`). A slot's
// api enqueues into its own queue and its worker consumes only that queue, so an idle slot's worker
// never takes live jobs, and a swap stays a pure routing change (the proxy's marker): the next POST
// through the live URL lands on the new live slot's api, hence its queue and worker, while jobs the
// old slot accepted finish on the old slot's worker. Every api looks jobs up in both slots' queues
// (LOOKUP_QUEUES), so a job stays readable through either URL whichever slot accepted it.
import type { Color } from "../vocabulary";

/** The queue a slot's api enqueues into and its worker consumes. */
export const slotQueue = (color: Color): string => `jobs-${color}`;

/** Every slot's queue, in a fixed order: where an api looks a job up. */
export const LOOKUP_QUEUES: readonly string[] = [slotQueue("blue"), slotQueue("green")];

export interface SlotEnvArgs {
    readonly color: Color;
    /** The pinned release as people see it, e.g. "workdir@3f2a9c1b0d4e" (reported by /health and on each job). */
    readonly release: string;
    /** Full Redis URL, password included; the caller keeps it secret. */
    readonly redisUrl: string;
    /** Port the api listens on inside its container. */
    readonly port: number;
    /** Ollama base URL on the private network. */
    readonly ollamaUrl: string;
    /** Model the worker asks for. */
    readonly model: string;
    /** Jobs per worker. */
    readonly workerConcurrency: number;
    /** Requests per client per minute (0 = off) and unfinished jobs per queue. */
    readonly limits: { readonly requestsPerMinute: number; readonly queueMaxDepth: number };
    /** The CA file that verifies a rediss:// Redis (a fleet's queue). Defaults to none. */
    readonly redisCaFile?: string;
    /** The host's name, stamped on the jobs its workers process (a fleet). Defaults to none. */
    readonly hostName?: string;
}

/** `KEY=value` lines for both of a slot's containers (one image, two commands). */
export function slotEnvironment(a: SlotEnvArgs): string[] {
    return [
        `REDIS_URL=${a.redisUrl}`,
        `PORT=${a.port}`,
        `OLLAMA_BASE_URL=${a.ollamaUrl}`,
        `OLLAMA_MODEL=${a.model}`,
        `WORKER_CONCURRENCY=${a.workerConcurrency}`,
        `APP_SLOT=${a.color}`,
        `APP_RELEASE=${a.release}`,
        `QUEUE_NAME=${slotQueue(a.color)}`,
        `LOOKUP_QUEUES=${LOOKUP_QUEUES.join(",")}`,
        `RATE_LIMIT_MAX=${a.limits.requestsPerMinute}`,
        "RATE_LIMIT_WINDOW_MS=60000",
        `QUEUE_MAX_DEPTH=${a.limits.queueMaxDepth}`,
        // Only in a fleet, after the rest: an island's environment stays as it was (no change planned).
        ...(a.redisCaFile ? [`REDIS_CA_FILE=${a.redisCaFile}`] : []),
        ...(a.hostName ? [`APP_HOST=${a.hostName}`] : []),
    ];
}
