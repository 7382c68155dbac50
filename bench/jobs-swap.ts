// Jobs across swaps: steady job submissions through the live URL while the live slot flips 10 times.
// Everything is real except Ollama: Debian's caddy with the Caddyfile the program renders and the
// exact switch script it runs (one touch/rm of the green marker), two slots' api and worker
// processes (app/src through ts-node) started with the program's slotEnvironment(), one
// redis-server, and the app's Ollama stand-in answering after --delay ms.
//
// Run (from the repository root, after `npm ci` in app/):
//   app/node_modules/.bin/ts-node --transpile-only bench/jobs-swap.ts [-- --duration 30 --rate 100 --clients 8 --swaps 10 --delay 20 --concurrency 4]
// Needs caddy and redis-server (apt-get install -y caddy redis-server); installs nothing itself.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { renderCaddyfile } from "../infra/service/caddy";
import { switchScript } from "../infra/service/route";
import { slotEnvironment } from "../infra/service/slotEnv";
import type { Color } from "../infra/vocabulary";
import { OllamaStandIn } from "../app/test/helpers/ollama-stand-in";
import { RedisHandle, startRedis } from "../app/test/helpers/redis-server";
import { Slot, startSlot } from "../app/test/helpers/slots";
import { CaddyProcess, freePort, startCaddy } from "../test/helpers/caddy";

interface Options {
    durationS: number;
    rate: number;
    clients: number;
    swaps: number;
    delayMs: number;
    concurrency: number;
}

function parseOptions(argv: string[]): Options {
    const o: Options = { durationS: 30, rate: 100, clients: 8, swaps: 10, delayMs: 20, concurrency: 4 };
    const keys: Record<string, keyof Options> = {
        "--duration": "durationS", "--rate": "rate", "--clients": "clients", "--swaps": "swaps", "--delay": "delayMs", "--concurrency": "concurrency",
    };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--") continue;
        const k = keys[argv[i]];
        if (!k || !/^\d+$/.test(argv[i + 1] ?? "")) throw new Error(`unknown or incomplete argument ${JSON.stringify(argv[i])}; see the header of bench/jobs-swap.ts`);
        o[k] = Number(argv[++i]);
    }
    if (o.durationS > 300 || o.rate > 2000 || o.clients > 128 || o.concurrency > 64) throw new Error("bounded: duration <= 300, rate <= 2000, clients <= 128, concurrency <= 64");
    return o;
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function call(agent: http.Agent, method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(url, {
            method, agent, timeout: 15_000,
            headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
        }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (text += c));
            res.on("end", () => {
                let json: unknown;
                try { json = JSON.parse(text); } catch { json = { raw: text.slice(0, 200) }; }
                resolve({ status: res.statusCode ?? 0, json });
            });
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout 15 s"), { code: "ETIMEDOUT" })));
        req.on("error", reject);
        req.end(payload);
    });
}

function flip(to: Color, routesDir: string): Promise<number | null> {
    return new Promise((resolve) => {
        const p: ChildProcess = spawn("sh", ["-c", switchScript(to, routesDir)], { stdio: "ignore" });
        p.on("close", (code) => resolve(code));
    });
}

