// Fault drills: the app's real api and worker processes (app/src through ts-node), a real
// redis-server (append-only, fsync always, as deployed), the app's Ollama stand-in answering in
// --delay ms. Each drill submits --rate jobs/s (unique tickers) straight to the api for
// --seconds, injects its fault after 20 s (a lasting one for --fault s), then waits for every accepted job to
// finish and counts jobs lost (accepted, then gone), failed, duplicated (answered by Ollama twice)
// and stuck (not finished --settle s after the load). The worker runs with the app's defaults
// (JOB_ATTEMPTS 3, JOB_BACKOFF_MS 5000, OLLAMA_RETRY_* 1-30 s, lock 30 s) unless a drill says.
// Run (from the repository root, after `npm ci` in app/):
//   app/node_modules/.bin/ts-node --transpile-only bench/drills.ts [-- --seconds 100 --fault 60 --rate 10 --delay 50 --settle 180] [--only ollama-500,...]
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { OllamaStandIn } from "../app/test/helpers/ollama-stand-in";
import { freePort, RedisHandle, startRedis } from "../app/test/helpers/redis-server";
import { AppProcess, spawnRole, waitHealthy, waitWorkerReady } from "../app/test/helpers/slots";

interface Options { seconds: number; faultS: number; rate: number; delayMs: number; settleS: number; only: string[] }

function parseOptions(argv: string[]): Options {
    const o: Options = { seconds: 100, faultS: 60, rate: 10, delayMs: 50, settleS: 180, only: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--") continue;
        if (a === "--only" && argv[i + 1]) { o.only = argv[++i].split(","); continue; }
        const k = ({ "--seconds": "seconds", "--fault": "faultS", "--rate": "rate", "--delay": "delayMs", "--settle": "settleS" } as Record<string, keyof Options>)[a];
        if (!k || !/^\d+$/.test(argv[i + 1] ?? "")) throw new Error(`unknown or incomplete argument ${JSON.stringify(a)}; see the header of bench/drills.ts`);
        (o as any)[k] = Number(argv[++i]);
    }
    if (o.seconds > 900 || o.faultS > 900 || o.rate > 500 || o.settleS > 1800) throw new Error("bounded: seconds, fault <= 900, rate <= 500, settle <= 1800");
    return o;
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function call(agent: http.Agent, method: string, url: string, body?: unknown): Promise<{ status: number; json: any; retryAfter?: string }> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(url, { method, agent, timeout: 15_000, headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {} }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (text += c));
            res.on("end", () => {
                let json: any;
                try { json = JSON.parse(text); } catch { json = { raw: text.slice(0, 100) }; }
                resolve({ status: res.statusCode ?? 0, json, retryAfter: res.headers["retry-after"] as string | undefined });
            });
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("client timeout")));
        req.on("error", reject);
        req.end(payload);
    });
}

interface Ctx {
    readonly ollama: OllamaStandIn;
    readonly redis: RedisHandle;
    /** The current worker; replaceWorker() swaps it. */
    worker: AppProcess;
    startWorker(): Promise<AppProcess>;
}

interface Drill {
    readonly name: string;
    readonly what: string;
    readonly env?: Record<string, string>;
    /** Runs after faultStart ms of load; `ms` is how long a lasting fault lasts (--fault). */
    fault(ctx: Ctx, ms: number): Promise<void>;
    /** Jobs re-run after a SIGKILL are the documented at-least-once exception. */
    readonly rerunsExpected?: boolean;
}

