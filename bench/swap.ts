// Swap-under-load benchmark: the real Caddy binary, the Caddyfile the program renders and the exact
// switch script it runs in the proxy container (switchScript: one touch or rm of the green
// marker), under steady load on loopback.
// Run: npm run bench:swap [-- --duration 30 --concurrency 16 --swaps 6 --latency 20 --no-keepalive --secure --caddy PATH]
// --secure serves both ports over HTTPS from Caddy's internal CA and asks every request for an API key
// through the key service (auth/server.js), as cloud hosts do.
// --caddy runs that binary (default $CADDY, else caddy on PATH: Debian's 2.6.2); the pinned release is
// `bash test/e2e/standins/caddy.sh`. Installs nothing itself.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { performance } from "perf_hooks";
import * as tls from "tls";
import { renderKeysFile } from "../infra/service/apiKeys";
import { defaultPublicPaths, renderCaddyfile } from "../infra/service/caddy";
import { switchScript } from "../infra/service/route";
import { Color, otherColor } from "../infra/vocabulary";
import { AuthProcess, CaddyProcess, benchScaffold, caddyVersion, freePort, startAuthService, startCaddy, writeKeys } from "../test/helpers/caddy";
import { mintTestPki } from "../test/helpers/pki";


interface Options {
    durationS: number;
    maxRequests: number;
    concurrency: number;
    swaps: number;
    latencyMs: number;
    /** Every Nth request is slow, so long requests are in flight during swaps. */
    slowEvery: number;
    slowMs: number;
    keepAlive: boolean;
    /** HTTPS (internal CA) and API keys, as on cloud hosts. */
    secure: boolean;
    caddy?: string;
}

function parseOptions(argv: string[]): Options {
    const o: Options = { durationS: 30, maxRequests: 200_000, concurrency: 16, swaps: 6, latencyMs: 20, slowEvery: 50, slowMs: 1000, keepAlive: true, secure: false };
    const num: Record<string, keyof Options> = {
        "--duration": "durationS", "--max-requests": "maxRequests", "--concurrency": "concurrency", "--swaps": "swaps",
        "--latency": "latencyMs", "--slow-every": "slowEvery", "--slow-ms": "slowMs",
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--no-keepalive") o.keepAlive = false;
        else if (a === "--secure") o.secure = true;
        else if (a === "--caddy" && argv[i + 1]) o.caddy = argv[++i];
        else if (num[a] && /^\d+$/.test(argv[i + 1] ?? "")) (o as any)[num[a]] = Number(argv[++i]);
        else throw new Error(`unknown or incomplete argument ${JSON.stringify(a)}; see the header of bench/swap.ts`);
    }
    if (o.durationS > 300 || o.concurrency > 256 || o.maxRequests > 1_000_000) throw new Error("bounded benchmark: duration <= 300 s, concurrency <= 256, max-requests <= 1000000");
    return o;
}

interface Backend {
    readonly color: Color;
    readonly port: number;
    served: number;
    readonly server: http.Server;
}

/** A stand-in slot api: /health like the app's, /work answers after a delay, naming its slot. */
async function startBackend(color: Color, o: Options): Promise<Backend> {
    const b = { color, port: 0, served: 0 } as Backend;
    let seq = 0;
    const server = http.createServer((req, res) => {
        const send = (status: number, body: object) => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (req.url === "/health") return send(200, { status: "healthy", redis: "ok", ollama: "ok", release: "bench", slot: color });
        if (req.url === "/work") {
            seq++;
            const delay = seq % o.slowEvery === 0 ? o.slowMs : o.latencyMs + Math.random() * o.latencyMs * 0.5;
            setTimeout(() => {
                b.served++;
                send(200, { slot: color });
            }, delay);
            return;
        }
        send(404, { error: "not found" });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    (b as { port: number }).port = (server.address() as net.AddressInfo).port;
    (b as { server: http.Server }).server = server;
    return b;
}

interface Sample {
    start: number;
    end: number;
    ok: boolean;
    color?: Color;
    error?: string;
    /** Sent on a kept-alive socket from an earlier request. */
    reused?: boolean;
}

/** With --secure: the pinned root CA, the address the certificate names, and the key every request sends. */
let secure: { ca: string; host: string; key: string } | undefined;

function get(url: string, agent: http.Agent, onReq?: (r: http.ClientRequest) => void): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const s = secure;
        const opts = s
            ? { agent, timeout: 15_000, ca: s.ca, headers: { authorization: `Bearer ${s.key}` }, checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(s.host, cert) }
            : { agent, timeout: 15_000 };
        const req = (url.startsWith("https:") ? https : http).get(url, opts, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout 15 s"), { code: "ETIMEDOUT" })));
        req.on("error", reject);
        onReq?.(req);
    });
}

interface Swap {
    to: Color;
    start: number;
    end: number;
    exitCode: number | null;
    stderr: string;
}

