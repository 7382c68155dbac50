// Api benchmark: the app's real api and worker processes (app/src through ts-node), one real
// redis-server, the app's Ollama stand-in (no model: it answers at once, so the figures are the
// service's own overhead). HTTP/1.1 keep-alive clients on loopback, straight to the api.
//   1. POST /jobs and GET /jobs/{id}: throughput, p50/p99 at 1, 10 and 50 clients;
//   2. drain rate of a 5,000-job backlog by one worker (WORKER_CONCURRENCY --concurrency);
//   3. unknown-id lookups with 200,000 jobs waiting: latency, and one client's POST rate meanwhile.
// Run (from the repository root, after `npm ci` in app/):
//   app/node_modules/.bin/ts-node --transpile-only bench/api.ts [-- --seconds 5 --backlog 5000 --waiting 200000 --concurrency 8]
// The api runs with LOG_LEVEL=warn, RATE_LIMIT_MAX=0 and a QUEUE_MAX_DEPTH above the backlog.
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { randomUUID } from "crypto";
import { loadConfig } from "../app/src/config";
import { createQueue, JOB_NAME } from "../app/src/jobs";
import { OllamaStandIn } from "../app/test/helpers/ollama-stand-in";
import { freePort, RedisHandle, startRedis } from "../app/test/helpers/redis-server";
import { AppProcess, spawnRole, waitHealthy, waitWorkerReady } from "../app/test/helpers/slots";

interface Options { seconds: number; backlog: number; waiting: number; concurrency: number }

function parseOptions(argv: string[]): Options {
    const o: Options = { seconds: 5, backlog: 5000, waiting: 200_000, concurrency: 8 };
    const keys: Record<string, keyof Options> = { "--seconds": "seconds", "--backlog": "backlog", "--waiting": "waiting", "--concurrency": "concurrency" };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--") continue;
        const k = keys[argv[i]];
        if (!k || !/^\d+$/.test(argv[i + 1] ?? "")) throw new Error(`unknown or incomplete argument ${JSON.stringify(argv[i])}; see the header of bench/api.ts`);
        o[k] = Number(argv[++i]);
    }
    if (o.seconds > 60 || o.backlog > 100_000 || o.waiting > 1_000_000 || o.concurrency > 64) throw new Error("bounded: seconds <= 60, backlog <= 100000, waiting <= 1000000, concurrency <= 64");
    return o;
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);

function request(agent: http.Agent, method: string, url: string, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, agent, timeout: 15_000, headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {} }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("client timeout")));
        req.on("error", reject);
        req.end(body);
    });
}

interface Run { ok: number; failed: number; seconds: number; lat: number[] }

/** `clients` closed-loop clients for `seconds`, each calling `one()`; latencies in ms. */
async function load(clients: number, seconds: number, one: (agent: http.Agent) => Promise<boolean>): Promise<Run> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const lat: number[] = [];
    let ok = 0;
    let failed = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
            const s = performance.now();
            let good = false;
            try { good = await one(agent); } catch { good = false; }
            lat.push(performance.now() - s);
            if (good) ok++; else failed++;
        }
    }));
    agent.destroy();
    return { ok, failed, seconds: (performance.now() - t0) / 1000, lat: lat.sort((a, b) => a - b) };
}

const line = (what: string, r: Run) =>
    `${what.padEnd(28)} ${String(Math.round(r.ok / r.seconds)).padStart(7)}/s  p50 ${pct(r.lat, 50).toFixed(2).padStart(7)} ms  p99 ${pct(r.lat, 99).toFixed(2).padStart(7)} ms  failed ${r.failed}`;