const DRILLS: Drill[] = [
    {
        name: "ollama-500",
        what: "Ollama answers every generation with HTTP 500",
        async fault(c, ms) { c.ollama.failNext = 1e9; await sleep(ms); c.ollama.failNext = 0; },
    },
    {
        name: "ollama-refused",
        what: "Ollama refuses connections (its port closed)",
        async fault(c, ms) { await c.ollama.refuse(); await sleep(ms); await c.ollama.accept(); },
    },
    {
        name: "ollama-hang",
        what: "Ollama never answers; JOB_TIMEOUT_MS=5000 aborts each attempt",
        env: { JOB_TIMEOUT_MS: "5000" },
        async fault(c, ms) { c.ollama.hang = true; await sleep(ms); c.ollama.hang = false; },
    },
    {
        name: "redis-restart",
        what: "redis-server SIGKILLed, down 5 s, restarted from its append-only file",
        async fault(c) { await c.redis.restart({ downMs: 5000, kill: true }); },
    },
    {
        name: "worker-sigkill",
        what: "the worker SIGKILLed mid-job (Ollama slowed to 1 s so jobs are in flight), a new one started (lock 30 s)",
        rerunsExpected: true,
        async fault(c) {
            const d = c.ollama.delayMs;
            c.ollama.delayMs = 1000;
            await sleep(1500);
            c.worker.proc.kill("SIGKILL");
            c.ollama.delayMs = d;
            await c.worker.exited;
            c.worker = await c.startWorker();
        },
    },
    {
        name: "queue-full",
        what: "QUEUE_MAX_DEPTH=20 with Ollama slowed to 2 s: the queue fills; clients honour Retry-After",
        env: { QUEUE_MAX_DEPTH: "20" },
        async fault(c, ms) { const d = c.ollama.delayMs; c.ollama.delayMs = 2000; await sleep(ms); c.ollama.delayMs = d; },
    },
];