/** Exactly what the program runs in the proxy container: `sh -c '<switchScript>'`. */
function flip(to: Color, routesDir: string, track: Set<ChildProcess>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
        const p = spawn("sh", ["-c", switchScript(to, routesDir)], { stdio: ["ignore", "ignore", "pipe"] });
        track.add(p);
        let stderr = "";
        p.stderr!.on("data", (c) => (stderr += c));
        p.on("error", (e) => (stderr += String(e)));
        p.on("close", (code) => {
            track.delete(p);
            resolve({ code, stderr });
        });
    });
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

async function main(): Promise<number> {
    const o = parseOptions(process.argv.slice(2));
    const caddyBin = caddyVersion("bench:swap", o.caddy);
    if ("missing" in caddyBin) {
        console.error(caddyBin.missing);
        return 2;
    }
    let caddy: CaddyProcess | undefined;
    let authService: AuthProcess | undefined;
    const { tmp, children, servers, cleanup } = benchScaffold("bench:swap", "caddy and backends", () => ({ caddy, auth: authService }));

    try {
        const backends: Record<Color, Backend> = { blue: await startBackend("blue", o), green: await startBackend("green", o) };
        servers.push(backends.blue.server, backends.green.server);
        const [liveListen, idleListen, adminPort] = [await freePort(), await freePort(), await freePort()];
        const routesDir = path.join(tmp, "routes");
        const configPath = path.join(tmp, "Caddyfile");
        const apiKey = "bench-swap-key-0123456789";
        if (o.secure) {
            const keysFile = path.join(tmp, "api-keys");
            const w = writeKeys(keysFile, renderKeysFile([apiKey]));
            if (w.status !== 0) throw new Error(`key file: ${w.stderr}`);
            authService = await startAuthService(keysFile);
        }
        // A certificate from a stack CA, as the program's proxy serves (infra/service/pki.ts).
        const pki = authService ? mintTestPki(path.join(tmp, "pki"), "127.0.0.1") : undefined;
        fs.writeFileSync(configPath, renderCaddyfile({
            upstreams: { blue: `127.0.0.1:${backends.blue.port}`, green: `127.0.0.1:${backends.green.port}` },
            healthPath: "/health", routesDir, liveListen, idleListen, admin: `localhost:${adminPort}`,
            ...(authService ? {
                tls: { mode: "internal" as const, hostname: "127.0.0.1", certFile: pki!.certFile, keyFile: pki!.keyFile },
                auth: { upstream: `127.0.0.1:${authService.port}`, publicPaths: defaultPublicPaths("/health") },
            } : {}),
        }));
        const first = await flip("blue", routesDir, children);
        if (first.code !== 0) throw new Error(`initial switch to blue failed: ${first.stderr}`);
        caddy = startCaddy(caddyBin.bin, configPath, tmp);
        const started = caddy;

        const scheme = o.secure ? "https" : "http";
        const liveUrl = `${scheme}://127.0.0.1:${liveListen}/work`;
        const probe = new (o.secure ? https.Agent : http.Agent)({ keepAlive: false });
        const up = async (url: string, want: Color) => {
            for (let i = 0; i < 100; i++) {
                if (!started.running()) throw new Error(`caddy exited with ${started.child.exitCode}:\n${started.log(15)}`);
                try {
                    if (o.secure && !secure) secure = { ca: pki!.caPem, host: "127.0.0.1", key: apiKey };
                    const r = await get(url, probe);
                    if (r.status === 200 && JSON.parse(r.body).slot === want) return;
                } catch {
                    // not listening yet
                }
                await sleep(100);
            }
            throw new Error(`caddy did not serve ${want} on ${url} within 10 s:\n${started.log(15)}`);
        };
        await up(liveUrl, "blue");
        await up(`${scheme}://127.0.0.1:${idleListen}/work`, "green");

        console.log(`caddy ${caddyBin.version}; live :${liveListen} -> blue :${backends.blue.port}, idle :${idleListen} -> green :${backends.green.port}, admin localhost:${adminPort}`);
        if (o.secure) console.log(`secure: https from caddy's internal CA, every request with an API key checked by the key service on :${authService!.port}`);
        console.log(`load: ${o.concurrency} concurrent clients (keep-alive ${o.keepAlive ? "on" : "off"}), ${o.durationS} s or ${o.maxRequests} requests; backend latency ${o.latencyMs}-${o.latencyMs * 1.5} ms, every ${o.slowEvery}th request ${o.slowMs} ms; ${o.swaps} swaps`);
        console.log(`swap command: sh -c '${switchScript("green", routesDir)}'`);

        const agent = new (o.secure ? https.Agent : http.Agent)({ keepAlive: o.keepAlive, maxSockets: o.concurrency });
        const samples: Sample[] = [];
        const t0 = performance.now();
        const deadline = t0 + o.durationS * 1000;
        let issued = 0;
        const worker = async () => {
            while (performance.now() < deadline && issued < o.maxRequests) {
                issued++;
                const s: Sample = { start: performance.now(), end: 0, ok: false };
                let req: http.ClientRequest | undefined;
                try {
                    const r = await get(liveUrl, agent, (q) => (req = q));
                    s.ok = r.status >= 200 && r.status < 300;
                    if (s.ok) s.color = JSON.parse(r.body).slot;
                    else s.error = `HTTP ${r.status}`;
                } catch (e) {
                    s.error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
                }
                s.end = performance.now();
                s.reused = req?.reusedSocket;
                samples.push(s);
            }
        };
        const swaps: Swap[] = [];
        const swapper = async () => {
            let live: Color = "blue";
            for (let i = 1; i <= o.swaps; i++) {
                const at = t0 + (i * o.durationS * 1000) / (o.swaps + 1);
                await sleep(Math.max(0, at - performance.now()));
                if (issued >= o.maxRequests) break;
                const to = otherColor(live);
                const start = performance.now();
                const r = await flip(to, routesDir, children);
                swaps.push({ to, start, end: performance.now(), exitCode: r.code, stderr: r.stderr.trim() });
                if (r.code === 0) live = to;
            }
        };
        await Promise.all([swapper(), ...Array.from({ length: o.concurrency }, worker)]);
        const elapsed = (performance.now() - t0) / 1000;
        agent.destroy();

        // Figures.
        const failed = samples.filter((s) => !s.ok);
        const byError = new Map<string, number>();
        for (const f of failed) byError.set(f.error!, (byError.get(f.error!) ?? 0) + 1);
        const lat = samples.filter((s) => s.ok).map((s) => s.end - s.start).sort((a, b) => a - b);
        console.log("");
        console.log(`requests: ${samples.length} in ${elapsed.toFixed(1)} s (${(samples.length / elapsed).toFixed(0)}/s)`);
        const reusedFails = failed.filter((f) => f.reused).length;
        const detail = `${[...byError].map(([k, v]) => `${k}: ${v}`).join(", ")}; on reused keep-alive connections ${reusedFails}, on new connections ${failed.length - reusedFails}`;
        console.log(`failed:   ${failed.length}${failed.length ? ` (${detail})` : ""}`);
        console.log(`latency:  p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}, max ${ms(lat[lat.length - 1] ?? NaN)}`);
        console.log(`served:   blue ${samples.filter((s) => s.color === "blue").length}, green ${samples.filter((s) => s.color === "green").length} (backends counted blue ${backends.blue.served}, green ${backends.green.served}, incl. probes)`);
        console.log("");
        console.log("swap  to     command  switch*  drained** stale*** phase after swap (blue/green)");
        let bad = 0;
        swaps.forEach((w, i) => {
            const from = otherColor(w.to);
            const first = samples.filter((s) => s.color === w.to && s.end >= w.start).reduce((m, s) => Math.min(m, s.end), Infinity);
            const next = swaps[i + 1]?.start ?? Infinity;
            const drained = samples.filter((s) => s.color === from && s.start < w.start && s.end > w.start).length;
            const stale = samples.filter((s) => s.color === from && s.start > w.end && s.start < next).length;
            const phase = samples.filter((s) => s.start >= w.end && s.start < next);
            const switched = Number.isFinite(first) ? ms(first - w.start) : "never";
            if (w.exitCode !== 0 || !Number.isFinite(first) || stale > 0) bad++;
            console.log(`${String(i + 1).padEnd(5)} ${w.to.padEnd(6)} ${ms(w.end - w.start).padStart(8)} ${switched.padStart(8)} ${String(drained).padStart(9)} ${String(stale).padStart(8)} ${phase.filter((s) => s.color === "blue").length}/${phase.filter((s) => s.color === "green").length}` + (w.exitCode !== 0 ? `  switch exit ${w.exitCode}: ${w.stderr.split("\n").pop()}` : ""));
        });
        console.log("  * from switch start to the first response from the new color");
        console.log(" ** requests in flight on the old color at switch start that completed (drained)");
        console.log("*** old-color responses to requests sent after the switch command returned");
        for (const f of failed.slice(0, 10)) {
            const near = swaps.reduce((m, w) => (Math.abs(f.start - w.start) < Math.abs(f.start - m.start) ? w : m), swaps[0]);
            const rel = near ? `sent ${ms(f.start - near.start)} after switch start of swap ${swaps.indexOf(near) + 1}` : "";
            console.log(`failure: ${f.error} after ${ms(f.end - f.start)} on a ${f.reused ? "reused keep-alive" : "new"} connection; ${rel}`);
        }
        if (failed.length || bad) {
            const errors = started.log().split("\n").filter((l) => l.includes('"level":"error"'));
            console.log(`\nRESULT: ${failed.length} failed request(s), ${bad} bad swap(s); caddy logged ${errors.length} error line(s)${errors.length ? `, the last:\n${errors.slice(-3).join("\n")}` : ""}`);
            return 1;
        }
        console.log(`\nRESULT: zero failed requests across ${swaps.length} swaps`);
        return 0;
    } finally {
        await cleanup();
    }
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`bench:swap failed: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    },
);