async function main(): Promise<number> {
    const o = parseOptions(process.argv.slice(2));
    const version = spawnSync("caddy", ["version"], { encoding: "utf8" });
    if (version.error || version.status !== 0) {
        console.error("bench/jobs-swap needs caddy on PATH (Debian: apt-get install -y caddy)");
        return 2;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-jobs-swap-"));
    const ollama = new OllamaStandIn();
    let redis: RedisHandle | undefined;
    let caddy: CaddyProcess | undefined;
    const slots: Partial<Record<Color, Slot>> = {};
    const cleanup = async () => {
        await caddy?.stop(3000);
        await Promise.all(Object.values(slots).map((s) => s!.stop()));
        await redis?.stop();
        await ollama.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    };
    process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

    try {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        ollama.delayMs = o.delayMs;
        const releases: Record<Color, string> = { blue: "bench-blue-1", green: "bench-green-2" };
        for (const color of ["blue", "green"] as const) {
            const lines = slotEnvironment({
                color, release: releases[color], redisUrl: redis.url, port: await freePort(), ollamaUrl: ollama.url, model: "stand-in", workerConcurrency: o.concurrency,
                // All load comes from one address (caddy's loopback): no per-client rate limit.
                limits: { requestsPerMinute: 0, queueMaxDepth: 10_000 },
            });
            slots[color] = await startSlot(lines, { HEARTBEAT_FILE: path.join(tmp, `hb-${color}`), LOG_LEVEL: "info" });
        }
        const port = (c: Color) => new URL(slots[c]!.url).port;
        const [liveListen, idleListen, adminPort] = [await freePort(), await freePort(), await freePort()];
        const routesDir = path.join(tmp, "routes");
        const configPath = path.join(tmp, "Caddyfile");
        fs.writeFileSync(configPath, renderCaddyfile({
            upstreams: { blue: `127.0.0.1:${port("blue")}`, green: `127.0.0.1:${port("green")}` },
            healthPath: "/health", routesDir, liveListen, idleListen, admin: `localhost:${adminPort}`,
        }));
        if ((await flip("blue", routesDir)) !== 0) throw new Error("initial switch to blue failed");
        caddy = startCaddy("caddy", configPath, tmp);
        const live = `http://127.0.0.1:${liveListen}`;
        const idle = `http://127.0.0.1:${idleListen}`;
        const probe = new http.Agent({ keepAlive: false });
        for (let i = 0; ; i++) {
            if (i > 100) throw new Error(`caddy not serving:\n${caddy.log(15)}`);
            try {
                const h = await call(probe, "GET", `${live}/health`);
                if (h.status === 200 && h.json.slot === "blue") break;
            } catch { /* not yet */ }
            await sleep(100);
        }
        console.log(`caddy ${version.stdout.trim().split(" ")[0]}: live :${liveListen}, idle :${idleListen}; blue api :${port("blue")}, green api :${port("green")}; redis-server; Ollama stand-in ${o.delayMs} ms per generation`);
        console.log(`load: ${o.clients} clients, ${o.rate} POST /jobs per s for ${o.durationS} s through the live URL; ${o.swaps} swaps; WORKER_CONCURRENCY=${o.concurrency}`);

        // Load and swaps.
        const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
        const accepted: Array<{ id: string; ticker: string; liveAtSend: Color }> = [];
        const failures = new Map<string, number>();
        const fail = (k: string) => failures.set(k, (failures.get(k) ?? 0) + 1);
        let seq = 0;
        let liveColor: Color = "blue";
        const t0 = performance.now();
        const end = t0 + o.durationS * 1000;
        const perClientMs = (1000 * o.clients) / o.rate;
        const client = async (c: number) => {
            let next = t0 + (c * perClientMs) / o.clients;
            while (next < end) {
                await sleep(Math.max(0, next - performance.now()));
                next += perClientMs;
                const ticker = `J${(seq++).toString(36).toUpperCase()}`;
                const liveAtSend = liveColor;
                try {
                    const r = await call(agent, "POST", `${live}/jobs`, { ticker, date: "2024-05-10" });
                    if (r.status === 202) accepted.push({ id: r.json.job_id, ticker, liveAtSend });
                    else fail(`POST HTTP ${r.status}`);
                } catch (e) {
                    fail(`POST ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
                }
            }
        };
        const swapper = async () => {
            for (let i = 1; i <= o.swaps; i++) {
                await sleep(Math.max(0, t0 + (i * o.durationS * 1000) / (o.swaps + 1) - performance.now()));
                const to: Color = liveColor === "blue" ? "green" : "blue";
                const code = await flip(to, routesDir);
                if (code !== 0) fail(`swap exit ${code}`);
                else liveColor = to;
            }
        };
        await Promise.all([swapper(), ...Array.from({ length: o.clients }, (_, c) => client(c))]);
        const loadS = (performance.now() - t0) / 1000;

        // Drain: every accepted job must finish; read through the live URL, then through both.
        const views = new Map<string, any>();
        const drainStart = performance.now();
        const drainDeadline = drainStart + 120_000;
        while (views.size < accepted.length && performance.now() < drainDeadline) {
            const todo = accepted.filter((j) => !views.has(j.id));
            for (let i = 0; i < todo.length; i += 32) {
                await Promise.all(todo.slice(i, i + 32).map(async (j) => {
                    try {
                        const r = await call(agent, "GET", `${live}/jobs/${j.id}`);
                        if (r.status !== 200) fail(`GET HTTP ${r.status}`);
                        else if (r.json.status === "completed" || r.json.status === "failed") views.set(j.id, r.json);
                    } catch (e) {
                        fail(`GET ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
                    }
                }));
            }
            if (views.size < accepted.length) await sleep(250);
        }
        const drainS = (performance.now() - drainStart) / 1000;
        let unequal = 0;
        for (let i = 0; i < accepted.length; i += 32) {
            await Promise.all(accepted.slice(i, i + 32).map(async (j) => {
                try {
                    const [a, b] = await Promise.all([call(agent, "GET", `${live}/jobs/${j.id}`), call(agent, "GET", `${idle}/jobs/${j.id}`)]);
                    if (a.status !== 200 || JSON.stringify(a.json) !== JSON.stringify(b.json)) unequal++;
                } catch (e) {
                    fail(`GET ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
                }
            }));
        }
        agent.destroy();

        // Figures.
        const calls = new Map<string, number>();
        for (const c of ollama.generateCalls()) {
            const t = /^Ticker: (\S+)/.exec(String(c.body.prompt))?.[1] ?? "?";
            calls.set(t, (calls.get(t) ?? 0) + 1);
        }
        const completed = [...views.values()].filter((v) => v.status === "completed").length;
        const failedJobs = [...views.values()].filter((v) => v.status === "failed").length;
        const lost = accepted.length - views.size;
        const duplicated = accepted.filter((j) => (calls.get(j.ticker) ?? 0) > 1 || (views.get(j.id)?.attempts_made ?? 1) > 1).length;
        const per = { blue: { accepted: 0, processed: 0 }, green: { accepted: 0, processed: 0 } } as Record<string, { accepted: number; processed: number }>;
        let crossed = 0;
        for (const v of views.values()) {
            per[v.accepted_by?.slot]!.accepted++;
            if (v.processed_by?.slot) per[v.processed_by.slot]!.processed++;
            if (v.processed_by?.slot !== v.accepted_by?.slot || v.processed_by?.release !== releases[v.processed_by?.slot as Color]) crossed++;
        }
        const reqFailures = [...failures.values()].reduce((a, b) => a + b, 0);
        console.log("");
        console.log(`submitted:  ${seq} POSTs in ${loadS.toFixed(1)} s, ${accepted.length} accepted (202)`);
        console.log(`completed:  ${completed}, failed ${failedJobs}, lost ${lost}, duplicated ${duplicated} (drained ${drainS.toFixed(1)} s after the load)`);
        console.log(`per slot:   blue accepted ${per.blue.accepted} / processed ${per.blue.processed}; green accepted ${per.green.accepted} / processed ${per.green.processed}`);
        console.log(`processed on another slot or release than the one that accepted it: ${crossed}`);
        console.log(`read back differently through the live and idle URLs: ${unequal}`);
        console.log(`request failures: ${reqFailures}${reqFailures ? ` (${[...failures].map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}`);
        const ok = lost === 0 && duplicated === 0 && reqFailures === 0 && crossed === 0 && unequal === 0 && failedJobs === 0;
        console.log(`\nRESULT: ${ok ? "0 lost, 0 duplicated, 0 failed requests" : "NOT CLEAN"} across ${o.swaps} swaps`);
        return ok ? 0 : 1;
    } finally {
        await cleanup();
    }
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`bench/jobs-swap failed: ${e instanceof Error ? e.stack : String(e)}`);
        process.exit(1);
    },
);
