/**
 * A real redis-server (Debian's /usr/bin/redis-server) on a free loopback port, with a password
 * and no persistence. Not a fake: BullMQ's Lua scripts and blocking commands run for real.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";

export interface RedisHandle {
    readonly url: string;
    readonly port: number;
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

export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
    const bin = redisServerBinary();
    const password = randomBytes(12).toString("hex");
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
        const port = await freePort();
        const dir = mkdtempSync(join(tmpdir(), "app-test-redis-"));
        const url = `redis://:${password}@127.0.0.1:${port}/0`;
        const spawnServer = () => {
            const child = spawn(
                bin,
                ["--port", String(port), "--bind", "127.0.0.1", "--requirepass", password, "--save", "",
                    "--appendonly", opts.appendonly ? "yes" : "no", "--appendfsync", "always",
                    ...(opts.maxmemory ? ["--maxmemory", String(opts.maxmemory), "--maxmemory-policy", "noeviction"] : []),
                    "--dir", dir, "--daemonize", "no", "--loglevel", "warning"],
                { stdio: ["ignore", "pipe", "pipe"] },
            );
            live.add(child);
            child.once("exit", () => live.delete(child));
            let output = "";
            child.stdout?.on("data", (d) => (output += d));
            child.stderr?.on("data", (d) => (output += d));
            return { child, output: () => output };
        };
        let current = spawnServer();
        try {
            await waitForPing(url, current.child, 5000);
            return {
                url,
                port,
                stop: () => stopChild(current.child).finally(() => rmSync(dir, { recursive: true, force: true })),
                async restart({ downMs = 0, kill = false } = {}) {
                    await stopChild(current.child, kill ? "SIGKILL" : "SIGTERM");
                    await new Promise((r) => setTimeout(r, downMs));
                    current = spawnServer();
                    await waitForPing(url, current.child, 10_000).catch((err) => {
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

async function waitForPing(url: string, child: ChildProcess, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
