// Key-rotation-under-load benchmark: the real Caddy binary running the Caddyfile the program renders
// (HTTPS from Caddy's internal CA, forward_auth to the key service), the real key service
// (auth/server.js) and two stand-in slots, on loopback. Keys are rotated exactly as the host does it:
// `server.js write-keys` fed the rendered key file on stdin (on a host: through `docker exec -i`).
//
// Two client groups POST jobs the whole time: "stable" clients use a key that is never removed;
// "rotating" clients use the current rotating key. Each rotation adds key N+1, moves the rotating
// clients to it, waits a short grace (their last requests with key N get their answer), then
// removes key N and probes that key N is refused at once. Target: 0 failed requests with a valid key,
// 0 acceptances of a removed key, and the same caddy pid throughout (nothing reloaded).
// Run: npm run bench:rotate (or npx ts-node --transpile-only bench/rotate.ts)
//        [-- --duration 30 --concurrency 16 --rotating 4 --rotations 10 --grace 200 --latency 20 --no-keepalive --no-tls
//            --caddy PATH --unpooled-checks]
// --caddy runs that binary (default $CADDY, else caddy on PATH: Debian's 2.6.2); the pinned release is
// `bash test/e2e/standins/caddy.sh`. --unpooled-checks renders the key checks with keep-alive off, the
// workaround Caddy before 2.11.6 needed (GHSA-6365-7ppr-5r92), to measure with and without it.
// Installs nothing itself.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
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
import { Color } from "../infra/vocabulary";
import { AuthProcess, CaddyProcess, benchScaffold, caddyVersion, freePort, startAuthService, startCaddy } from "../test/helpers/caddy";
import { mintTestPki } from "../test/helpers/pki";

interface Options {
    durationS: number;
    concurrency: number;
    rotating: number;
    rotations: number;
    graceMs: number;
    latencyMs: number;
    slowEvery: number;
    slowMs: number;
    keepAlive: boolean;
    tls: boolean;
    caddy?: string;
    unpooled: boolean;
}

function parseOptions(argv: string[]): Options {
    const o: Options = { durationS: 30, concurrency: 16, rotating: 4, rotations: 10, graceMs: 200, latencyMs: 20, slowEvery: 50, slowMs: 1000, keepAlive: true, tls: true, unpooled: false };
    const num: Record<string, keyof Options> = {
        "--duration": "durationS", "--concurrency": "concurrency", "--rotating": "rotating", "--rotations": "rotations",
        "--grace": "graceMs", "--latency": "latencyMs", "--slow-every": "slowEvery", "--slow-ms": "slowMs",
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--no-keepalive") o.keepAlive = false;
        else if (a === "--no-tls") o.tls = false;
        else if (a === "--unpooled-checks") o.unpooled = true;
        else if (a === "--caddy" && argv[i + 1]) o.caddy = argv[++i];
        else if (num[a] && /^\d+$/.test(argv[i + 1] ?? "")) (o as unknown as Record<string, number>)[num[a]] = Number(argv[++i]);
        else throw new Error(`unknown or incomplete argument ${JSON.stringify(a)}; see the header of bench/rotate.ts`);
    }
    if (o.durationS > 300 || o.concurrency + o.rotating > 256 || o.rotations > 1000) throw new Error("bounded benchmark: duration <= 300 s, clients <= 256, rotations <= 1000");
    return o;
}

/** A stand-in slot api: POST /jobs answers 202 after a delay (every Nth one slow), /health 200. */
async function startSlot(color: Color, o: Options): Promise<http.Server> {
    let seq = 0;
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            const send = (status: number, payload: object) => {
                res.writeHead(status, { "content-type": "application/json" });
                res.end(JSON.stringify(payload));
            };
            if (req.url === "/health") return send(200, { status: "healthy", slot: color });
            if (req.method === "POST" && req.url === "/jobs") {
                seq++;
                const delay = seq % o.slowEvery === 0 ? o.slowMs : o.latencyMs + Math.random() * o.latencyMs * 0.5;
                setTimeout(() => send(202, { id: `${color}-${seq}`, slot: color, bytes: body.length }), delay);
                return;
            }
            send(404, { error: "Not Found", method: req.method, url: req.url, bytes: body.length });
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return server;
}

/** Exactly the host's rotation step, minus `docker exec -i <auth>`: write-keys fed on stdin. */
function installKeys(keysFile: string, keys: string[], track: Set<ChildProcess>): Promise<{ code: number | null; stderr: string; ms: number }> {
    const t0 = performance.now();
    return new Promise((resolve) => {
        const p = spawn(process.execPath, [path.join(__dirname, "..", "auth", "server.js"), "write-keys"], {
            env: { PATH: process.env.PATH ?? "", KEYS_FILE: keysFile }, stdio: ["pipe", "ignore", "pipe"],
        });
        track.add(p);
        let stderr = "";
        p.stderr!.on("data", (c) => (stderr += c));
        p.on("close", (code) => {
            track.delete(p);
            resolve({ code, stderr, ms: performance.now() - t0 });
        });
        p.stdin!.end(renderKeysFile(keys));
    });
}

