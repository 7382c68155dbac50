/**
 * Every Redis key the app uses, in one place, because the Redis users the app runs as may touch
 * only these (src/redisAcl.ts derives their key patterns from here). Imports nothing.
 */

/** BullMQ's key prefix: every queue key is `bull:<queue>:...`. BullMQ's default, given explicitly. */
export const BULL_PREFIX = "bull";

/** The app's own keys all start with this. */
export const APP_KEY_PREFIX = "gpu-hosts:";

/** String key: Ollama request errors seen by the workers of a queue, a count that only goes up (INCR). Worker writes, api reads. */
export const ollamaErrorsKey = (queueName: string): string => `${APP_KEY_PREFIX}ollama-errors:${queueName}`;

/** Hash key: one field per live worker of a queue, holding its BreakerReport as JSON. Worker writes, api reads. */
export const breakerReportsKey = (queueName: string): string => `${APP_KEY_PREFIX}breaker:${queueName}`;

/** Where a queue's worker reports whether generation works; the api's /health reads it. */
export const generationKey = (queueName: string): string => `${APP_KEY_PREFIX}generation:${queueName}`;

/** Key /health writes to prove Redis takes writes on the api's own connection. */
export const healthWriteKey = (queueName: string): string => `${APP_KEY_PREFIX}health-write:${queueName}`;

/** Key the worker writes to learn that Redis takes writes again (after OOM/READONLY refusals). */
export const workerWriteKey = (queueName: string): string => `${APP_KEY_PREFIX}worker-write:${queueName}`;

/** @fastify/rate-limit's key prefix (its `nameSpace`): the api's per-client request counters. */
export const RATE_LIMIT_NAMESPACE = `${APP_KEY_PREFIX}ratelimit:`;
