/**
 * TLS to Redis, against a real redis-server that serves TLS only (port 0, tls-port) with a
 * certificate from a throw-away CA: every connection the app opens speaks TLS and verifies the
 * server (its CA and its address), and a server the CA did not sign, or signed for another name,
 * is refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import type { AppConfig } from "../src/config";
import { bullConnection, openRedis, redisOptions } from "../src/connection";
import { createLogger } from "../src/logger";
import { startWorker } from "../src/worker-runtime";
import { startApi } from "./helpers/api";
import { testConfig, waitFor } from "./helpers/fixtures";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { makePki, TestPki } from "./helpers/pki";
import { RedisHandle, startRedis } from "./helpers/redis-server";

/** Connects once (no retry) and PINGs; resolves with the error that stopped it, or "PONG". */
async function tryPing(config: AppConfig): Promise<string> {
    const client = openRedis(config, "tls-test", { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    let lastError = "";
    client.on("error", (err: Error) => (lastError = err.message));
    try {
        await client.connect();
        return await client.ping();
    } catch (err) {
        return lastError || (err as Error).message;
    } finally {
        client.disconnect();
    }
}

describe("TLS to Redis", function () {
    this.timeout(60_000);
    const ollama = new OllamaStandIn();
    let pki: TestPki;
    let otherCa: TestPki;
    let redis: RedisHandle;
    let dir: string;
    const open: Array<{ close(): Promise<void> } | (() => unknown)> = [];

    before(async () => {
        pki = makePki();
        otherCa = makePki("another CA");
        [redis] = await Promise.all([startRedis({ tls: pki }), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-tls-"));
    });
    after(async () => {
        await Promise.all([redis?.stop(), ollama.stop()]);
        pki?.remove();
        otherCa?.remove();
        if (dir) rmSync(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
        for (const o of open.splice(0).reverse()) await (typeof o === "function" ? o() : o.close());
    });

    const config = (caFile: string | undefined, url = redis.url, extra: Record<string, string> = {}) =>
        testConfig(url, ollama.url, { HEARTBEAT_FILE: join(dir, `hb-${Math.random()}`), ...(caFile ? { REDIS_CA_FILE: caFile } : {}), ...extra });

    it("builds every connection's options with TLS, the CA and the server check, and none without", () => {
        const tls = config(pki.caFile);
        for (const options of [redisOptions(tls, "x"), bullConnection(tls, "x", { maxRetriesPerRequest: null })]) {
            assert.deepEqual(options.tls, { rejectUnauthorized: true, ca: pki.caPem });
            assert.equal(options.disableClientInfo, true);
        }
        assert.deepEqual(redisOptions(config(undefined, "REDISS://:p@127.0.0.1:1/0"), "x").tls, { rejectUnauthorized: true });
        assert.equal("tls" in redisOptions(testConfig("redis://:p@127.0.0.1:1/0", ollama.url), "x"), false);
    });

    it("runs the whole job flow over TLS only: the api's client, its event stream, the worker's connections and its probe", async () => {
        const c = config(pki.caFile);
        const api = await startApi(c);
        const worker = startWorker(c, createLogger(c, "worker"));
        open.push(api, worker);
        await Promise.all([api.redisVerified, worker.redisVerified]);
        const res = await api.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: "NVDA", date: "2024-05-10" } });
        assert.equal(res.statusCode, 202, res.body);
        const id = res.json().job_id;
        const job = await waitFor("the job to complete", async () => {
            const j = (await api.app.inject({ method: "GET", url: `/jobs/${id}` })).json();
            return j.status === "completed" ? j : undefined;
        });
        assert.equal(job.result.ticker, "NVDA");
        const health = (await api.app.inject({ method: "GET", url: "/health" })).json();
        assert.equal(health.redis, "ok", JSON.stringify(health));
        // The duration histogram is fed by QueueEvents' own connection: it saw the job finish.
        const metrics = await waitFor("the job's duration in /metrics", async () => {
            const text = (await api.app.inject({ method: "GET", url: "/metrics" })).body;
            return /^gpu_hosts_job_duration_seconds_count\{slot="blue"\} 1$/m.test(text) ? text : undefined;
        });
        assert.match(metrics, /^gpu_hosts_redis_up\{slot="blue"\} 1$/m);

        // The server has no plaintext port, so every client it lists came in over TLS: each kind is there.
        const admin = new Redis(redis.url, redis.clientOptions());
        open.push(() => admin.disconnect());
        const names = (await admin.client("LIST") as string).split("\n").map((l) => /\bname=(\S*)/.exec(l)?.[1]).filter((n): n is string => !!n).sort();
        // BullMQ renames the connections it duplicates for blocking reads: the worker's (BZPOPMIN) and
        // QueueEvents' (XREAD), "bull:<base64 of the queue name>" (QueueBase.clientName).
        const bull = `bull:${Buffer.from(c.queueName).toString("base64")}`;
        assert.deepEqual(names, [bull, `${bull}:qe`, "gpu-hosts-api", "gpu-hosts-api-events", "gpu-hosts-health", "gpu-hosts-worker"]);
    });

    it("refuses a server whose certificate another CA signed, and the api then accepts no job", async () => {
        const c = config(otherCa.caFile);
        assert.match(await tryPing(c), /self[- ]signed certificate in certificate chain|unable to verify|unable to get local issuer/);
        const api = await startApi(c);
        open.push(api);
        const res = await api.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: "NVDA", date: "2024-05-10" } });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal((await api.app.inject({ method: "GET", url: "/health" })).json().redis, "unreachable");
    });

    it("refuses a certificate that the right CA signed for another address", async () => {
        const elsewhere = makePki("a CA", ["DNS:redis.internal.example"]);
        const server = await startRedis({ tls: elsewhere }).catch((err) => {
            elsewhere.remove();
            throw err;
        });
        open.push(() => server.stop().finally(() => elsewhere.remove()));
        const c = config(elsewhere.caFile, server.url);
        assert.match(await tryPing(c), /Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list/);
    });

    it("trusts only Node's public CAs for a rediss:// URL without REDIS_CA_FILE: a private CA's server is refused", async () => {
        assert.match(await tryPing(config(undefined)), /self[- ]signed certificate in certificate chain|unable to (verify|get local issuer)/);
        assert.equal(await tryPing(config(pki.caFile)), "PONG");
    });

    it("never reaches the server in plaintext: a redis:// URL to its TLS port gets no answer", async () => {
        const plain = testConfig(redis.url.replace(/^rediss:/, "redis:"), ollama.url, { REDIS_TIMEOUT_MS: "500" });
        const answer = await Promise.race([tryPing(plain), new Promise<string>((r) => setTimeout(() => r("no answer"), 3000))]);
        assert.notEqual(answer, "PONG");
    });
});
