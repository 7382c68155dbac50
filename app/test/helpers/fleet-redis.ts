/**
 * A Redis as a fleet hub runs it, for the app's process tests: TLS only, a certificate from a
 * throw-away CA, the `default` user off, and the app's two users with exactly the ACL rules of
 * src/redisAcl.ts. `env` gives a role's process the environment a worker host's (or the hub's)
 * container gets: the rediss:// URL of its user and REDIS_CA_FILE.
 */
import Redis from "ioredis";
import { aclRules, RedisRole } from "../../src/redisAcl";
import { makePki, TestPki } from "./pki";
import { RedisHandle, RedisOptions, startRedis } from "./redis-server";

export interface FleetRedis {
    readonly redis: RedisHandle;
    readonly pki: TestPki;
    /** REDIS_URL (the role's ACL user) and REDIS_CA_FILE for a role's process. */
    env(role: RedisRole | string): { REDIS_URL: string; REDIS_CA_FILE: string };
    /** A client logged in as `admin` (every key and command): the tests' own eyes. */
    admin(): Redis;
    /** A client logged in as a user of `users`, over TLS with the CA. */
    client(user: string): Redis;
    /** The ACL LOG entries since the last reset: every command or key a user was refused. */
    aclLog(): Promise<Array<Record<string, unknown>>>;
    stop(): Promise<void>;
}

/** `users` defaults to the app's two roles; more users (e.g. one without +info) can be added. */
export async function startFleetRedis(opts: Omit<RedisOptions, "tls" | "users"> & { users?: Record<string, string> } = {}): Promise<FleetRedis> {
    const pki = makePki();
    const users = { api: aclRules("api").join(" "), worker: aclRules("worker").join(" "), ...opts.users };
    let redis: RedisHandle;
    try {
        redis = await startRedis({ ...opts, tls: pki, users });
    } catch (err) {
        pki.remove();
        throw err;
    }
    const clients: Redis[] = [];
    const connect = (url: string) => {
        const c = new Redis(url, redis.clientOptions({ maxRetriesPerRequest: 1 }));
        c.on("error", () => undefined);
        clients.push(c);
        return c;
    };
    return {
        redis,
        pki,
        env: (role) => ({ REDIS_URL: redis.userUrl(role), REDIS_CA_FILE: pki.caFile }),
        admin: () => connect(redis.url),
        client: (user) => connect(redis.userUrl(user)),
        async aclLog() {
            const admin = connect(redis.url);
            // ACL LOG answers the last 10 entries unless told a count.
            const raw = (await admin.acl("LOG", "1000")) as unknown[];
            // RESP3 answers maps; RESP2 flat [k, v, k, v] lists: take either.
            return raw.map((e) => (Array.isArray(e) ? Object.fromEntries(e.flatMap((_, i) => (i % 2 === 0 ? [[e[i], e[i + 1]]] : []))) : (e as Record<string, unknown>)));
        },
        async stop() {
            for (const c of clients) c.disconnect();
            await redis.stop();
            pki.remove();
        },
    };
}
