/**
 * Faults and abuse (issue 10), against a real redis-server and the Ollama stand-in: input quirks,
 * uniform errors, O(1) lookups, idempotency, queue depth, retention, Redis refusing writes, rate
 * limits and request timeouts.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import Redis from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppConfig } from "../src/config";
import { createLogger } from "../src/logger";
import { idempotentJobId } from "../src/server";
import { startWorker } from "../src/worker-runtime";
import { Api, startApi } from "./helpers/api";
import { testConfig, waitFor } from "./helpers/fixtures";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { RedisHandle, startRedis } from "./helpers/redis-server";

const JSON_CT = { "content-type": "application/json" };

describe("faults and abuse", () => {
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let admin: Redis;
    let dir: string;
    const open: Array<{ close(): Promise<void> }> = [];

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        admin = new Redis(redis.url);
        dir = mkdtempSync(join(tmpdir(), "app-test-faults-"));
    });
    after(async () => {
        admin?.disconnect();
        await Promise.all([redis?.stop(), ollama.stop()]);
        rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => ollama.reset());
    afterEach(async () => {
        await admin.config("SET", "maxmemory", "0");
        await Promise.all(open.splice(0).map((o) => o.close()));
    });

    async function api(overrides: Record<string, string> = {}): Promise<{ api: Api; config: AppConfig }> {
        const config = testConfig(redis.url, ollama.url, { HEARTBEAT_FILE: join(dir, `hb-${Math.random()}`), ...overrides });
        const a = await startApi(config);
        open.push(a);
        return { api: a, config };
    }
    const post = (a: Api, payload: unknown, headers: Record<string, string> = JSON_CT) =>
        a.app.inject({ method: "POST", url: "/jobs", headers, payload: typeof payload === "string" ? payload : JSON.stringify(payload) });
    const assertErrorShape = (body: any) => {
        assert.deepEqual(Object.keys(body).sort(), ["error", "errors", "message"], JSON.stringify(body));
        assert.equal(typeof body.error, "string");
        assert.ok(Array.isArray(body.errors));
    };

    describe("input", () => {
        for (const ticker of ["ß", "ﬀ", "ı", "...", "-", ".-.", "ǆ", "Ａ"]) {
            it(`refuses the ticker ${JSON.stringify(ticker)} (ASCII only, a letter or digit, no Unicode case folding)`, async () => {
                const { api: a } = await api();
                const res = await post(a, { ticker, date: "2024-05-10" });
                assert.equal(res.statusCode, 400, res.body);
                assert.equal(res.json().errors[0].field, "ticker");
            });
        }
        for (const date of ["0000-01-01", "9999-12-31", "1969-12-31", "2100-01-01"]) {
            it(`refuses the date ${date} (outside 1970-01-01..2099-12-31)`, async () => {
                const { api: a } = await api();
                const res = await post(a, { ticker: "NVDA", date });
                assert.equal(res.statusCode, 400, res.body);
                assert.equal(res.json().errors[0].field, "date");
            });
        }
        it("accepts the range's ends and a lower-case ASCII ticker", async () => {
            const { api: a } = await api();
            for (const date of ["1970-01-01", "2099-12-31"]) assert.equal((await post(a, { ticker: "brk.b", date })).statusCode, 202);
        });
        for (const charset of ["utf-16", "latin1", "ISO-8859-1"]) {
            it(`answers 415 for charset=${charset}`, async () => {
                const { api: a } = await api();
                const res = await post(a, { ticker: "NVDA", date: "2024-05-10" }, { "content-type": `application/json; charset=${charset}` });
                assert.equal(res.statusCode, 415, res.body);
                assertErrorShape(res.json());
            });
        }
        it("accepts charset=utf-8 and UTF-8 in any case", async () => {
            const { api: a } = await api();
            for (const cs of ["utf-8", "UTF-8", "utf8"]) {
                assert.equal((await post(a, { ticker: "NVDA", date: "2024-05-10" }, { "content-type": `application/json; charset=${cs}` })).statusCode, 202);
            }
        });
        it("gives every 4xx, the router's included, the same JSON shape, and echoes no long input", async () => {
            const { api: a } = await api();
            const long = "A".repeat(5000);
            const answers = await Promise.all([
                a.app.inject({ method: "GET", url: `/jobs/${long}` }),
                a.app.inject({ method: "GET", url: `/nope/${long}` }),
                a.app.inject({ method: "GET", url: "/jobs/%zz" }),
                a.app.inject({ method: "GET", url: "/jobs/not-a-uuid" }),
                post(a, { ticker: long, date: "2024-05-10" }),
                post(a, "{bad json"),
                post(a, "x", { "content-type": "text/plain" }),
                a.app.inject({ method: "DELETE", url: "/jobs" }),
            ]);
            for (const res of answers) {
                assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 200)}`);
                assertErrorShape(res.json());
                assert.ok(res.body.length < 600, `echoed input: ${res.body.length} bytes: ${res.body.slice(0, 200)}`);
                assert.doesNotMatch(res.body, /A{100}/);
            }
            assert.equal(answers[0].statusCode, 414);
        });
    });

    describe("lookups", () => {
        it("answers an unknown id with 404 without scanning any list (no LPOS), also with a backlog", async () => {
            const { api: a, config } = await api({ LOOKUP_QUEUES: "other-queue" });
            for (let i = 0; i < 20; i++) assert.equal((await post(a, { ticker: "NVDA", date: "2024-05-10" })).statusCode, 202);
            const lposBefore = await lposCalls(admin);
            const res = await a.app.inject({ method: "GET", url: "/jobs/00000000-0000-4000-8000-000000000000" });
            assert.equal(res.statusCode, 404);
            assert.equal(await lposCalls(admin), lposBefore, "an unknown id ran LPOS");
            assert.equal(await a.queue.getJobCountByTypes("waiting"), 20, config.queueName);
        });
    });

    describe("idempotency", () => {
        it("returns the same job for the same Idempotency-Key, through either slot's api, and 422 for another body", async () => {
            const suffix = Math.random().toString(36).slice(2, 8);
            const lookups = `b-${suffix},g-${suffix}`;
            const { api: blue } = await api({ QUEUE_NAME: `b-${suffix}`, LOOKUP_QUEUES: lookups });
            const { api: green } = await api({ QUEUE_NAME: `g-${suffix}`, LOOKUP_QUEUES: lookups, APP_SLOT: "green" });
            const key = `client-retry-${suffix}`;
            const headers = { ...JSON_CT, "idempotency-key": key };
            const first = await post(blue, { ticker: "NVDA", date: "2024-05-10" }, headers);
            assert.equal(first.statusCode, 202, first.body);
            assert.equal(first.json().job_id, idempotentJobId(key));
            const again = await post(blue, { ticker: "NVDA", date: "2024-05-10" }, headers);
            assert.equal(again.statusCode, 200, again.body);
            assert.equal(again.json().job_id, first.json().job_id);
            const viaGreen = await post(green, { ticker: "NVDA", date: "2024-05-10" }, headers);
            assert.equal(viaGreen.json().job_id, first.json().job_id);
            assert.equal(await green.queue.getJobCountByTypes("waiting"), 0, "no second job in the other slot's queue");
            assert.equal(await blue.queue.getJobCountByTypes("waiting"), 1);
            const other = await post(blue, { ticker: "AMD", date: "2024-05-10" }, headers);
            assert.equal(other.statusCode, 422, other.body);
            assertErrorShape(other.json());
            const bad = await post(blue, { ticker: "NVDA", date: "2024-05-10" }, { ...JSON_CT, "idempotency-key": "x".repeat(300) });
            assert.equal(bad.statusCode, 400);
        });

        it("a POST whose enqueue times out names the job, which the client can then look up", async () => {
            const { api: a } = await api({ REDIS_TIMEOUT_MS: "300" });
            // Redis stalls for 1.2 s just as the add is sent: the add goes through after the api gave up on it.
            const add = a.queue.add.bind(a.queue);
            a.queue.add = (async (...args: Parameters<typeof add>) => {
                await admin.call("CLIENT", "PAUSE", "1200", "ALL");
                return add(...args);
            }) as typeof add;
            const res = await post(a, { ticker: "NVDA", date: "2024-05-10" });
            assert.equal(res.statusCode, 503, res.body);
            const id = res.json().job_id;
            assert.match(id, /^[0-9a-f-]{36}$/, res.body);
            assert.match(res.json().message, new RegExp(id));
            const job: any = await waitFor("the job to show up", async () => {
                const got = await a.app.inject({ method: "GET", url: `/jobs/${id}` });
                return got.statusCode === 200 ? got.json() : undefined;
            }, 5000);
            assert.equal(job.status, "pending");
        });
    });

    describe("Redis cannot fill up", () => {
        it("refuses new jobs past QUEUE_MAX_DEPTH with 503, Retry-After and JSON", async () => {
            const { api: a } = await api({ QUEUE_MAX_DEPTH: "3" });
            for (let i = 0; i < 3; i++) assert.equal((await post(a, { ticker: "NVDA", date: "2024-05-10" })).statusCode, 202);
            const res = await post(a, { ticker: "NVDA", date: "2024-05-10" });
            assert.equal(res.statusCode, 503, res.body);
            assert.equal(res.headers["retry-after"], "10");
            assertErrorShape(res.json());
            assert.match(res.json().message, /queue is full/);
            assert.equal(await a.queue.getJobCountByTypes("waiting"), 3);
            const health = (await a.app.inject({ method: "GET", url: "/health" })).json();
            assert.equal(health.accepting, false);
            assert.equal(health.queue_depth, 3);
        });

        it("keeps at most JOB_KEEP_COMPLETED finished jobs, whatever their age", async () => {
            const { api: a, config } = await api({ JOB_KEEP_COMPLETED: "3" });
            const worker = startWorker(config, createLogger(config, "worker"));
            open.push(worker);
            const ids: string[] = [];
            for (let i = 0; i < 8; i++) ids.push((await post(a, { ticker: `K${i}`, date: "2024-05-10" })).json().job_id);
            await waitFor("all processed", async () => ollama.generateCalls().length === 8, 10_000);
            await waitFor("retention applied", async () => (await a.queue.getJobCountByTypes("completed")) === 3, 5000);
            assert.equal((await a.app.inject({ method: "GET", url: `/jobs/${ids[0]}` })).statusCode, 404);
            assert.equal((await a.app.inject({ method: "GET", url: `/jobs/${ids[7]}` })).json().status, "completed");
        });

        it("when Redis refuses writes (maxmemory): /health says oom, POST is a JSON 503, the worker backs off, and all recover by themselves", async () => {
            const { api: a, config } = await api();
            // Jobs wait when Redis fills up; the worker then starts against the full Redis.
            for (let i = 0; i < 5; i++) assert.equal((await post(a, { ticker: `M${i}`, date: "2024-05-10" })).statusCode, 202);
            await admin.config("SET", "maxmemory", "1");
            const worker = startWorker(config, createLogger({ ...config, logLevel: "silent" }, "worker"));
            open.push(worker);
            let errors = 0;
            worker.worker.on("error", () => errors++);
            const health = await a.app.inject({ method: "GET", url: "/health" });
            assert.equal(health.statusCode, 503, health.body);
            assert.equal(health.json().redis, "oom");
            const res = await post(a, { ticker: "NVDA", date: "2024-05-10" });
            assert.equal(res.statusCode, 503, res.body);
            assertErrorShape(res.json());
            assert.match(res.json().message, /refuses writes/);
            const before = await totalCalls(admin);
            await new Promise((r) => setTimeout(r, 1000));
            const perSecond = (await totalCalls(admin)) - before;
            assert.ok(perSecond < 100, `the worker spins against the full Redis: ${perSecond} commands/s, ${errors} errors`);

            await admin.config("SET", "maxmemory", "0");
            await waitFor("health back to 200", async () => (await a.app.inject({ method: "GET", url: "/health" })).statusCode === 200, 5000);
            const id = (await post(a, { ticker: "NVDA", date: "2024-05-10" })).json().job_id;
            await waitFor("the job to complete after recovery", async () => (await a.app.inject({ method: "GET", url: `/jobs/${id}` })).json().status === "completed", 15_000);
            assert.equal(await a.queue.getJobCountByTypes("completed"), 6, "the jobs that waited through the full Redis completed too");
        });
    });

    describe("health tells the truth", () => {
        it("after a Redis restart, /health turns 200 only once POST /jobs works again", async () => {
            const own = await startRedis();
            const a = await startApi(testConfig(own.url, ollama.url));
            try {
                assert.equal((await a.app.inject({ method: "GET", url: "/health" })).statusCode, 200);
                await own.restart({ downMs: 2500, kill: true });
                const lies: string[] = [];
                const deadline = Date.now() + 8000;
                let healthyAndAccepting = false;
                while (!healthyAndAccepting && Date.now() < deadline) {
                    const h = await a.app.inject({ method: "GET", url: "/health" });
                    if (h.statusCode === 200) {
                        const p = await post(a, { ticker: "NVDA", date: "2024-05-10" });
                        if (p.statusCode === 202) healthyAndAccepting = true;
                        else lies.push(`health 200 but POST ${p.statusCode}`);
                    }
                    await new Promise((r) => setTimeout(r, 20));
                }
                assert.ok(healthyAndAccepting, "never recovered");
                assert.deepEqual(lies, []);
            } finally {
                await a.close();
                await own.stop();
            }
        });
    });

    describe("rate limit", () => {
        it("limits each client across api processes through Redis, with a 429 JSON answer, and never limits /health", async () => {
            const suffix = Math.random().toString(36).slice(2, 8);
            const env = { RATE_LIMIT_MAX: "3", RATE_LIMIT_WINDOW_MS: "60000", QUEUE_NAME: `rl-${suffix}` };
            const { api: one } = await api(env);
            const { api: two } = await api(env);
            const from = (ip: string) => ({ remoteAddress: ip });
            const get = (a: Api, ip: string, url = "/jobs/00000000-0000-4000-8000-000000000000") => a.app.inject({ method: "GET", url, ...from(ip) });
            assert.equal((await get(one, "10.1.1.1")).statusCode, 404);
            assert.equal((await get(two, "10.1.1.1")).statusCode, 404);
            assert.equal((await get(one, "10.1.1.1")).statusCode, 404);
            const limited = await get(two, "10.1.1.1");
            assert.equal(limited.statusCode, 429, limited.body);
            assertErrorShape(limited.json());
            assert.ok(Number(limited.headers["retry-after"]) > 0);
            assert.equal((await get(one, "10.2.2.2")).statusCode, 404, "another client has its own budget");
            for (let i = 0; i < 5; i++) assert.equal((await get(one, "10.1.1.1", "/health")).statusCode, 200);
        });
    });

    describe("rate limit behind the proxy", () => {
        it("counts the client named by a trusted proxy's X-Forwarded-For, and ignores one spoofed by an untrusted peer", async () => {
            const { api: a } = await api({ RATE_LIMIT_MAX: "2", QUEUE_NAME: `rlp-${Math.random().toString(36).slice(2, 8)}` });
            const get = (remoteAddress: string, xff: string) =>
                a.app.inject({ method: "GET", url: "/jobs/00000000-0000-4000-8000-000000000000", remoteAddress, headers: { "x-forwarded-for": xff } });
            // Through the proxy (a private address): each forwarded client has its own budget.
            for (const client of ["198.51.100.1", "198.51.100.2"]) {
                assert.equal((await get("172.18.0.5", client)).statusCode, 404);
                assert.equal((await get("172.18.0.5", client)).statusCode, 404);
                assert.equal((await get("172.18.0.5", client)).statusCode, 429);
            }
            // A public peer cannot pick a fresh identity per request by spoofing the header.
            assert.equal((await get("203.0.113.9", "198.51.100.50")).statusCode, 404);
            assert.equal((await get("203.0.113.9", "198.51.100.51")).statusCode, 404);
            assert.equal((await get("203.0.113.9", "198.51.100.52")).statusCode, 429);
        });
    });

    describe("rate limit per API key", () => {
        it("counts requests per key when the proxy vouches for one (X-Api-Key-Id), whatever the client address, and ignores the header from an untrusted peer", async () => {
            const { api: a } = await api({ RATE_LIMIT_MAX: "2", QUEUE_NAME: `rlk-${Math.random().toString(36).slice(2, 8)}` });
            const get = (remoteAddress: string, xff: string, keyId?: string) => a.app.inject({
                method: "GET", url: "/jobs/00000000-0000-4000-8000-000000000000", remoteAddress,
                headers: { "x-forwarded-for": xff, ...(keyId ? { "x-api-key-id": keyId } : {}) },
            });
            const k1 = "0123456789abcdef";
            const k2 = "fedcba9876543210";
            // One key from two addresses shares one budget...
            assert.equal((await get("172.18.0.5", "198.51.100.1", k1)).statusCode, 404);
            assert.equal((await get("172.18.0.5", "198.51.100.2", k1)).statusCode, 404);
            assert.equal((await get("172.18.0.5", "198.51.100.3", k1)).statusCode, 429);
            // ...another key from the same address has its own.
            assert.equal((await get("172.18.0.5", "198.51.100.1", k2)).statusCode, 404);
            // An untrusted peer's X-Api-Key-Id is ignored: it is counted by its address.
            assert.equal((await get("203.0.113.77", "198.51.100.9", k2)).statusCode, 404);
            assert.equal((await get("203.0.113.77", "198.51.100.9", "aaaaaaaaaaaaaaaa")).statusCode, 404);
            assert.equal((await get("203.0.113.77", "198.51.100.9", "bbbbbbbbbbbbbbbb")).statusCode, 429);
        });
    });

    describe("timeouts", () => {
        it("cuts off a client that never finishes its body (request timeout)", async () => {
            const { api: a } = await api({ API_REQUEST_TIMEOUT_MS: "500" });
            await a.app.listen({ port: 0, host: "127.0.0.1" });
            const port = (a.app.server.address() as { port: number }).port;
            const started = Date.now();
            const outcome = await new Promise<string>((resolve) => {
                const sock = connect(port, "127.0.0.1", () => {
                    sock.write("POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ticker\":");
                });
                let data = "";
                sock.on("data", (d) => (data += d));
                sock.on("close", () => resolve(data));
                setTimeout(() => {
                    sock.destroy();
                    resolve("still open after 5 s");
                }, 5000);
            });
            assert.notEqual(outcome, "still open after 5 s");
            assert.ok(Date.now() - started < 3000, `held for ${Date.now() - started} ms`);
        });
    });
});

async function commandStats(admin: Redis): Promise<Map<string, number>> {
    const info = await admin.info("commandstats");
    const out = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]));
    return out;
}
async function lposCalls(admin: Redis): Promise<number> {
    return (await commandStats(admin)).get("lpos") ?? 0;
}
async function totalCalls(admin: Redis): Promise<number> {
    let n = 0;
    for (const [name, calls] of await commandStats(admin)) if (name !== "info") n += calls;
    return n;
}
