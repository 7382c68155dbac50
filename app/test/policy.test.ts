/**
 * BullMQ's requirement, checked at start-up: maxmemory-policy must be noeviction, read through
 * INFO memory (CONFIG is NOPERM for the app's users). On a Redis that evicts, the api and the worker
 * exit 1 with one line that names the policy found and the one required, before serving a request
 * or taking a job; a Redis reconfigured later is caught at the next reconnection.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import Redis from "ioredis";
import { createApi } from "../src/api-runtime";
import { createLogger } from "../src/logger";
import { aclRules } from "../src/redisAcl";
import { policyFromInfo, RedisPolicyError } from "../src/redisPolicy";
import { startWorker } from "../src/worker-runtime";
import { testConfig, waitFor } from "./helpers/fixtures";
import { FleetRedis, startFleetRedis } from "./helpers/fleet-redis";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { freePort, startRedis } from "./helpers/redis-server";
import { httpJson, spawnRole } from "./helpers/slots";

/** The fatal line a process printed before exiting. */
function fatalLine(output: string): { msg: string; err: string } {
    const line = output.split("\n").find((l) => l.includes('"level":"fatal"'));
    assert.ok(line, output.slice(-3000));
    return JSON.parse(line);
}

describe("maxmemory-policy check", function () {
    this.timeout(120_000);
    const ollama = new OllamaStandIn();
    let dir: string;

    before(async () => {
        await ollama.start();
        dir = mkdtempSync(join(tmpdir(), "app-test-policy-"));
    });
    after(async () => {
        await ollama.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => ollama.reset());

    it("reads the policy from an INFO memory reply", () => {
        assert.equal(policyFromInfo("# Memory\r\nused_memory:1\r\nmaxmemory_policy:noeviction\r\nallocator_frag_ratio:1.0\r\n"), "noeviction");
        assert.equal(policyFromInfo("maxmemory_policy:allkeys-lru\n"), "allkeys-lru");
        assert.equal(policyFromInfo("# Memory\r\nused_memory:1\r\n"), null);
    });

    describe("a Redis that evicts (a managed Redis left at its default)", () => {
        let fleet: FleetRedis;
        before(async () => {
            const noInfo = aclRules("worker").filter((r) => r !== "+info").join(" ");
            fleet = await startFleetRedis({ maxmemoryPolicy: "volatile-lru", users: { noinfo: noInfo } });
        });
        after(() => fleet?.stop());

        const env = { OLLAMA_MODEL: "stand-in", QUEUE_NAME: "jobs-blue", LOG_LEVEL: "info", HEARTBEAT_INTERVAL_MS: "200", HEARTBEAT_MAX_AGE_MS: "1000" };

        it("stops the api and the worker at start-up with the policy found and the one required, before a request or a job", async () => {
            const admin = fleet.admin();
            // BullMQ leaves a connection it was given open on close(): the test closes its own.
            const connection = new Redis(fleet.redis.url, fleet.redis.clientOptions({ maxRetriesPerRequest: null }));
            const queue = new Queue("jobs-blue", { connection });
            try {
                const job = await queue.add("analyze", { ticker: "NVDA", date: "2024-05-10" });
                const port = await freePort();
                const api = spawnRole("api", { ...env, ...fleet.env("api"), OLLAMA_BASE_URL: ollama.url, PORT: String(port), HOST: "127.0.0.1" });
                const worker = spawnRole("worker", { ...env, ...fleet.env("worker"), OLLAMA_BASE_URL: ollama.url, HEARTBEAT_FILE: join(dir, "hb") });
                const [apiExit, workerExit] = await Promise.all([api.exited, worker.exited]);
                assert.equal(apiExit.code, 1, api.output().slice(-3000));
                assert.equal(workerExit.code, 1, worker.output().slice(-3000));
                for (const p of [api, worker]) {
                    const fatal = fatalLine(p.output());
                    assert.equal(fatal.msg, "Redis does not meet BullMQ's requirement: exiting");
                    assert.match(fatal.err, /^Redis maxmemory-policy is "volatile-lru", BullMQ requires "noeviction": .* Set maxmemory-policy noeviction /);
                    assert.doesNotMatch(p.output(), new RegExp(new URL(fleet.env("worker").REDIS_URL).password));
                }
                assert.doesNotMatch(api.output(), /"api ready"/);
                assert.doesNotMatch(worker.output(), /"worker ready"/);
                await assert.rejects(httpJson("GET", `http://127.0.0.1:${port}/health`, undefined, {}, 2000), /ECONNREFUSED/);
                // The job it would have taken is still waiting, and Ollama was never asked.
                assert.equal(await job.getState(), "waiting");
                assert.equal(ollama.generateCalls().length, 0);
                assert.deepEqual(await fleet.aclLog(), []);
            } finally {
                await queue.close();
                connection.disconnect();
                admin.disconnect();
            }
        });

        it("stops a process whose user may not run INFO, saying which grant is missing", async () => {
            const worker = spawnRole("worker", { ...env, ...fleet.env("noinfo"), OLLAMA_BASE_URL: ollama.url, HEARTBEAT_FILE: join(dir, "hb2") });
            assert.equal((await worker.exited).code, 1, worker.output().slice(-3000));
            assert.match(fatalLine(worker.output()).err, /^the Redis user may not run INFO \(NOPERM .*\): the app needs it to check that maxmemory-policy is "noeviction"; grant \+info$/);
        });
    });

    it("checks again after a reconnection: a Redis reconfigured to evict is caught", async () => {
        const redis = await startRedis();
        const admin = new Redis(redis.url);
        const seen: RedisPolicyError[] = [];
        const config = testConfig(redis.url, ollama.url, { HEARTBEAT_FILE: join(dir, "hb3") });
        const worker = startWorker(config, createLogger(config, "worker"), { onRedisPolicyViolation: (e) => seen.push(e) });
        const api = await createApi(config, createLogger(config, "api"), { onRedisPolicyViolation: (e) => seen.push(e) });
        try {
            await Promise.all([worker.redisVerified, api.redisVerified]);
            assert.equal(worker.worker.isRunning(), true, "the worker takes jobs once the policy passed");
            assert.equal(seen.length, 0);
            await admin.config("SET", "maxmemory-policy", "allkeys-lru");
            // Drop the app's connections, as a failover or a network cut would; they reconnect.
            await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
            await waitFor("both processes to see the new policy", async () => seen.length >= 2, 15_000);
            for (const e of seen) assert.match(e.message, /^Redis maxmemory-policy is "allkeys-lru", BullMQ requires "noeviction"/);
            // BullMQ's Worker.close() hangs while its connections wait to reconnect (ioredis emits no
            // "end" then; the same in main, see metrics.ts's QueueEvents): let them come back first.
            const bull = `bull:${Buffer.from(config.queueName).toString("base64")}`;
            await waitFor("the worker's connections to be back", async () => {
                const list = String(await admin.client("LIST"));
                return list.includes("name=gpu-hosts-worker ") && list.includes(`name=${bull} `);
            }, 15_000);
        } finally {
            await Promise.all([worker.close(), api.close()]);
            admin.disconnect();
            await redis.stop();
        }
    });
});