async function main(): Promise<number> {
    const o = parseOptions(process.argv.slice(2));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-api-"));
    const ollama = new OllamaStandIn();
    let redis: RedisHandle | undefined;
    const procs: AppProcess[] = [];
    try {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        const port = await freePort();
        const env = {
            REDIS_URL: redis.url, PORT: String(port), HOST: "127.0.0.1", OLLAMA_BASE_URL: ollama.url, OLLAMA_MODEL: "stand-in",
            QUEUE_NAME: "jobs-blue", LOOKUP_QUEUES: "jobs-blue,jobs-green", APP_SLOT: "blue", APP_RELEASE: "bench",
            LOG_LEVEL: "warn", RATE_LIMIT_MAX: "0", QUEUE_MAX_DEPTH: "5000000", JOB_KEEP_COMPLETED: "100000",
            WORKER_CONCURRENCY: String(o.concurrency), HEARTBEAT_FILE: path.join(tmp, "hb"),
        };
        const api = spawnRole("api", env);
        procs.push(api);
        const base = `http://127.0.0.1:${port}`;
        await waitHealthy(base, api);
        console.log(`api (node ${process.version}, ${os.cpus().length} CPUs) on ${base}; redis-server; no worker during 1 and 3`);
        const body = JSON.stringify({ ticker: "NVDA", date: "2024-05-10" });
        const ids: string[] = [];

        // 1. POST and GET at 1, 10, 50 clients.
        console.log("\n1. throughput and latency (keep-alive, closed loop, " + o.seconds + " s each)");
        for (const c of [1, 10, 50]) {
            const r = await load(c, o.seconds, async (agent) => {
                const res = await request(agent, "POST", `${base}/jobs`, body);
                if (res.status !== 202) return false;
                if (ids.length < 100_000) ids.push(JSON.parse(res.text).job_id);
                return true;
            });
            console.log(line(`POST /jobs, ${c} client${c > 1 ? "s" : ""}`, r));
        }
        for (const c of [1, 10, 50]) {
            let i = 0;
            const r = await load(c, o.seconds, async (agent) => (await request(agent, "GET", `${base}/jobs/${ids[i++ % ids.length]}`)).status === 200);
            console.log(line(`GET /jobs/{id}, ${c} client${c > 1 ? "s" : ""}`, r));
        }

        // 2. Drain a backlog: clear the queue, enqueue `backlog` jobs, then start one worker.
        const config = loadConfig({ ...env });
        const { queue, client, close } = createQueue(config);
        await queue.obliterate({ force: true });
        const backlogData = Array.from({ length: o.backlog }, () => ({ name: JOB_NAME, data: { ticker: "NVDA", date: "2024-05-10", accepted_by: { slot: "blue", release: "bench" } }, opts: { jobId: randomUUID() } }));
        for (let i = 0; i < backlogData.length; i += 1000) await queue.addBulk(backlogData.slice(i, i + 1000));
        const worker = spawnRole("worker", { ...env, LOG_LEVEL: "info" });
        procs.push(worker);
        await waitWorkerReady(worker);
        const d0 = performance.now();
        while ((await queue.getJobCountByTypes("completed", "failed")) < o.backlog) {
            if (performance.now() - d0 > 300_000) throw new Error("backlog not drained in 300 s");
            await sleep(50);
        }
        const drainS = (performance.now() - d0) / 1000;
        const failedJobs = await queue.getJobCountByTypes("failed");
        console.log(`\n2. drain: ${o.backlog} jobs in ${drainS.toFixed(1)} s = ${Math.round(o.backlog / drainS)} jobs/s (one worker, WORKER_CONCURRENCY=${o.concurrency}, Ollama stand-in answering at once; ${failedJobs} failed)`);
        await worker.stop();

        // 3. Unknown ids with `waiting` jobs in the waiting list.
        await queue.obliterate({ force: true });
        const t = performance.now();
        for (let i = 0; i < o.waiting; i += 2000) {
            await queue.addBulk(Array.from({ length: Math.min(2000, o.waiting - i) }, () => ({ name: JOB_NAME, data: { ticker: "NVDA", date: "2024-05-10" }, opts: { jobId: randomUUID() } })));
        }
        const waiting = await queue.getJobCountByTypes("waiting");
        console.log(`\n3. ${waiting} jobs waiting (enqueued in ${((performance.now() - t) / 1000).toFixed(1)} s); unknown ids:`);
        for (const c of [1, 20]) {
            const r = await load(c, o.seconds, async (agent) => (await request(agent, "GET", `${base}/jobs/${randomUUID()}`)).status === 404);
            console.log(line(`GET unknown id, ${c} client${c > 1 ? "s" : ""}`, r));
        }
        // One client POSTing while 20 flood unknown ids (the issue measured 2,000/s falling to 9/s).
        const [flood, posts] = await Promise.all([
            load(20, o.seconds, async (agent) => (await request(agent, "GET", `${base}/jobs/${randomUUID()}`)).status === 404),
            load(1, o.seconds, async (agent) => (await request(agent, "POST", `${base}/jobs`, body)).status === 202),
        ]);
        console.log(line("POST, 1 client, during flood", posts));
        console.log(line("  the flood: 20 clients", flood));
        const info = await client.info("memory");
        console.log(`redis used_memory: ${(Number(/used_memory:(\d+)/.exec(info)?.[1]) / 1e6).toFixed(0)} MB with ${await queue.getJobCountByTypes("waiting")} waiting`);
        await queue.obliterate({ force: true });
        await close();
        return 0;
    } finally {
        await Promise.all(procs.map((p) => p.stop()));
        await redis?.stop();
        await ollama.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`bench/api failed: ${e instanceof Error ? e.stack : String(e)}`);
        process.exit(1);
    },
);
