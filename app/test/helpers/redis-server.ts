/**
 * A real redis-server (Debian's /usr/bin/redis-server, built with TLS) on a free loopback port, with
 * a password and no persistence; optionally TLS only and ACL users, as a fleet hub's Redis runs. Not
 * a fake: BullMQ's Lua scripts, blocking commands and the ACL checks run for real.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis, { RedisOptions as IORedisOptions } from "ioredis";
import type { RedisTls } from "../../src/config";
import type { TestPki } from "./pki";

export interface RedisHandle {
    /** URL of the all-powerful user (`default`, or `admin` with ACL users): for tests' own inspection. */
    readonly url: string;
    readonly port: number;
    /** The TLS settings an app config needs to reach this server (null without TLS). */
    readonly tls: RedisTls | null;
    /** The URL a user of RedisOptions.users logs in with. */
    userUrl(user: string): string;
    /** ioredis options that reach this server (the CA with TLS), for the tests' own clients. */
    clientOptions(extra?: IORedisOptions): IORedisOptions;
    stop(): Promise<void>;
    /**
     * Stops redis-server (SIGTERM, or SIGKILL when `kill`), waits `downMs`, and starts it again on
     * the same port with the same password and data dir. With `appendonly` the data survives.
     */
    restart(opts?: { downMs?: number; kill?: boolean }): Promise<void>;
}

export interface RedisOptions {
    /** Append-only file, fsync'd every write, as the deployed Redis runs. Default off (faster). */
    readonly appendonly?: boolean;
    /** maxmemory in bytes (noeviction, as deployed); default none. */
    readonly maxmemory?: number;
    /** maxmemory-policy; default noeviction (as deployed). */
    readonly maxmemoryPolicy?: string;
    /** TLS only (port 0, tls-port), with this PKI's server certificate; clients are not asked for one. */
    readonly tls?: TestPki;
    /**
     * ACL users: name -> rules after `on` and a password (keys, channels, commands), e.g.
     * "~bull:* resetchannels -@all +get". The `default` user is then off, and `url` logs in as a user
     * `admin` that may do anything; each user gets a random password (userUrl).
     */
    readonly users?: Readonly<Record<string, string>>;
}

/** Servers still running; killed if the test process exits early (mocha --exit, a crash). */
const live = new Set<ChildProcess>();
process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
});

export function redisServerBinary(): string {
    const candidates = [process.env.REDIS_SERVER_BIN, "/usr/bin/redis-server", "/usr/local/bin/redis-server"].filter(
        (c): c is string => !!c,
    );
    const found = candidates.find((c) => existsSync(c));
    if (!found) {
        // Never a silent skip: without a real Redis these tests prove nothing, on CI or off it.
        throw new Error(
            `redis-server not found (looked at ${candidates.join(", ")}${process.env.CI === "true" ? "; CI=true" : ""}). ` +
                "Install it with `apt-get install -y redis-server`, or set REDIS_SERVER_BIN.",
        );
    }
    return found;
}

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const addr = srv.address();
            srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
        });
    });
}