interface Sample {
    group: "stable" | "rotating";
    key: string;
    start: number;
    end: number;
    status: number;
    error?: string;
    /** The answer's body, kept for failures only. */
    body?: string;
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
/** A fresh key of the generated kind (random, URL-safe). */
const newKey = (label: string) => `${label}-${crypto.randomBytes(24).toString("base64url")}`;

async function main(): Promise<number> {
    const o = parseOptions(process.argv.slice(2));
    const caddyBin = caddyVersion("bench:rotate", o.caddy);
    if ("missing" in caddyBin) {
        console.error(caddyBin.missing);
        return 2;
    }
    let caddy: CaddyProcess | undefined;
    let authService: AuthProcess | undefined;
    const { tmp, children, servers, cleanup } = benchScaffold("bench:rotate", "caddy, the key service and the slots", () => ({ caddy, auth: authService }));

    try {
        const stable = newKey("stable");
        const rotatingKeys = [newKey("rot0")];
        const keysFile = path.join(tmp, "api-keys");
        const first = await installKeys(keysFile, [stable, rotatingKeys[0]], children);
        if (first.code !== 0) throw new Error(`initial key file failed: ${first.stderr}`);
        authService = await startAuthService(keysFile);

        const blue = await startSlot("blue", o);
        const green = await startSlot("green", o);
        servers.push(blue, green);
        const port = (s: http.Server) => (s.address() as net.AddressInfo).port;
        const [liveListen, idleListen, adminPort] = [await freePort(), await freePort(), await freePort()];
        const routesDir = path.join(tmp, "routes");
        const configPath = path.join(tmp, "Caddyfile");
        const hostIp = "127.0.0.1";
        // A certificate from a stack CA, as the program's proxy serves (infra/service/pki.ts).
        const pki = o.tls ? mintTestPki(path.join(tmp, "pki"), hostIp) : undefined;
        fs.writeFileSync(configPath, renderCaddyfile({
            upstreams: { blue: `127.0.0.1:${port(blue)}`, green: `127.0.0.1:${port(green)}` },
            healthPath: "/health", routesDir, liveListen, idleListen, admin: `localhost:${adminPort}`,
            tls: pki ? { mode: "internal", hostname: hostIp, certFile: pki.certFile, keyFile: pki.keyFile } : { mode: "off" },
            auth: { upstream: `127.0.0.1:${authService.port}`, publicPaths: defaultPublicPaths("/health"), unpooled: o.unpooled },
        }));
        const routed = spawnSync("sh", ["-c", switchScript("blue", routesDir)], { encoding: "utf8" });
        if (routed.status !== 0) throw new Error(`initial switch failed: ${routed.stderr}`);
        caddy = startCaddy(caddyBin.bin, configPath, tmp);
        const started = caddy;
        const pid = started.child.pid;

        const mod = o.tls ? https : http;
        const ca = pki?.caPem;
        const agentOpts = { keepAlive: o.keepAlive, maxSockets: o.concurrency + o.rotating };
        const post = (agent: http.Agent, key: string | undefined) => new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = mod.request({
                host: "127.0.0.1", port: liveListen, method: "POST", path: "/jobs", agent, timeout: 15_000,
                headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
                ...(o.tls ? { ca, checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(hostIp, cert) } : {}),
            }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                res.on("error", reject);
            });
            req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout 15 s"), { code: "ETIMEDOUT" })));
            req.on("error", reject);
            req.end('{"ticker":"ACME","date":"2026-01-02"}');
        });

        // Wait for Caddy (and its certificate) to serve a keyed request.
        const probeAgent = new (o.tls ? https.Agent : http.Agent)({ keepAlive: false });
        for (let i = 0; ; i++) {
            if (!started.running()) throw new Error(`caddy exited with ${started.child.exitCode}:\n${started.log(15)}`);
            try {
                if ((await post(probeAgent, stable)).status === 202) break;
            } catch {
                // not up yet
            }
            if (i > 100) throw new Error(`caddy did not serve within 10 s:\n${started.log(15)}`);
            await sleep(100);
        }

        console.log(`caddy ${caddyBin.version} (${caddyBin.bin}) pid ${pid}; key checks ${o.unpooled ? "unpooled (keep-alive off)" : "pooled"}; ${o.tls ? "https (stack CA)" : "http"} :${liveListen} -> blue :${port(blue)}; key service :${authService.port} (node ${process.version})`);
        console.log(`load: ${o.concurrency} stable-key + ${o.rotating} rotating-key clients (keep-alive ${o.keepAlive ? "on" : "off"}), POST /jobs for ${o.durationS} s; slot latency ${o.latencyMs}-${o.latencyMs * 1.5} ms, every ${o.slowEvery}th ${o.slowMs} ms; ${o.rotations} rotations, grace ${o.graceMs} ms`);

        const agent = new (o.tls ? https.Agent : http.Agent)(agentOpts);
        const samples: Sample[] = [];
        const t0 = performance.now();
        const deadline = t0 + o.durationS * 1000;
        let current = rotatingKeys[0];
        const client = (group: Sample["group"]) => async () => {
            while (performance.now() < deadline) {
                const key = group === "stable" ? stable : current;
                const s: Sample = { group, key, start: performance.now(), end: 0, status: 0 };
                try {
                    const r = await post(agent, key);
                    s.status = r.status;
                    if (r.status !== 202) s.body = r.body.slice(0, 200);
                } catch (e) {
                    s.error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
                }
                s.end = performance.now();
                samples.push(s);
            }
        };
        interface Rotation { added: number; removed: number; addMs: number; removeMs: number; revokedStatus: number; errors: string[] }
        const rotations: Rotation[] = [];
        const rotator = async () => {
            for (let i = 1; i <= o.rotations; i++) {
                await sleep(Math.max(0, t0 + (i * o.durationS * 1000) / (o.rotations + 1) - performance.now()));
                if (performance.now() >= deadline) break;
                const old = current;
                const next = newKey(`rot${i}`);
                rotatingKeys.push(next);
                const errors: string[] = [];
                const add = await installKeys(keysFile, [stable, old, next], children);
                if (add.code !== 0) errors.push(`add: ${add.stderr.trim()}`);
                const added = performance.now();
                current = next;
                await sleep(o.graceMs);
                const remove = await installKeys(keysFile, [stable, next], children);
                if (remove.code !== 0) errors.push(`remove: ${remove.stderr.trim()}`);
                const removed = performance.now();
                // The removed key must be refused by the very next request.
                let revokedStatus = 0;
                try {
                    revokedStatus = (await post(probeAgent, old)).status;
                } catch (e) {
                    errors.push(`probe: ${(e as Error).message}`);
                }
                rotations.push({ added, removed, addMs: add.ms, removeMs: remove.ms, revokedStatus, errors });
            }
        };
        await Promise.all([rotator(), ...Array.from({ length: o.concurrency }, client("stable")), ...Array.from({ length: o.rotating }, client("rotating"))]);
        const elapsed = (performance.now() - t0) / 1000;
        agent.destroy();

        // A rotating-key request is "with a valid key" unless it started after its key's removal began.
        const removalStart = new Map<string, number>();
        rotations.forEach((r, i) => removalStart.set(rotatingKeys[i], r.added + o.graceMs));
        const failed = samples.filter((s) => s.status !== 202);
        const afterRemoval = failed.filter((s) => s.group === "rotating" && s.start >= (removalStart.get(s.key) ?? Infinity));
        const validFailed = failed.filter((s) => !afterRemoval.includes(s));
        const byError = new Map<string, number>();
        for (const f of validFailed) {
            const k = f.error ?? `HTTP ${f.status}`;
            byError.set(k, (byError.get(k) ?? 0) + 1);
        }
        const lat = samples.filter((s) => s.status === 202).map((s) => s.end - s.start).sort((a, b) => a - b);
        const count = (g: Sample["group"]) => samples.filter((s) => s.group === g).length;
        const stale = rotations.filter((r) => r.revokedStatus !== 401);
        const rotErrors = rotations.filter((r) => r.errors.length);
        const samePid = started.running() && started.child.pid === pid;

        console.log("");
        console.log(`requests: ${samples.length} in ${elapsed.toFixed(1)} s (${(samples.length / elapsed).toFixed(0)}/s): stable key ${count("stable")}, rotating keys ${count("rotating")}`);
        console.log(`failed with a valid key: ${validFailed.length}${validFailed.length ? ` (${[...byError].map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}`);
        console.log(`refused after their key's removal began (expected, not failures): ${afterRemoval.length}`);
        console.log(`latency:  p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}, max ${ms(lat[lat.length - 1] ?? NaN)}`);
        console.log(`rotations: ${rotations.length}; write-keys add p50 ${ms(pct(rotations.map((r) => r.addMs).sort((a, b) => a - b), 50))}, remove p50 ${ms(pct(rotations.map((r) => r.removeMs).sort((a, b) => a - b), 50))}; removed key refused (401) right after: ${rotations.length - stale.length}/${rotations.length}`);
        console.log(`caddy: ${samePid ? `same pid ${pid} throughout, never reloaded` : "EXITED OR CHANGED"}`);
        for (const f of validFailed.slice(0, 10)) console.log(`failure: ${f.group} ${f.error ?? `HTTP ${f.status}`} after ${ms(f.end - f.start)}${f.body ? `: ${f.body}` : ""}`);
        for (const r of [...stale, ...rotErrors].slice(0, 10)) console.log(`rotation problem: revoked key answered ${r.revokedStatus}; ${r.errors.join("; ")}`);
        if (validFailed.length || stale.length || rotErrors.length || !samePid || rotations.length === 0) {
            console.log(`\nRESULT: ${validFailed.length} failed request(s) with a valid key, ${stale.length} removed key(s) still accepted, ${rotErrors.length} rotation error(s)`);
            return 1;
        }
        console.log(`\nRESULT: zero failed requests with a valid key across ${rotations.length} rotations`);
        return 0;
    } finally {
        await cleanup();
    }
}

main().then(
    (code) => process.exit(code),
    (e) => {
        console.error(`bench:rotate failed: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    },
);
