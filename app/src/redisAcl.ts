/**
 * What the app needs of Redis, as ACL rules: the Redis users the api and the worker run as (a fleet
 * hub's Redis, or a managed Redis the operator sets up) may run only these commands on only these
 * keys, so FLUSHALL, CONFIG, KEYS and every key outside the app's answer NOPERM. The program renders
 * these very rules into the hub's redis.conf (infra/service/redisConf.ts imports this file: one list,
 * no copy to drift); test/tools/redisConf.test.ts starts redis-server with that file and checks what
 * it grants, and app/test/acl.test.ts runs the app under them and finds no denied command in ACL LOG.
 *
 * Imports only the key names: the program loads this file without the app's dependencies.
 */
import { breakerReportsKey, BULL_PREFIX, generationKey, healthWriteKey, ollamaErrorsKey, RATE_LIMIT_NAMESPACE, workerWriteKey } from "./keys";

/** The app's Redis users: one per process role. */
export const REDIS_ROLES = ["api", "worker"] as const;
export type RedisRole = (typeof REDIS_ROLES)[number];

/**
 * Every command BullMQ's queue scripts call (redis.call/pcall in bullmq@6.7.0's
 * dist/cjs/scripts/*.js, the relay*.js scripts excepted, plus the names those scripts pass in
 * variables: pushCmd LPUSH/RPUSH, paginate's HSCAN/SSCAN and HLEN/SCARD). All of them, not only
 * those a test reaches: Redis checks each command a script runs against the caller's ACL, and a
 * script stopped by NOPERM halfway keeps the writes it already made (scripts are not rolled back),
 * which would leave a queue half-moved. Every one is a data command on keys, so the key patterns
 * bound them. Relay (bullmq's Relay class, redis-relay-backend.js) is a separate feature the app
 * never constructs; its scripts alone need INCRBY, PEXPIREAT, TIME, UNLINK, XDEL, XLEN, XRANGE,
 * XREAD (in a script), ZLEXCOUNT and ZRANGEBYLEX. app/test/acl.test.ts re-reads the installed
 * scripts, so a BullMQ upgrade that calls a new command fails there, not in production.
 */
export const BULLMQ_SCRIPT_COMMANDS: readonly string[] = [
    "del", "exists", "get", "hdel", "hexists", "hget", "hgetall", "hincrby", "hlen", "hmget", "hmset", "hscan", "hset",
    "incr", "lindex", "llen", "lpop", "lpos", "lpush", "lrange", "lrem", "lset", "ltrim", "persist", "pexpire", "pttl",
    "rename", "rpop", "rpoplpush", "rpush", "sadd", "scard", "set", "sismember", "smembers", "srem", "sscan", "type",
    "xadd", "xtrim", "zadd", "zcard", "zcount", "zpopmin", "zrange", "zrangebyscore", "zrem", "zremrangebyrank",
    "zremrangebyscore", "zrevrange", "zrevrangebyscore", "zscore",
];

/**
 * Commands the clients send themselves, beyond those above:
 * - evalsha, eval: how ioredis runs a defined Lua command (EVALSHA, then EVAL once on NOSCRIPT:
 *   ioredis/built/Script.js), for BullMQ's scripts and @fastify/rate-limit's (store/RedisStore.js:
 *   INCR, PEXPIRE, PTTL, GET, all above). EVAL grants nothing more: a script's commands are checked
 *   against the same ACL.
 * - info: ioredis's ready check (Redis.prototype._readyCheck), BullMQ's version check
 *   (RedisConnection.getRedisVersionAndType), and the app's eviction-policy check (INFO memory).
 * - client|setname: connection names (ioredis's connectionName; QueueEvents' setName, which throws
 *   on any error but "unknown command").
 * - select: ioredis selects REDIS_URL's db when it is not 0 (redis/event_handler.js). Keys are
 *   checked the same in every db.
 * - ping: the health checks. multi, exec: the app's transactions (findJob, breaker reports).
 * - bzpopmin: the worker's blocking wait on the queue's marker key; xread: QueueEvents' event stream.
 * AUTH, HELLO and QUIT need no grant (the server exempts them: CMD_NO_AUTH, and QUIT before 7.2 is
 * answered ahead of the ACL check); CLIENT SETINFO is switched off (src/connection.ts).
 */
export const CLIENT_COMMANDS: readonly string[] = ["evalsha", "eval", "info", "client|setname", "select", "ping", "multi", "exec", "bzpopmin", "xread"];

/** Both roles' commands, sorted: each role runs a large, overlapping part of BullMQ's scripts, and the keys are what differ. */
export const REDIS_COMMANDS: readonly string[] = [...new Set([...BULLMQ_SCRIPT_COMMANDS, ...CLIENT_COMMANDS])].sort();

/**
 * Key patterns per role (`~` read and write, `%R~` read only: Redis 7's key permissions). The queue
 * keys are shared (`bull:*`: BullMQ's scripts on both sides touch every key of a queue). The rest is
 * narrowed to who writes what, because the worker's password lives on every GPU host (spot VMs,
 * other clouds, the operator's servers) while the api's stays on the hub: with the worker's, one
 * cannot reset the rate limits or the api's health key; the api only reads the worker's reports.
 */
export const REDIS_KEY_PATTERNS: Readonly<Record<RedisRole, readonly string[]>> = {
    api: [
        `~${BULL_PREFIX}:*`,
        `~${RATE_LIMIT_NAMESPACE}*`,
        `~${healthWriteKey("*")}`,
        `%R~${generationKey("*")}`,
        `%R~${ollamaErrorsKey("*")}`,
        `%R~${breakerReportsKey("*")}`,
    ],
    worker: [`~${BULL_PREFIX}:*`, `~${generationKey("*")}`, `~${ollamaErrorsKey("*")}`, `~${breakerReportsKey("*")}`, `~${workerWriteKey("*")}`],
};

/**
 * The ACL rules of a role after `user <name> reset on <password>`: its keys, no Pub/Sub channel
 * (the app uses none: QueueEvents reads a stream), no command but its own.
 */
export function aclRules(role: RedisRole): string[] {
    return [...REDIS_KEY_PATTERNS[role], "resetchannels", "-@all", ...REDIS_COMMANDS.map((c) => `+${c}`)];
}
