/**
 * Every Redis connection the app opens is built here, from REDIS_URL and the TLS settings, so none
 * can miss the CA or the server check: the api's client (queues, rate limit, /health, /metrics), its
 * event stream (QueueEvents), the worker's BullMQ connections (BullMQ duplicates the blocking one
 * from these options: ioredis duplicate() copies them) and the worker's probe client.
 */
import type { RedisOptions as BullRedisOptions } from "bullmq";
import Redis, { RedisOptions } from "ioredis";
import type { AppConfig } from "./config";

export type RedisSettings = Pick<AppConfig, "redisUrl" | "redisTls">;

/**
 * ioredis options for one connection (the URL supplies host, port, user, password and db).
 *
 * - TLS is set from the config rather than left to ioredis, which turns it on only for a URL that
 *   starts with the lower-case "rediss://" (Redis.parseOptions in ioredis/built/Redis.js), while the
 *   config accepts any case of the scheme. The server's certificate is always verified
 *   (rejectUnauthorized, and Node checks the host name or IP against its SANs); `ca` replaces Node's
 *   public CAs, so with REDIS_CA_FILE only the stack's CA (or the managed Redis's) is trusted.
 * - disableClientInfo: ioredis would send CLIENT SETINFO twice per connection
 *   (ioredis/built/redis/event_handler.js). Redis 7.0 has no such subcommand and refuses an ACL rule
 *   that names it, so the app's ACL users could not be granted it on every Redis the app may meet;
 *   the server would answer NOPERM (ignored by ioredis, but logged as a denial in ACL LOG).
 */
export function redisOptions(config: RedisSettings, connectionName: string, extra: RedisOptions = {}): RedisOptions {
    const tls = config.redisTls === null ? {} : { tls: { rejectUnauthorized: true, ...(config.redisTls.ca !== null ? { ca: config.redisTls.ca } : {}) } };
    return { ...extra, connectionName, disableClientInfo: true, ...tls };
}

/** An ioredis client of its own. */
export function openRedis(config: RedisSettings, connectionName: string, extra: RedisOptions = {}): Redis {
    return new Redis(config.redisUrl, redisOptions(config, connectionName, extra));
}

/**
 * BullMQ connection options: BullMQ builds its own ioredis clients from them (RedisConnection.init
 * in bullmq/dist/cjs/classes/redis-connection.js: `new IORedis(url, rest)`), and duplicates a
 * blocking one for the worker, so no host, port or password is split out of the URL.
 */
export function bullConnection(config: RedisSettings, connectionName: string, extra: RedisOptions = {}): BullRedisOptions {
    // ioredis's own options, which BullMQ hands to ioredis as they are; its RedisOptions type is a
    // looser copy of them whose retryStrategy does not admit null.
    return { url: config.redisUrl, ...redisOptions(config, connectionName, extra) } as BullRedisOptions;
}