/** The server's redis.conf, as lines: a file (mode 0600) rather than argv, which `ps` shows. */
function confLines(port: number, dir: string, password: string, passwords: Readonly<Record<string, string>>, opts: RedisOptions): string[] {
    const lines = ["bind 127.0.0.1", 'save ""', `appendonly ${opts.appendonly ? "yes" : "no"}`, "appendfsync always",
        `maxmemory-policy ${opts.maxmemoryPolicy ?? "noeviction"}`, `dir ${dir}`, "daemonize no", "loglevel warning"];
    if (opts.maxmemory) lines.push(`maxmemory ${opts.maxmemory}`);
    if (opts.tls) {
        lines.push("port 0", `tls-port ${port}`, `tls-cert-file ${opts.tls.certFile}`, `tls-key-file ${opts.tls.keyFile}`,
            `tls-ca-cert-file ${opts.tls.caFile}`, "tls-auth-clients no");
    } else {
        lines.push(`port ${port}`);
    }
    if (opts.users) {
        lines.push("user default off resetpass resetkeys resetchannels -@all", `user admin on >${password} ~* &* +@all`);
        for (const [name, rules] of Object.entries(opts.users)) lines.push(`user ${name} reset on >${passwords[name]} ${rules}`);
    } else {
        lines.push(`requirepass ${password}`);
    }
    return lines;
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
    redisServerBinary(); // fails at once, with the install hint, when there is none
    const password = randomBytes(12).toString("hex");
    const passwords = Object.fromEntries(Object.keys(opts.users ?? {}).map((u) => [u, randomBytes(12).toString("hex")]));
    const scheme = opts.tls ? "rediss" : "redis";
    const tls: RedisTls | null = opts.tls ? { ca: opts.tls.caPem, caFile: opts.tls.caFile } : null;
    // The tests' own clients check the certificate against the name it was issued for (a test may
    // give the server a certificate for another name than the loopback address it listens on).
    const clientOptions = (extra: IORedisOptions = {}): IORedisOptions => ({
        ...extra,
        ...(opts.tls ? { tls: { ca: opts.tls.caPem, ...(opts.tls.serverName !== "127.0.0.1" ? { servername: opts.tls.serverName } : {}) } } : {}),
    });
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
        const port = await freePort();
        const dir = mkdtempSync(join(tmpdir(), "app-test-redis-"));
        const url = `${scheme}://${opts.users ? "admin" : ""}:${password}@127.0.0.1:${port}/0`;
        const conf = join(dir, "redis.conf");
        writeFileSync(conf, confLines(port, dir, password, passwords, opts).join("\n") + "\n", { mode: 0o600 });
        const spawnServer = () => spawnRedisServer(conf);
        let current = spawnServer();
        try {
            await waitForPing(url, clientOptions(), current.child, 5000);
            return {
                url,
                port,
                tls,
                userUrl(user: string) {
                    if (!(user in passwords)) throw new Error(`no ACL user ${JSON.stringify(user)} on this server`);
                    return `${scheme}://${user}:${passwords[user]}@127.0.0.1:${port}/0`;
                },
                clientOptions,
                stop: () => stopChild(current.child).finally(() => rmSync(dir, { recursive: true, force: true })),
                async restart({ downMs = 0, kill = false } = {}) {
                    await stopChild(current.child, kill ? "SIGKILL" : "SIGTERM");
                    await new Promise((r) => setTimeout(r, downMs));
                    current = spawnServer();
                    await waitForPing(url, clientOptions(), current.child, 10_000).catch((err) => {
                        throw new Error(`${(err as Error).message}\n${current.output()}`);
                    });
                },
            };
        } catch (err) {
            lastError = new Error(`${(err as Error).message}\n${current.output()}`);
            await stopChild(current.child);
            rmSync(dir, { recursive: true, force: true });
        }
    }
    throw lastError;
}

export interface RedisServerProcess {
    readonly child: ChildProcess;
    /** What it printed so far (stdout and stderr). */
    output(): string;
    /** SIGKILL (or `signal`), resolved once it is gone. */
    stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs redis-server with a config file of the caller's (killed when the test process exits). */
export function spawnRedisServer(confFile: string): RedisServerProcess {
    const child = spawn(redisServerBinary(), [confFile], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    child.once("exit", () => live.delete(child));
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    return { child, output: () => output, stop: (signal) => stopChild(child, signal) };
}

/** An ioredis client (for tests outside app/, which have no ioredis of their own). */
export function connectRedis(url: string, options: IORedisOptions = {}): Redis {
    const c = new Redis(url, options);
    c.on("error", () => undefined);
    return c;
}

/** Resolves once `url` answers PING (new connections, 50 ms apart); rejects if the server exits or `ms` passes. */
export async function waitForPing(url: string, options: IORedisOptions, child: ChildProcess, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        const c = new Redis(url, { ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on("error", () => undefined);
        try {
            await c.connect();
            if ((await c.ping()) === "PONG") return;
        } catch {
            // not up yet
        } finally {
            c.disconnect();
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("redis-server did not answer PING in time");
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
    });
}
