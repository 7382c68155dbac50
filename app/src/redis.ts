import type Redis from "ioredis";
import type { AppConfig } from "./config";
import { openRedis } from "./connection";

/**
 * A small client for health pings. No offline queue and a single retry, so a ping while Redis
 * is down fails at once instead of waiting for a reconnect.
 */
export function createProbeClient(config: Pick<AppConfig, "redisUrl" | "redisTls" | "redisTimeoutMs">): Redis {
    const client = openRedis(config, "gpu-hosts-health", {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: config.redisTimeoutMs,
        // Keep trying in the background so /health recovers when Redis comes back.
        retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    // Errors surface through ping(); without a listener ioredis would print them unstructured.
    client.on("error", () => undefined);
    return client;
}

/** "ok" if Redis answers PING within the budget, otherwise a short reason. */
export async function pingRedis(client: Redis, timeoutMs: number): Promise<"ok" | "unreachable" | "timeout"> {
    let timer: NodeJS.Timeout | undefined;
    try {
        const result = await Promise.race([
            // Right after start-up the client may still be connecting: wait for it within the budget
            // rather than fail at once (there is no offline queue to hold the PING).
            whenReady(client).then(() => client.ping()).then((r) => (r === "PONG" ? ("ok" as const) : ("unreachable" as const))),
            new Promise<"timeout">((resolve) => {
                timer = setTimeout(() => resolve("timeout"), timeoutMs);
            }),
        ]);
        return result;
    } catch {
        return "unreachable";
    } finally {
        clearTimeout(timer);
    }
}

export type RedisState = "ok" | "unreachable" | "timeout" | "oom" | "readonly" | "error";

/** Classifies a Redis error: refused writes (maxmemory, replica, failed persistence) or other. */
export function redisErrorState(err: unknown): RedisState {
    const msg = err instanceof Error ? err.message : String(err);
    if (/^OOM\b/.test(msg) || msg.includes("maxmemory")) return "oom";
    if (/^(READONLY|MISCONF)\b/.test(msg)) return "readonly";
    if (/^LOADING\b/.test(msg)) return "unreachable";
    return /ECONNREFUSED|ECONNRESET|closed|Stream isn't writeable|enableOfflineQueue|max retries|ETIMEDOUT|EHOSTUNREACH|is (end|close|reconnecting)/i.test(msg)
        ? "unreachable"
        : "error";
}

/**
 * "ok" only if `client` (the one that serves the requests) answers a PING and accepts a small
 * write within the budget: a Redis at maxmemory (noeviction) answers PING but refuses new jobs.
 */
export async function checkRedisWritable(client: Redis, key: string, timeoutMs: number): Promise<RedisState> {
    let timer: NodeJS.Timeout | undefined;
    try {
        return await Promise.race([
            (async (): Promise<RedisState> => {
                await whenReady(client);
                await client.set(key, String(Date.now()), "PX", 60_000);
                return "ok";
            })(),
            new Promise<"timeout">((resolve) => {
                timer = setTimeout(() => resolve("timeout"), timeoutMs);
            }),
        ]);
    } catch (err) {
        return redisErrorState(err);
    } finally {
        clearTimeout(timer);
    }
}

function whenReady(client: Redis): Promise<void> {
    if (client.status === "ready") return Promise.resolve();
    if (client.status !== "connecting" && client.status !== "connect" && client.status !== "wait") {
        return Promise.reject(new Error(`redis client is ${client.status}`));
    }
    return new Promise((resolve, reject) => {
        const onReady = () => {
            client.off("close", onClose);
            resolve();
        };
        const onClose = () => {
            client.off("ready", onReady);
            reject(new Error("redis connection closed"));
        };
        client.once("ready", onReady);
        client.once("close", onClose);
    });
}

/** Resolves with the promise's value, or rejects with `what` timed out after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
        return await Promise.race([
            promise,
            new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
            }),
        ]);
    } finally {
        clearTimeout(timer);
    }
}
