// Caddy routing: the rendered Caddyfile and switch script as text, the switch script run for real
// with sh, and both together in the real caddy binary (Debian's package) with two stand-in slots.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { renderCaddyfile, routeScript, switchScript } from "../components/app/caddy";
import { Color } from "../components/config";
import { CaddyProcess, freePort, startCaddy } from "./helpers/caddy";
import { requireTool } from "./helpers/tools";

const UPSTREAMS = { blue: "api-blue:8000", green: "api-green:8000" };

function tmpdir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "caddy-test-"));
}

describe("caddy routing", () => {
    describe("renderCaddyfile", () => {
        it("serves both slots from one static file, each port picking its upstream by the green marker", () => {
            const text = renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health" });
            assert.strictEqual(text, renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health" }));
            const [live, idle] = text.split(/\n(?=:\d+ \{)/).slice(1);
            assert.match(live, /^:8080 \{/);
            assert.match(idle, /^:8081 \{/);
            const unrouted = '\t@unrouted not file {\n\t\troot /routes\n\t\ttry_files /routed\n\t}\n\thandle @unrouted {\n\t\theader Content-Type application/json\n' +
                '\t\trespond `{"error":"Service Unavailable","message":"no live slot selected yet"}` 503\n\t}\n';
            const green = "\t@green_live file {\n\t\troot /routes\n\t\ttry_files /live-green\n\t}\n\trequest_header -X-Api-Key-Id\n\thandle @green_live {\n\t\treverse_proxy ";
            // In order: 503 until routed; live-green present -> green (idle: blue); otherwise blue (idle: green).
            assert.ok(live.startsWith(`:8080 {\n${unrouted}${green}api-green:8000 {`), live);
            assert.ok(idle.startsWith(`:8081 {\n${unrouted}${green}api-blue:8000 {`), idle);
            assert.match(live, /\n\thandle \{\n\t\treverse_proxy api-blue:8000 \{/);
            assert.match(idle, /\n\thandle \{\n\t\treverse_proxy api-green:8000 \{/);
            for (const site of [live, idle]) {
                assert.strictEqual(site.match(/health_uri \/health\n/g)?.length, 2);
                // Fail fast into handle_errors: nothing holds a request while a slot is down.
                assert.ok(!/lb_try_duration|lb_try_interval/.test(site), site);
            }
            assert.match(text, /^\{\n\tadmin localhost:2019\n\tauto_https off\n\}/);
            assert.ok(!/forward_auth|tls /.test(text), "no key check and no TLS unless asked");
        });

        it("answers Caddy's own errors as JSON naming the slot and port, and leaves upstream answers alone", () => {
            const text = renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health" });
            const [live, idle] = text.split(/\n(?=:\d+ \{)/).slice(1);
            const errors = (site: string) => site.slice(site.indexOf("\thandle_errors {"));
            assert.match(errors(live), /@no_healthy_slot expression `\{err.status_code\} == 503`/);
            assert.match(errors(live), /handle @green_live \{\n\t+respond `\{"error":"Service Unavailable","message":"no healthy green slot behind the live port"\}` 503/);
            assert.match(errors(live), /handle \{\n\t+respond `\{"error":"Service Unavailable","message":"no healthy blue slot behind the live port"\}` 503/);
            assert.match(errors(idle), /handle @green_live \{\n\t+respond `\{"error":"Service Unavailable","message":"no healthy blue slot behind the idle port"\}` 503/);
            assert.match(errors(live), /"the green slot behind the live port did not answer"\}` 502/);
            assert.match(errors(live), /\theader Content-Type application\/json\n/);
            // No handle_response / intercept: reverse_proxy copies the api's own responses, errors included.
            assert.ok(!/handle_response|intercept/.test(text));
        });

        it("rejects upstreams, paths and dirs that would break the file", () => {
            assert.throws(() => renderCaddyfile({ upstreams: { ...UPSTREAMS, green: "api green" }, healthPath: "/health" }),
                /caddy green upstream must be host:port, got "api green"/);
            assert.throws(() => renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "health" }), /caddy health path must be an absolute URL path/);
            assert.throws(() => renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/h", routesDir: "/a b" }), /caddy routes dir must be an absolute path/);
        });
    });

    describe("switchScript, run with sh", () => {
        const files = (dir: string) => fs.readdirSync(dir).sort();
        const sh = (script: string) => spawnSync("sh", ["-c", script], { encoding: "utf8" });

        it("marks the proxy routed, creates the green marker for green and removes it for blue, idempotently", () => {
            const dir = path.join(tmpdir(), "routes");
            try {
                assert.strictEqual(sh(switchScript("blue", dir)).status, 0);
                assert.deepStrictEqual(files(dir), ["routed"]);
                assert.strictEqual(sh(switchScript("green", dir)).status, 0);
                assert.deepStrictEqual(files(dir), ["live-green", "routed"]);
                assert.strictEqual(sh(switchScript("green", dir)).status, 0);
                assert.deepStrictEqual(files(dir), ["live-green", "routed"]);
                assert.strictEqual(sh(switchScript("blue", dir)).status, 0);
                assert.deepStrictEqual(files(dir), ["routed"]);
                assert.strictEqual(sh(switchScript("blue", dir)).status, 0);
                assert.deepStrictEqual(files(dir), ["routed"]);
            } finally {
                fs.rmSync(path.dirname(dir), { recursive: true, force: true });
            }
        });

        it("fails when the routes dir is unusable", () => {
            const base = tmpdir();
            try {
                const notADir = path.join(base, "file");
                fs.writeFileSync(notADir, "");
                for (const c of ["blue", "green"] as Color[]) {
                    assert.notStrictEqual(sh(switchScript(c, notADir)).status, 0, `switch to ${c} with a file as routes dir`);
                }
            } finally {
                fs.rmSync(base, { recursive: true, force: true });
            }
        });

        it("fits in one single-quoted sh -c argument and rejects odd dirs", () => {
            assert.ok(!switchScript("blue").includes("'"));
            assert.throws(() => switchScript("blue", "routes"), /routes dir must be an absolute path, got "routes"/);
        });
    });

    describe("routeScript", () => {
        const script = routeScript("local-app-proxy", "green", "http://api-green:8000/health");

        it("checks the new live slot from the proxy's network before flipping the marker, and never reloads", () => {
            const check = script.indexOf("docker exec local-app-proxy wget -q -T 5 -O /dev/null http://api-green:8000/health");
            const flip = script.indexOf(`docker exec local-app-proxy sh -c '${switchScript("green")}'`);
            assert.ok(check > 0 && flip > check, script);
            assert.match(script, /refusing to switch live traffic to green: health check http:\/\/api-green:8000\/health failed; routes unchanged/);
            assert.ok(!/reload|restart/.test(script), "no reload or restart");
        });

        it("rejects names and URLs that would need quoting", () => {
            assert.throws(() => routeScript("a;b", "blue", "http://x:1/h"), /proxy container name must match/);
            assert.throws(() => routeScript("p", "blue", "http://x:1/h;rm"), /live health URL must be http:\/\/host:port\/path/);
        });

        describe("run with bash against a stub docker", () => {
            // docker exec <c> wget ... answers per STUB_HEALTH (a count of failures before success);
            // docker exec <c> sh -c SCRIPT runs SCRIPT with /routes pointed into the sandbox.
            const DOCKER = `#!/bin/sh
echo "docker $*" >>"$STUB_LOG"
[ "$1" = exec ] || exit 98
case "$3" in
  wget)
    n=$(cat "$STUB_DIR/health-calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/health-calls"
    [ "$n" -gt "$STUB_HEALTH_FAILS" ] && exit 0
    echo "wget: server returned error: HTTP/1.1 503 Service Unavailable" >&2; exit 1 ;;
  sh) exec sh -c "$(printf %s "$5" | sed "s#/routes#$STUB_DIR/routes#g")" ;;
esac
exit 99
`;
            const run = (live: Color, healthFails: number, markers: string[] = []) => {
                const dir = tmpdir();
                fs.mkdirSync(path.join(dir, "routes"));
                for (const m of markers) fs.writeFileSync(path.join(dir, "routes", m), "");
                const bin = path.join(dir, "bin");
                fs.mkdirSync(bin);
                fs.writeFileSync(path.join(bin, "docker"), DOCKER, { mode: 0o755 });
                fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
                const log = path.join(dir, "docker.log");
                fs.writeFileSync(log, "");
                const r = spawnSync("bash", ["-c", routeScript("local-app-proxy", live, `http://api-${live}:8000/health`)], {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, STUB_LOG: log, STUB_DIR: dir, STUB_HEALTH_FAILS: String(healthFails) },
                });
                const after = fs.readdirSync(path.join(dir, "routes")).sort();
                const calls = fs.readFileSync(log, "utf8").trim().split("\n");
                fs.rmSync(dir, { recursive: true, force: true });
                return { ...r, markers: after, calls };
            };

            it("switches once the new live slot answers, after retrying a slot that is still starting", () => {
                const r = run("green", 3);
                assert.strictEqual(r.status, 0, r.stderr);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"]);
                // Three failures, then a success confirmed after one probe cycle (HEALTH_SETTLE_S).
                assert.strictEqual(r.calls.filter((c) => c.includes(" wget ")).length, 5);
                assert.match(r.calls[r.calls.length - 1], /^docker exec local-app-proxy sh -c /);
                assert.match(r.stdout, /live traffic now served by green \(api-green:8000\)/);
            });

            it("refuses with the failing check named and leaves the routes untouched when the slot never answers", () => {
                const r = run("blue", 1000, ["live-green", "routed"]);
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /refusing to switch live traffic to blue: health check http:\/\/api-blue:8000\/health failed; routes unchanged/);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"], "green stays live");
                assert.strictEqual(r.calls.filter((c) => c.includes(" sh -c ")).length, 0);
                assert.strictEqual(r.calls.length, 15);
            });
        });

        it("shellcheck finds nothing", function () {
            const shellcheck = requireTool("shellcheck", this);
            const r = spawnSync(shellcheck, ["-s", "bash", "-"], { input: script, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        });
    });

    describe("in the real caddy binary", function () {
        this.timeout(30_000);
        let dir: string;
        let caddy: CaddyProcess | undefined;
        const servers: http.Server[] = [];
        let live = 0;
        let idle = 0;

        // Stand-in slots: /health answers 503 while `sick` holds the color; /queue-down answers the api's
        // own 503 JSON; anything else names the slot.
        const sick = new Set<Color>();
        const QUEUE_DOWN = { error: "Service Unavailable", message: "job queue is unavailable, try again" };
        const backend = async (color: Color) => {
            const server = http.createServer((req, res) => {
                if (req.url === "/health") {
                    res.writeHead(sick.has(color) ? 503 : 200, { "content-type": "application/json" });
                    return res.end(JSON.stringify({ status: sick.has(color) ? "unhealthy" : "healthy", slot: color }));
                }
                if (req.url === "/queue-down") {
                    res.writeHead(503, { "content-type": "application/json; charset=utf-8", "retry-after": "5" });
                    return res.end(JSON.stringify(QUEUE_DOWN));
                }
                return void res.end(color);
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            servers.push(server);
            return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
        };
        const request = (port: number, urlPath = "/work") => new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; ms: number }>((resolve, reject) => {
            const t0 = Date.now();
            http.get({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
                let body = "";
                res.on("data", (c) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: Date.now() - t0 }));
            }).on("error", reject);
        });
        const get = async (port: number) => {
            const r = await request(port);
            return `${r.status} ${r.body}`;
        };

        before(async function () {
            const bin = requireTool("caddy", this);
            dir = tmpdir();
            [live, idle] = [await freePort(), await freePort()];
            const caddyfile = renderCaddyfile({
                upstreams: { blue: await backend("blue"), green: await backend("green") },
                healthPath: "/health", routesDir: path.join(dir, "routes"), liveListen: live, idleListen: idle,
                admin: `localhost:${await freePort()}`,
            });
            fs.writeFileSync(path.join(dir, "Caddyfile"), caddyfile);
            caddy = startCaddy(bin, path.join(dir, "Caddyfile"), dir);
            for (let i = 0; ; i++) {
                try {
                    await get(live);
                    break;
                } catch (e) {
                    if (i > 100 || !caddy.running()) throw new Error(`caddy did not start: ${caddy.log()}`);
                    await new Promise((r) => setTimeout(r, 100));
                }
            }
        });

        after(async () => {
            await caddy?.stop(2000);
            for (const s of servers) s.close();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        const flip = (color: Color) => {
            const r = spawnSync("sh", ["-c", switchScript(color, path.join(dir, "routes"))], { encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
        };

        it("answers 503 on both ports until a slot is made live", async () => {
            const body = '503 {"error":"Service Unavailable","message":"no live slot selected yet"}';
            assert.strictEqual(await get(live), body);
            assert.strictEqual(await get(idle), body);
        });

        it("routes by the marker, switching at once on each flip, with the same caddy process", async () => {
            const pid = caddy!.child.pid;
            flip("blue");
            assert.deepStrictEqual([await get(live), await get(idle)], ["200 blue", "200 green"]);
            flip("green");
            assert.deepStrictEqual([await get(live), await get(idle)], ["200 green", "200 blue"]);
            flip("blue");
            assert.deepStrictEqual([await get(live), await get(idle)], ["200 blue", "200 green"]);
            assert.strictEqual(caddy!.child.pid, pid);
            assert.ok(caddy!.running(), "caddy still running");
        });

        it("passes the api's own JSON errors through unchanged", async () => {
            flip("blue");
            const r = await request(live, "/queue-down");
            assert.strictEqual(r.status, 503);
            assert.deepStrictEqual(JSON.parse(r.body), QUEUE_DOWN);
            assert.strictEqual(r.headers["content-type"], "application/json; charset=utf-8");
            assert.strictEqual(r.headers["retry-after"], "5");
        });

        it("answers at once with a JSON 503 naming the slot while its /health says 503, and serves it again once healthy", async () => {
            flip("blue");
            sick.add("blue");
            try {
                // The active check (every 2 s) marks blue down; until then blue still answers itself.
                let r = await request(live);
                for (let i = 0; r.status !== 503 && i < 60; i++) {
                    await new Promise((res) => setTimeout(res, 100));
                    r = await request(live);
                }
                r = await request(live);
                assert.strictEqual(r.status, 503);
                assert.deepStrictEqual(JSON.parse(r.body), { error: "Service Unavailable", message: "no healthy blue slot behind the live port" });
                assert.strictEqual(r.headers["content-type"], "application/json");
                assert.ok(r.ms < 500, `answered in ${r.ms} ms, not held`);
                assert.strictEqual(await get(idle), "200 green", "the idle port's slot is unaffected");
            } finally {
                sick.delete("blue");
            }
            let back = await get(live);
            for (let i = 0; back !== "200 blue" && i < 60; i++) {
                await new Promise((res) => setTimeout(res, 100));
                back = await get(live);
            }
            assert.strictEqual(back, "200 blue");
        });
    });
});
