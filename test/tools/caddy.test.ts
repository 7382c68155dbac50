// Caddy routing: the rendered Caddyfile and switch script as text, the switch script run for real
// with sh, and both together in the real caddy binary (Debian's package) with two stand-in slots.
import * as assert from "assert";
import { execFile, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { keyId, renderKeysFile } from "../../infra/service/apiKeys";
import { defaultPublicPaths, renderCaddyfile } from "../../infra/service/caddy";
import { RouteTiming, routeScript, routedCheck, switchScript } from "../../infra/service/route";
import { isAddress } from "../../infra/validators";
import { Color } from "../../infra/vocabulary";
import { AuthProcess, CaddyProcess, freePort, startAuthService, startCaddy, writeKeys } from "../helpers/caddy";
import { requireTool } from "../helpers/tools";
import { TestPki, mintTestPki } from "../helpers/pki";

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

    describe("renderCaddyfile with TLS and API keys", () => {
        const AUTH = { upstream: "auth:9000", publicPaths: defaultPublicPaths("/health") };
        const internal = (hostname: string) => ({ mode: "internal" as const, hostname, certFile: "/etc/caddy/server.crt", keyFile: "/etc/caddy/server.key" });
        const sites = (text: string) => text.split(/\n(?=\S.*\{$)/m).slice(1);

        it("internal: HTTPS for the host's address and any name from the stack CA's files, nothing automated, no HTTP/3, served without SNI", () => {
            const text = renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: internal("203.0.113.9") });
            // auto_https off: no certificate of Caddy's own, so no CA of its own (see globalOptions).
            assert.ok(text.startsWith("{\n\tadmin localhost:2019\n\tauto_https off\n\tdefault_sni 203.0.113.9\n\tservers {\n\t\tprotocols h1 h2\n\t}\n}\n"), text);
            const [live, idle] = sites(text);
            assert.ok(live.startsWith("https://203.0.113.9:8080, https://:8080 {\n\ttls /etc/caddy/server.crt /etc/caddy/server.key\n"), live);
            assert.ok(idle.startsWith("https://203.0.113.9:8081, https://:8081 {\n\ttls /etc/caddy/server.crt /etc/caddy/server.key\n"), idle);
            assert.ok(!/tls internal|skip_install_trust/.test(text));
            assert.ok(renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: internal("2001:db8::7") }).includes("https://[2001:db8::7]:8080, https://:8080 {"));
        });

        it("acme: a public certificate for the domain over HTTP-01 only", () => {
            const text = renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: { mode: "acme", domain: "api.example.com", email: "ops@example.com" } });
            assert.match(text, /\tdefault_sni api.example.com\n/);
            assert.ok(!text.includes("skip_install_trust"));
            assert.ok(sites(text)[0].startsWith("https://api.example.com:8080, https://:8080 {\n\ttls {\n\t\tissuer acme {\n\t\t\temail ops@example.com\n\t\t\tdisable_tlsalpn_challenge\n\t\t}\n\t}\n"));
            assert.ok(!renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: { mode: "acme", domain: "api.example.com" } }).includes("email"));
        });

        it("auth: public paths go straight to the slot; everything else through forward_auth first, without the key afterwards", () => {
            const [live] = sites(renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", auth: AUTH }));
            assert.match(live, /\n\trequest_header -X-Api-Key-Id\n\t@public path \/health \/docs \/docs\/\*\n\thandle @public \{\n\t\trequest_header -Authorization\n\t\thandle @green_live \{/);
            // Pooled key checks: the pinned Caddy (2.11.6) dials each upstream by the request's own address.
            assert.ok(live.includes("\thandle {\n\t\troute {\n\t\t\tvars proxy_stage auth\n\t\t\tforward_auth auth:9000 {\n\t\t\t\turi /check\n\t\t\t\tcopy_headers X-Api-Key-Id\n" +
                "\t\t\t}\n\t\t\trequest_header -Authorization\n\t\t\tvars proxy_stage slot\n\t\t\thandle @green_live {\n\t\t\t\treverse_proxy api-green:8000 {"), live);
            // The workaround Caddy before 2.11.6 needed, for the benchmarks that measure with and without it.
            const [unpooled] = sites(renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", auth: { ...AUTH, unpooled: true } }));
            assert.ok(unpooled.includes("\t\t\t\tcopy_headers X-Api-Key-Id\n\t\t\t\ttransport http {\n\t\t\t\t\tkeepalive off\n\t\t\t\t}\n\t\t\t}\n"), unpooled);
            assert.match(live, /@auth_down vars proxy_stage auth\n\t\thandle @auth_down \{\n\t\t\trespond `\{"error":"Service Unavailable","message":"the API key check is unavailable, try again"\}` 503/);
            // The key set is not in the file: rotation never changes (or reloads) it.
            assert.strictEqual(renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", auth: AUTH }), renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", auth: { ...AUTH } }));
        });

        it("rejects hostnames, domains, e-mails, auth upstreams and public paths that would break the file", () => {
            const r = (x: object) => () => renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", ...x });
            assert.throws(r({ tls: { ...internal("203.0.113.9"), keyFile: "/etc/caddy/a key" } }), /caddy tls key file must be an absolute path without spaces, quotes or braces, got "\/etc\/caddy\/a key"/);
            assert.throws(r({ tls: { ...internal("203.0.113.9"), certFile: "server.crt" } }), /caddy tls certificate file must be an absolute path/);
            assert.throws(r({ tls: internal("1.2.3.4 {") }), /caddy tls hostname must be an IPv4 or IPv6 address or a DNS name, e.g. "203.0.113.10" or "gpu1.example.com", got "1.2.3.4 \{"/);
            assert.throws(r({ tls: { mode: "acme", domain: "localhost" } }), /caddy tls domain must be a DNS name such as "api.example.com", got "localhost"/);
            assert.throws(r({ tls: { mode: "acme", domain: "a.example.com", email: "x y@z" } }), /caddy tls email must be an email address without quotes, braces or backslashes \(one Caddyfile token\), got "x y@z"/);
            assert.throws(r({ auth: { upstream: "auth", publicPaths: ["/health"] } }), /caddy auth upstream must be host:port, got "auth"/);
            assert.throws(r({ auth: { upstream: "auth:9000", publicPaths: [] } }), /caddy auth public paths must name at least one path/);
            assert.throws(r({ auth: { upstream: "auth:9000", publicPaths: ["/a b"] } }), /caddy auth public path must be an absolute URL path, optionally ending in \*, got "\/a b"/);
        });

        it("serves internal TLS for every host address the config accepts (infra/validators.ts isAddress): a one-label name, mixed case, IPv6", () => {
            for (const hostname of ["gpubox", "GPU1.Example.com", "203.0.113.10", "2001:db8::7", "gpu1.example.com"]) {
                assert.ok(isAddress(hostname), hostname);
                assert.match(renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: internal(hostname) }), /\n\tdefault_sni /, hostname);
            }
            for (const hostname of ["1.2.3", "-bad.example.com", "a b"]) {
                assert.ok(!isAddress(hostname), hostname);
                assert.throws(() => renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", tls: internal(hostname) }), /caddy tls hostname/, hostname);
            }
        });

        it("every mode adapts and validates in the real caddy", function () {
            const bin = requireTool("caddy", this);
            const dir = tmpdir();
            try {
                // caddy validate loads the certificate files.
                const pki = mintTestPki(path.join(dir, "pki"), "203.0.113.9");
                const modes = [
                    { mode: "off" as const },
                    { mode: "internal" as const, hostname: "203.0.113.9", certFile: pki.certFile, keyFile: pki.keyFile },
                    { mode: "acme" as const, domain: "api.example.com", email: "ops@example.com" },
                ];
                for (const tls of modes) {
                    for (const auth of [undefined, AUTH]) {
                        const file = path.join(dir, "Caddyfile");
                        fs.writeFileSync(file, renderCaddyfile({ upstreams: UPSTREAMS, healthPath: "/health", routesDir: path.join(dir, "routes"), tls, auth }));
                        const v = spawnSync(bin, ["validate", "--config", file, "--adapter", "caddyfile"], {
                            encoding: "utf8", env: { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, "data"), XDG_CONFIG_HOME: path.join(dir, "config") },
                        });
                        assert.strictEqual(v.status, 0, `${tls.mode} auth=${Boolean(auth)}: ${v.stderr.split("\n").slice(-3).join("\n")}`);
                        assert.ok(!/"level":"warn".*(unrecognized|deprecated)/i.test(v.stderr), v.stderr);
                    }
                }
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
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
            assert.ok(script.includes("readonly PROXY=local-app-proxy\nreadonly LIVE=green\nreadonly HEALTH_URL=http://api-green:8000/health\nreadonly UPSTREAM=api-green:8000\n" +
                `readonly SETTLE=4\nreadonly ATTEMPTS=15\nreadonly ROUTED='${routedCheck("green")}'\nreadonly SWITCH='${switchScript("green")}'\n`), script);
            const check = script.indexOf('probe() { docker exec "$PROXY" wget -q -T 5 -O /dev/null "$HEALTH_URL"; }');
            const routed = script.indexOf('if docker exec "$PROXY" sh -c "$ROUTED"; then');
            const flip = script.indexOf('docker exec "$PROXY" sh -c "$SWITCH"');
            assert.ok(check > 0 && routed > check && flip > routed, script);
            assert.ok(!/reload|restart/.test(script), "no reload or restart");
            assert.equal(routedCheck("blue"), "[ -e /routes/routed ] && [ ! -e /routes/live-green ]");
            assert.equal(routedCheck("green"), "[ -e /routes/routed ] && [ -e /routes/live-green ]");
            assert.match(routeScript("p", "blue", "http://api-blue:8000/health", { settleSeconds: 0, attempts: 3 }), /\nreadonly SETTLE=0\nreadonly ATTEMPTS=3\n/);
        });

        it("rejects names and URLs that would need quoting", () => {
            assert.throws(() => routeScript("a;b", "blue", "http://x:1/h"), /proxy container name must be a Docker name/);
            assert.throws(() => routeScript("p", "blue", "http://x:1/h;rm"), /live health URL must be http:\/\/host:port\/path/);
            assert.throws(() => routeScript("p", "blue", "http://x:1/h", { settleSeconds: -1 }), /route settle must be 0-60 seconds, got -1/);
            assert.throws(() => routeScript("p", "blue", "http://x:1/h", { attempts: 0 }), /route attempts must be 1-100, got 0/);
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
    if [ -n "\${STUB_HEALTH_SEQ:-}" ]; then [ "$(printf %s "$STUB_HEALTH_SEQ" | cut -c"$n")" = 1 ] && exit 0
    elif [ "$n" -gt "$STUB_HEALTH_FAILS" ]; then exit 0; fi
    echo "wget: server returned error: HTTP/1.1 503 Service Unavailable" >&2; exit 1 ;;
  sh) exec sh -c "$(printf %s "$5" | sed "s#/routes#$STUB_DIR/routes#g")" ;;
esac
exit 99
`;
            const run = (live: Color, healthFails: number, markers: string[] = [], healthSeq = "", timing: RouteTiming = {}) => {
                const dir = tmpdir();
                fs.mkdirSync(path.join(dir, "routes"));
                for (const m of markers) fs.writeFileSync(path.join(dir, "routes", m), "");
                const bin = path.join(dir, "bin");
                fs.mkdirSync(bin);
                fs.writeFileSync(path.join(bin, "docker"), DOCKER, { mode: 0o755 });
                fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
                const log = path.join(dir, "docker.log");
                fs.writeFileSync(log, "");
                const r = spawnSync("bash", ["-c", routeScript("local-app-proxy", live, `http://api-${live}:8000/health`, timing)], {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, STUB_LOG: log, STUB_DIR: dir, STUB_HEALTH_FAILS: String(healthFails), STUB_HEALTH_SEQ: healthSeq },
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

            it("does not switch on a slot that answers once and then fails: it must stay healthy for one probe cycle", () => {
                // pass, (settle) fail -> retry; pass, (settle) pass -> switch.
                const r = run("green", 0, ["routed"], "1011");
                assert.strictEqual(r.status, 0, r.stderr);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"]);
                assert.strictEqual(r.calls.filter((c) => c.includes(" wget ")).length, 4);
                const flapping = run("green", 0, ["routed"], "10".repeat(15));
                assert.strictEqual(flapping.status, 1);
                assert.deepStrictEqual(flapping.markers, ["routed"], "blue stays live");
            });

            it("refuses with the failing check named and leaves the routes untouched when the slot never answers", () => {
                const r = run("blue", 1000, ["live-green", "routed"]);
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /refusing to switch live traffic to blue: health check http:\/\/api-blue:8000\/health failed; routes unchanged/);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"], "green stays live");
                // One look at the markers (green is routed, not blue), fifteen probes, no switch.
                assert.deepStrictEqual([r.calls.filter((c) => c.includes(" sh -c ")).length, r.calls.filter((c) => c.includes(" wget ")).length], [1, 15]);
            });

            it("already routed to the slot (a new proxy container, or a swap recorded after it switched): only checks it, no settle, no flip", () => {
                const r = run("green", 2, ["live-green", "routed"]);
                assert.strictEqual(r.status, 0, r.stderr);
                assert.match(r.stdout, /live traffic already served by green \(api-green:8000\)/);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"]);
                // Two failures, then a success: three probes, never two in a row for a settle, and no switch.
                assert.deepStrictEqual([r.calls.filter((c) => c.includes(" wget ")).length, r.calls.filter((c) => c.includes(" sh -c ")).length], [3, 1]);
                const sick = run("green", 1000, ["live-green", "routed"], "", { attempts: 3 });
                assert.strictEqual(sick.status, 1);
                assert.match(sick.stderr, /live traffic is routed to green, but its health check http:\/\/api-green:8000\/health fails/);
                assert.deepStrictEqual(sick.markers, ["live-green", "routed"]);
            });

            it("a swap's own run (no settle, three attempts) switches on the first good probe", () => {
                const r = run("green", 0, ["routed"], "", { settleSeconds: 0, attempts: 3 });
                assert.strictEqual(r.status, 0, r.stderr);
                assert.deepStrictEqual(r.markers, ["live-green", "routed"]);
                assert.deepStrictEqual(r.calls.map((c) => c.split(" ").slice(0, 4).join(" ")), [
                    "docker exec local-app-proxy sh", "docker exec local-app-proxy wget", "docker exec local-app-proxy sh",
                ]);
                const never = run("blue", 1000, ["live-green", "routed"], "", { settleSeconds: 0, attempts: 3 });
                assert.strictEqual(never.status, 1);
                assert.strictEqual(never.calls.filter((c) => c.includes(" wget ")).length, 3);
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
    describe("over HTTPS with API keys, in the real caddy binary", function () {
        this.timeout(30_000);
        // A public address the test machine does not have: Caddy must serve its certificate to
        // clients that send no SNI (default_sni), as in the container, where the local address is the
        // bridge IP.
        const HOST_IP = "198.51.100.7";
        const KEY = "k1-0123456789abcdefghij0123456789";
        const NEW_KEY = "k2-zyxwvutsrqponmlkjihg9876543210";
        const UNAUTHORIZED = { error: "Unauthorized", message: "missing or invalid API key" };
        let dir: string;
        let pki: TestPki;
        let caddy: CaddyProcess | undefined;
        let authService: AuthProcess | undefined;
        let keysFile: string;
        const servers: http.Server[] = [];
        let live = 0;
        let idle = 0;
        /** Requests each slot received, other than the proxy's health probes. */
        const served: Record<Color, number> = { blue: 0, green: 0 };

        const backend = async (color: Color) => {
            const server = http.createServer((req, res) => {
                let body = "";
                req.on("data", (c) => (body += c));
                req.on("end", () => {
                    if (req.headers["user-agent"] !== "Go-http-client/1.1" || req.url !== "/health") served[color]++;
                    const status = req.method === "POST" && req.url === "/jobs" ? 202 : 200;
                    res.writeHead(status, { "content-type": "application/json" });
                    // Echo what a slot would see of the caller's credentials.
                    res.end(JSON.stringify({ slot: color, path: req.url, body, keyId: req.headers["x-api-key-id"] ?? null, authorization: req.headers.authorization ?? null }));
                });
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            servers.push(server);
            return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
        };
        interface Answer { status: number; body: string; headers: http.IncomingHttpHeaders; cert?: tls.PeerCertificate }
        const call = (port: number, o: { method?: string; path?: string; key?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}) =>
            new Promise<Answer>((resolve, reject) => {
                const headers: http.OutgoingHttpHeaders = { ...(o.key ? { authorization: `Bearer ${o.key}` } : {}), ...o.headers };
                const req = https.request({
                    host: "127.0.0.1", port, method: o.method ?? "GET", path: o.path ?? "/jobs/1", headers, agent: false, ca: pki.caPem,
                    // Clients reach the host by IP: verify the certificate names that IP.
                    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(HOST_IP, cert),
                }, (res) => {
                    let body = "";
                    res.on("data", (c) => (body += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, cert: (res.socket as tls.TLSSocket).getPeerCertificate() }));
                });
                req.on("error", reject);
                req.end(o.body);
            });
        const flip = (color: Color) => {
            const r = spawnSync("sh", ["-c", switchScript(color, path.join(dir, "routes"))], { encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
        };

        before(async function () {
            const bin = requireTool("caddy", this);
            dir = tmpdir();
            // The stack CA and the host's certificate, in the profile the tls provider gives them (pki.ts).
            pki = mintTestPki(path.join(dir, "pki"), HOST_IP);
            keysFile = path.join(dir, "api-keys");
            const w = writeKeys(keysFile, renderKeysFile([KEY]));
            assert.strictEqual(w.status, 0, w.stderr);
            authService = await startAuthService(keysFile);
            [live, idle] = [await freePort(), await freePort()];
            const caddyfile = renderCaddyfile({
                upstreams: { blue: await backend("blue"), green: await backend("green") },
                healthPath: "/health", routesDir: path.join(dir, "routes"), liveListen: live, idleListen: idle,
                admin: `localhost:${await freePort()}`,
                tls: { mode: "internal", hostname: HOST_IP, certFile: pki.certFile, keyFile: pki.keyFile },
                auth: { upstream: `127.0.0.1:${authService.port}`, publicPaths: defaultPublicPaths("/health") },
            });
            fs.writeFileSync(path.join(dir, "Caddyfile"), caddyfile);
            caddy = startCaddy(bin, path.join(dir, "Caddyfile"), dir);
            for (let i = 0; ; i++) {
                try {
                    await call(live);
                    break;
                } catch (e) {
                    if (i > 100 || !caddy.running()) throw new Error(`caddy did not start: ${(e as Error).message}\n${caddy.log(20)}`);
                    await new Promise((r) => setTimeout(r, 100));
                }
            }
        });

        after(async () => {
            await caddy?.stop(2000);
            await authService?.stop(2000);
            for (const s of servers) s.close();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it("serves HTTPS on both ports with the stack CA's certificate for the host's IP, and refuses plain HTTP", async () => {
            for (const port of [live, idle]) {
                const r = await call(port, { key: KEY });
                assert.strictEqual(r.status, 503, "not routed yet");
                assert.strictEqual(r.cert?.subjectaltname, `IP Address:${HOST_IP}`);
                assert.strictEqual(r.cert?.issuer.CN, "gpu-hosts test CA");
                assert.strictEqual(r.cert?.fingerprint256, new crypto.X509Certificate(fs.readFileSync(pki.certFile)).fingerprint256, "the uploaded file, as is");
                const plain = await new Promise<string>((resolve, reject) => {
                    http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
                        let body = "";
                        res.on("data", (c) => (body += c));
                        res.on("end", () => resolve(`${res.statusCode} ${body.trim()}`));
                    }).on("error", reject);
                });
                assert.strictEqual(plain, "400 Client sent an HTTP request to an HTTPS server.");
            }
            // Caddy made no CA (nor any certificate) of its own: its data dir holds none.
            assert.ok(!fs.existsSync(path.join(dir, "data", "caddy", "pki")), "no Caddy CA");
            assert.ok(!fs.existsSync(path.join(dir, "data", "caddy", "certificates")), "no certificate Caddy issued or obtained");
        });

        it("answers 401 JSON with WWW-Authenticate without a key or with a wrong one, on both ports", async () => {
            flip("blue");
            for (const port of [live, idle]) {
                for (const [key, challenge] of [[undefined, 'Bearer realm="gpu-hosts"'], ["not-the-key-0123456789", 'Bearer realm="gpu-hosts", error="invalid_token"']]) {
                    const r = await call(port, { method: "POST", path: "/jobs", key, body: "{}" });
                    assert.strictEqual(r.status, 401, `port ${port} key ${key}`);
                    assert.deepStrictEqual(JSON.parse(r.body), UNAUTHORIZED);
                    assert.strictEqual(r.headers["www-authenticate"], challenge);
                    assert.strictEqual(r.headers["content-type"], "application/json");
                }
            }
            assert.deepStrictEqual(served, { blue: 0, green: 0 }, "no unauthenticated request reached a slot");
        });

        it("passes a valid key (202 on POST, body intact); the slot sees the key's id, never the key or a client-sent id", async () => {
            const r = await call(live, { method: "POST", path: "/jobs", key: KEY, body: '{"ticker":"ACME"}', headers: { "content-type": "application/json", "x-api-key-id": "spoofed" } });
            assert.strictEqual(r.status, 202, r.body);
            assert.deepStrictEqual(JSON.parse(r.body), { slot: "blue", path: "/jobs", body: '{"ticker":"ACME"}', keyId: keyId(KEY), authorization: null });
            const idleR = await call(idle, { key: KEY });
            assert.deepStrictEqual([idleR.status, JSON.parse(idleR.body).slot], [200, "green"]);
        });

        it("serves /health and /docs without a key, and strips a client-sent key id there too", async () => {
            for (const p of ["/health", "/docs", "/docs/json"]) {
                const r = await call(live, { path: p, headers: { "x-api-key-id": "spoofed" } });
                assert.strictEqual(r.status, 200, p);
                assert.deepStrictEqual([JSON.parse(r.body).path, JSON.parse(r.body).keyId], [p, null]);
            }
            assert.strictEqual((await call(live, { path: "/docsecret" })).status, 401);
        });

        it("asks for a key on the api's /metrics (not a public path), on both ports, and passes it with one", async () => {
            flip("blue");
            for (const port of [live, idle]) {
                const denied = await call(port, { path: "/metrics" });
                assert.strictEqual(denied.status, 401, `port ${port}`);
                assert.deepStrictEqual(JSON.parse(denied.body), UNAUTHORIZED);
                const r = await call(port, { path: "/metrics", key: KEY });
                assert.strictEqual(r.status, 200, `port ${port}`);
                assert.deepStrictEqual([JSON.parse(r.body).path, JSON.parse(r.body).keyId], ["/metrics", keyId(KEY)]);
            }
        });

        it("rotates keys by rewriting the key file: the new key works and the removed one is refused at once, with the same caddy pid", async () => {
            const pid = caddy!.child.pid;
            assert.strictEqual(writeKeys(keysFile, renderKeysFile([KEY, NEW_KEY])).status, 0);
            assert.strictEqual((await call(live, { key: NEW_KEY })).status, 200);
            assert.strictEqual(writeKeys(keysFile, renderKeysFile([NEW_KEY])).status, 0);
            assert.strictEqual((await call(live, { key: KEY })).status, 401);
            assert.strictEqual((await call(live, { key: NEW_KEY })).status, 200);
            assert.strictEqual(writeKeys(keysFile, renderKeysFile([KEY])).status, 0);
            assert.strictEqual(caddy!.child.pid, pid);
            assert.ok(caddy!.running());
        });

        it("swaps live and idle over HTTPS by the marker alone, with the same caddy process", async () => {
            const pid = caddy!.child.pid;
            const slots = async () => [JSON.parse((await call(live, { key: KEY })).body).slot, JSON.parse((await call(idle, { key: KEY })).body).slot];
            flip("blue");
            assert.deepStrictEqual(await slots(), ["blue", "green"]);
            flip("green");
            assert.deepStrictEqual(await slots(), ["green", "blue"]);
            flip("blue");
            assert.deepStrictEqual(await slots(), ["blue", "green"]);
            assert.strictEqual(caddy!.child.pid, pid);
            assert.ok(caddy!.running());
        });

        it("answers at once with a JSON 503 when the key service is down, and keeps /health open", async () => {
            await authService!.stop(2000);
            const t0 = Date.now();
            const r = await call(live, { key: KEY });
            assert.strictEqual(r.status, 503);
            assert.deepStrictEqual(JSON.parse(r.body), { error: "Service Unavailable", message: "the API key check is unavailable, try again" });
            assert.ok(Date.now() - t0 < 1000, "not held");
            assert.strictEqual((await call(live, { path: "/health" })).status, 200);
        });

        it("verifies with curl --cacert <the stack CA> for the host's IP, and fails with another CA", async function () {
            const curl = requireTool("curl", this);
            const other = mintTestPki(path.join(dir, "other"), HOST_IP, "another CA");
            fs.writeFileSync(path.join(dir, "other-ca.pem"), other.caPem);
            // Asynchronous: the stand-in slots answer from this process's event loop.
            const run = (ca: string, port: number) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
                execFile(curl, ["-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
                    // Reach the host's IP (what the certificate names) on loopback; curl sends no SNI for an IP.
                    "--resolve", `${HOST_IP}:${port}:127.0.0.1`, `https://${HOST_IP}:${port}/health`], { encoding: "utf8" },
                (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }));
            });
            fs.writeFileSync(path.join(dir, "stack-ca.pem"), pki.caPem);
            flip("blue");
            for (const port of [live, idle]) {
                const ok = await run(path.join(dir, "stack-ca.pem"), port);
                assert.deepStrictEqual([ok.status, ok.stdout], [0, "200"], ok.stderr);
                const bad = await run(path.join(dir, "other-ca.pem"), port);
                // 60: "Peer certificate cannot be authenticated with known CA certificates".
                assert.strictEqual(bad.status, 60, bad.stderr);
            }
        });

        it("is refused by Node's https with another CA, and for a name the certificate does not hold", async () => {
            const other = mintTestPki(path.join(dir, "other-node"), HOST_IP, "another CA");
            const attempt = (o: https.RequestOptions) => new Promise<string>((resolve) => {
                https.get({ host: "127.0.0.1", port: live, path: "/health", agent: false, ...o }, (res) => { res.resume(); resolve(String(res.statusCode)); })
                    .on("error", (e: NodeJS.ErrnoException) => resolve(String(e.code)));
            });
            flip("blue");
            assert.strictEqual(await attempt({ ca: pki.caPem, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(HOST_IP, cert) }), "200");
            assert.strictEqual(await attempt({ ca: other.caPem, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(HOST_IP, cert) }), "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
            // Node checks 127.0.0.1 itself: not the address the certificate names.
            assert.strictEqual(await attempt({ ca: pki.caPem }), "ERR_TLS_CERT_ALTNAME_INVALID");
        });
    });
});
