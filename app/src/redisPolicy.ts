/**
 * BullMQ's one hard requirement of Redis: `maxmemory-policy noeviction`. Under any other policy a
 * Redis at its memory limit deletes keys to make room, and a deleted job hash, lock or list entry
 * loses or corrupts jobs (https://docs.bullmq.io/guide/going-to-production#max-memory-policy).
 * BullMQ itself only prints a warning (RedisConnection.getRedisVersionAndType in
 * bullmq/dist/cjs/classes/redis-connection.js; it refused to start in 2.0.1 and backed off after
 * ElastiCache users could not start at all, taskforcesh/bullmq#1437); the app refuses to run
 * instead, with a message that says what to set. This is what a managed Redis gets wrong: the
 * default of ElastiCache's parameter groups and of Memorystore is volatile-lru, which evicts keys
 * that carry a TTL, and BullMQ's job locks do (a lock evicted under a running job makes it stall and
 * run twice).
 *
 * The policy is read from INFO memory (`maxmemory_policy:`), not CONFIG GET: the app's Redis users
 * may not run CONFIG (src/redisAcl.ts), and managed Redis services refuse it to everyone.
 */
import type Redis from "ioredis";
import type { Logger } from "pino";
import { withTimeout } from "./redis";

export const REQUIRED_POLICY = "noeviction";

/** Redis does not meet the app's requirement; the process must not run on it. */
export class RedisPolicyError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RedisPolicyError";
    }
}

/** maxmemory_policy from an INFO (memory) reply, or null when it is not there. */
export function policyFromInfo(info: string): string | null {
    const line = info.split(/\r?\n/).find((l) => l.startsWith("maxmemory_policy:"));
    return line === undefined ? null : line.slice("maxmemory_policy:".length).trim();
}

/** Resolves when Redis's maxmemory-policy is noeviction; rejects with a RedisPolicyError naming what it found otherwise. */
export async function checkEvictionPolicy(client: Redis): Promise<void> {
    let info: string;
    try {
        info = await client.info("memory");
    } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (/^NOPERM\b/.test(msg)) {
            throw new RedisPolicyError(`the Redis user may not run INFO (${msg}): the app needs it to check that maxmemory-policy is "${REQUIRED_POLICY}"; grant +info`);
        }
        throw err;
    }
    const policy = policyFromInfo(info);
    if (policy === null) {
        throw new RedisPolicyError(`Redis reports no maxmemory_policy in INFO memory, so the app cannot confirm that maxmemory-policy is "${REQUIRED_POLICY}", which BullMQ requires`);
    }
    if (policy !== REQUIRED_POLICY) {
        throw new RedisPolicyError(
            `Redis maxmemory-policy is "${policy}", BullMQ requires "${REQUIRED_POLICY}": under any other policy Redis deletes keys when it is full, and jobs are lost. ` +
                `Set maxmemory-policy ${REQUIRED_POLICY} (redis.conf, or the managed Redis's parameter group or configuration)`,
        );
    }
}

/** The processes' answer to a violation: one fatal log line that says what to fix, then exit 1. */
export function exitOnPolicyViolation(logger: Logger): (err: RedisPolicyError) => void {
    return (err) => {
        logger.fatal({ err: err.message }, "Redis does not meet BullMQ's requirement: exiting");
        process.exit(1);
    };
}

export interface PolicyGuard {
    /** Resolves once a check passed; stays pending while Redis is unreachable or after a violation. */
    readonly verified: Promise<void>;
    stop(): void;
}

/**
 * Checks the policy as soon as `client` is ready, and again after every reconnection (a managed
 * Redis may be reconfigured, or fail over to a node configured otherwise). A violation calls
 * `onViolation` (the processes log it and exit 1); any other failure (the connection dropped during
 * the check, no answer within timeoutMs) is retried every retryMs while the client is ready, and
 * otherwise at its next "ready".
 */
export function guardEvictionPolicy(
    client: Redis,
    opts: { readonly timeoutMs: number; readonly retryMs?: number; readonly onViolation: (err: RedisPolicyError) => void },
): PolicyGuard {
    let stopped = false;
    let running = false;
    let resolveVerified!: () => void;
    const verified = new Promise<void>((resolve) => (resolveVerified = resolve));
    let timer: NodeJS.Timeout | undefined;
    const run = async () => {
        if (stopped || running || client.status !== "ready") return;
        running = true;
        try {
            await withTimeout(checkEvictionPolicy(client), opts.timeoutMs, "INFO memory");
            resolveVerified();
        } catch (err) {
            if (stopped) return;
            if (err instanceof RedisPolicyError) {
                opts.onViolation(err);
                return;
            }
            timer = setTimeout(() => void run(), opts.retryMs ?? 1000);
            timer.unref();
        } finally {
            running = false;
        }
    };
    client.on("ready", run);
    void run();
    return {
        verified,
        stop() {
            stopped = true;
            clearTimeout(timer);
            client.off("ready", run);
        },
    };
}
