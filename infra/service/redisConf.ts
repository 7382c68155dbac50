// The fleet hub's redis.conf, as a pure function of its inputs: the one Redis that worker hosts
// reach across networks, secured like a database on the internet. TLS only (no plaintext port), the
// server certificate signed by the stack's CA (clients verify it: app/src/connection.ts), the
// `default` user off, one ACL user per role of the app limited to the app's keys and the commands it
// needs, AOF on, and maxmemory-policy noeviction (BullMQ's requirement, which the app also checks at
// start-up). A single host's Redis, on the host's private network, keeps appStack.ts's redisConf().
//
// Pinned by test/golden/redis/, and started by test/tools/redisConf.test.ts with the real
// redis-server: plaintext refused, TLS with the CA accepted, `default` off, the users' limits hold,
// and the app's api and worker run a job under it.
import { createHash } from "crypto";
import { REDIS_ROLES, aclRules, RedisRole } from "../../app/src/redisAcl";

export interface FleetRedisConfArgs {
    /** The TLS port Redis listens on in its container; it has no other. */
    readonly tlsPort: number;
    /** Paths in the Redis container: its certificate (the chain, leaf first), its private key, and the stack's CA certificate. */
    readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
    /**
     * Each role's password (generated, secret). Only its SHA-256 reaches the file (`#<hex>`, which
     * redis-server takes as the hash of a valid password since 6.0: ACL SETUSER's `#<hash>` rule,
     * https://redis.io/commands/acl-setuser), so the conf is no key to Redis.
     */
    readonly passwords: Readonly<Record<RedisRole, string>>;
    /** The Redis container's memory limit in MiB; maxmemory leaves a quarter of it free. */
    readonly memoryMb: number;
    /** Data directory in the container (the AOF lives there: a volume, or a disk that outlives the VM). */
    readonly dir: string;
}

/** The roles, each an ACL user of the same name. */

/**
 * One directive, quoted as redis-server splits its config lines (sdssplitargs in the upstream
 * src/sds.c): a bare word when it holds nothing special, else in double quotes with backslash
 * escapes, so a path with a space or a quote stays one argument and no value can start a new line.
 */
function line(directive: string, ...args: readonly string[]): string {
    const quote = (a: string) =>
        /^[A-Za-z0-9_.:/@%~*#>+|-]+$/.test(a)
            ? a
            : `"${a.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;
    return [directive, ...args.map(quote)].join(" ");
}

/** The SHA-256 of a password as a Redis ACL rule takes it. */
export const passwordHash = (password: string): string => `#${createHash("sha256").update(password, "utf8").digest("hex")}`;

/** The conf text. Throws on inputs no redis-server would take the way meant (its own invariants). */
export function fleetRedisConf(a: FleetRedisConfArgs): string {
    const problems: string[] = [];
    if (!Number.isInteger(a.tlsPort) || a.tlsPort < 1 || a.tlsPort > 65535) problems.push(`tlsPort must be a port (1-65535), got ${a.tlsPort}`);
    if (!Number.isInteger(a.memoryMb) || a.memoryMb < 32) problems.push(`memoryMb must be an integer of at least 32, got ${a.memoryMb}`);
    for (const [name, path] of Object.entries({ ...a.tls, dir: a.dir })) {
        if (!/^\/[^\x00-\x1f\x7f]*$/.test(path)) problems.push(`${name} must be an absolute path without control characters, got ${JSON.stringify(path)}`);
    }
    for (const role of REDIS_ROLES) {
        // Never echoed: it is a secret.
        if (typeof a.passwords[role] !== "string" || a.passwords[role].length < 16) problems.push(`the ${role} password must be at least 16 characters`);
    }
    if (problems.length > 0) throw new Error(`fleetRedisConf: ${problems.join("; ")}`);

    return [
        "# The fleet hub's Redis, rendered by gpu-hosts (infra/service/redisConf.ts). Do not edit: the next `up` rewrites it.",
        // TLS only: no plaintext listener at all.
        line("port", "0"),
        line("tls-port", String(a.tlsPort)),
        line("tls-cert-file", a.tls.certFile),
        line("tls-key-file", a.tls.keyFile),
        line("tls-ca-cert-file", a.tls.caFile),
        // Clients prove who they are with their ACL password, over TLS, and check the server's
        // certificate; no client certificate. A managed Redis (ElastiCache, Memorystore, Azure Cache)
        // offers no client certificates either, so the app has one way to connect to both; per-host
        // client certificates would add issuing and renewing one per worker host for a second factor
        // that the firewall (the Redis port open to the worker hosts only) already stands in for.
        line("tls-auth-clients", "no"),
        line("tls-protocols", "TLSv1.2 TLSv1.3"),
        // Persistence: the append-only file, fsync'd every second (BullMQ's production advice,
        // "Persistence": https://docs.bullmq.io/guide/going-to-production).
        line("dir", a.dir),
        line("appendonly", "yes"),
        line("appendfsync", "everysec"),
        // Never evict: a deleted job hash or lock loses jobs. "This is the only setting that guarantees
        // the correct behavior of the queues" (BullMQ, "Max memory policy", same page). A quarter of the
        // container's memory stays free for the AOF rewrite's copy-on-write and the clients' TLS buffers.
        line("maxmemory-policy", "noeviction"),
        line("maxmemory", `${Math.floor(a.memoryMb * 0.75)}mb`),
        // `default` is off and has no password at all (resetpass clears "nopass" too). That also keeps
        // protected mode from refusing the worker hosts: it refuses non-loopback clients only while
        // `default` is nopass (clientAcceptHandler in the upstream src/networking.c).
        line("user", "default", "off", "resetpass", "resetkeys", "resetchannels", "-@all"),
        // Each role: `reset` first (no rule left from a default), `#<sha256>` (the password's hash, so
        // the file holds none), then its keys and commands (app/src/redisAcl.ts). Rule syntax:
        // https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/ and
        // https://redis.io/commands/acl-setuser (#<hash>, ~ and %R~ key patterns, +cmd|sub).
        ...REDIS_ROLES.map((role) => line("user", role, "reset", "on", passwordHash(a.passwords[role]), ...aclRules(role))),
        "",
    ].join("\n");
}