async function runDrill(d: Drill, o: Options, tmp: string): Promise<Record<string, number | string>> {
    const ollama = new OllamaStandIn();
    await ollama.start();
    ollama.delayMs = o.delayMs;
    const redis = await startRedis({ appendonly: true });
    const procs: AppProcess[] = [];
    try {
        const port = await freePort();
        const env = {
            REDIS_URL: redis.url, PORT: String(port), HOST: "127.0.0.1", OLLAMA_BASE_URL: ollama.url, OLLAMA_MODEL: "stand-in",
            QUEUE_NAME: "jobs-blue", LOOKUP_QUEUES: "jobs-blue,jobs-green", APP_SLOT: "blue", APP_RELEASE: "drill",
            WORKER_CONCURRENCY: "2", LOG_LEVEL: "info", RATE_LIMIT_MAX: "0", HEARTBEAT_FILE: path.join(tmp, `hb-${d.name}`), ...d.env,
        };
        const api = spawnRole("api", env);
        procs.push(api);
        const startWorker = async () => {
            const w = spawnRole("worker", env);
            procs.push(w);
            await waitWorkerReady(w);
            return w;
        };
        const ctx: Ctx = { ollama, redis, worker: await startWorker(), startWorker };
        const base = `http://127.0.0.1:${port}`;
        await waitHealthy(base, api);

        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
        const accepted = new Map<string, string>(); // id -> ticker
        const maybe = new Map<string, string>(); // 503 with job_id: may exist
        const refused = new Map<string, number>();
        let seq = 0;
        const t0 = performance.now();
        // The fault starts after 20 s of normal load (or a third of a short run) and lasts --fault s;
        // the load goes on at least 20 s past it.
        const faultStart = Math.min(20_000, (o.seconds * 1000) / 3);
        const faultMs = o.faultS * 1000;
        const end = t0 + Math.max(o.seconds * 1000, faultStart + faultMs + 20_000);
        const every = 1000 / o.rate;
        let holdUntil = 0; // Retry-After honoured by the clients
        const submitter = async () => {
            const inflight: Promise<void>[] = [];
            for (let next = t0; next < end; next += every) {
                await sleep(Math.max(0, next - performance.now(), holdUntil - performance.now()));
                const ticker = `D${(seq++).toString(36).toUpperCase()}`;
                inflight.push((async () => {
                    try {
                        const r = await call(agent, "POST", `${base}/jobs`, { ticker, date: "2024-05-10" });
                        if (r.status === 202) accepted.set(r.json.job_id, ticker);
                        else {
                            refused.set(`HTTP ${r.status}`, (refused.get(`HTTP ${r.status}`) ?? 0) + 1);
                            if (r.json?.job_id) maybe.set(r.json.job_id, ticker);
                            if (r.retryAfter) holdUntil = performance.now() + Number(r.retryAfter) * 1000;
                        }
                    } catch (e) {
                        const k = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
                        refused.set(k, (refused.get(k) ?? 0) + 1);
                    }
                })());
            }
            await Promise.all(inflight);
        };
        const faulter = async () => {
            await sleep(faultStart);
            await d.fault(ctx, faultMs);
        };
        await Promise.all([submitter(), faulter()]);

        // Settle: every accepted job must finish.
        const finished = new Map<string, any>();
        const settleEnd = performance.now() + o.settleS * 1000;
        const check = async (ids: string[]) => {
            for (const id of ids) {
                if (finished.has(id)) continue;
                try {
                    const r = await call(agent, "GET", `${base}/jobs/${id}`);
                    if (r.status === 404) finished.set(id, { status: "lost" });
                    else if (r.json.status === "completed" || r.json.status === "failed") finished.set(id, r.json);
                } catch { /* api busy or Redis down: ask again */ }
            }
        };
        const maybeIds = [...maybe.keys()];
        for (const id of maybeIds) {
            const r = await call(agent, "GET", `${base}/jobs/${id}`).catch(() => undefined);
            if (r?.status === 200) accepted.set(id, maybe.get(id)!);
        }
        while (performance.now() < settleEnd) {
            await check([...accepted.keys()]);
            if (finished.size >= accepted.size) break;
            await sleep(500);
        }
        agent.destroy();
        const lost = [...finished.values()].filter((v) => v.status === "lost").length;
        const failed = [...finished.values()].filter((v) => v.status === "failed");
        const stuck = accepted.size - finished.size;
        const answered = new Map<string, number>();
        for (const c of ollama.generateCalls()) {
            if (c.status !== 200) continue;
            const t = /^Ticker: (\S+)/.exec(String(c.body.prompt))?.[1] ?? "?";
            answered.set(t, (answered.get(t) ?? 0) + 1);
        }
        const dup = [...accepted.values()].filter((t) => (answered.get(t) ?? 0) > 1).length;
        return {
            drill: d.name,
            submitted: seq,
            accepted: accepted.size,
            "refused (HTTP)": [...refused].map(([k, v]) => `${k}: ${v}`).join(", ") || "0",
            completed: [...finished.values()].filter((v) => v.status === "completed").length,
            lost,
            failed: failed.length,
            [d.rerunsExpected ? "re-run (at-least-once)" : "duplicated"]: dup,
            stuck,
            ...(failed.length ? { "first error": String(failed[0].error).slice(0, 120) } : {}),
        };
    } finally {
        await Promise.all(procs.map((p) => p.stop(3000)));
        await redis.stop();
        await ollama.stop().catch(() => undefined);
    }
}

async function main(): Promise<number> {
    const o = parseOptions(process.argv.slice(2));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-drills-"));
    let bad = 0;
    try {
        console.log(`drills: ${o.rate} jobs/s for at least ${o.seconds} s each; a lasting fault starts after 20 s and lasts ${o.faultS} s, then 20 s more load; Ollama stand-in ${o.delayMs} ms; settle up to ${o.settleS} s`);
        for (const d of DRILLS.filter((x) => o.only.length === 0 || o.only.includes(x.name))) {
            const t = performance.now();
            const r = await runDrill(d, o, tmp);
            console.log(`\n${d.name}: ${d.what} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
            console.log("  " + Object.entries(r).filter(([k]) => k !== "drill").map(([k, v]) => `${k} ${v}`).join("; "));
            if (r.lost || r.failed || r.duplicated || r.stuck) bad++;
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    console.log(`\nRESULT: ${bad === 0 ? "0 lost, 0 failed, 0 duplicated, 0 stuck in every drill" : `${bad} drill(s) not clean`}`);
    return bad === 0 ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`bench/drills failed: ${e instanceof Error ? e.stack : String(e)}`);
        process.exit(1);
    },
);
