// The proxy's key service (auth/server.js) and the key file it reads (infra/service/apiKeys.ts):
// parsing, the constant-time compare over every digest, re-reading on change, the atomic writer,
// and the HTTP answers forward_auth copies to clients.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as auth from "../../auth/server";
import { apiKeyProblems, keyDigest, keyId, renderKeysFile, writeKeysScript } from "../../infra/service/apiKeys";
import { writeKeys } from "../helpers/caddy";
import { requireTool } from "../helpers/tools";

const KEY_A = "a".repeat(24) + "-key-A_0123456789";
const KEY_B = "B".repeat(28) + "+key/B=";
const KEY_C = "c0ffee.c0ffee~c0ffee.c0ffee~c0ffee";

function tmpdir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "auth-test-"));
}

describe("API keys", () => {
    describe("renderKeysFile and apiKeyProblems", () => {
        it("writes one sha256 hex digest per key, in order, and never the key", () => {
            const text = renderKeysFile([KEY_A, KEY_B]);
            const lines = text.trim().split("\n");
            assert.match(lines[0], /^# /);
            assert.deepStrictEqual(lines.slice(1), [keyDigest(KEY_A), keyDigest(KEY_B)]);
            assert.strictEqual(keyDigest(KEY_A), crypto.createHash("sha256").update(KEY_A).digest("hex"));
            assert.ok(!text.includes(KEY_A) && !text.includes(KEY_B));
            assert.deepStrictEqual(auth.parseKeysFile(text).map((b) => b.toString("hex")), lines.slice(1));
        });

        it("reports every bad key at once by position, never echoing a key", () => {
            const secretish = "short-secret";
            const problems = apiKeyProblems([KEY_A, secretish, "has space in it, long enough", KEY_A], "gpu-hosts:apiKeys");
            assert.deepStrictEqual(problems, [
                "gpu-hosts:apiKeys[1] must be 32-256 characters from A-Z a-z 0-9 . _ ~ + / = -, got 12 characters",
                "gpu-hosts:apiKeys[2] must be 32-256 characters from A-Z a-z 0-9 . _ ~ + / = -, got 28 characters with others",
                "gpu-hosts:apiKeys[3] repeats gpu-hosts:apiKeys[0]",
            ]);
            assert.ok(!problems.join("\n").includes(secretish));
            assert.deepStrictEqual(apiKeyProblems([]), ["API key list must hold at least one key, got none"]);
            assert.throws(() => renderKeysFile([secretish]), (e: Error) => !e.message.includes(secretish) && /API key\[0\] must be/.test(e.message));
        });

        it("names a key by a non-secret id: the first 16 hex digits of its digest", () => {
            assert.strictEqual(keyId(KEY_A), keyDigest(KEY_A).slice(0, 16));
        });
    });

    describe("host scripts", () => {
        it("writes keys from stdin (never argv) into the key service's container", () => {
            const script = writeKeysScript("local-app-proxy-auth");
            assert.strictEqual(script, "set -euo pipefail\ndocker exec -i local-app-proxy-auth node /srv/server.js write-keys\n");
            assert.throws(() => writeKeysScript("a b"), /auth container name must be a Docker name of letters, digits/);
        });

        it("shellcheck finds nothing in the key writer", function () {
            const shellcheck = requireTool("shellcheck", this);
            for (const s of [writeKeysScript("x")]) {
                const r = spawnSync(shellcheck, ["-s", "bash", "-"], { input: s, encoding: "utf8" });
                assert.strictEqual(r.status, 0, r.stdout + r.stderr);
            }
        });
    });

    describe("auth/server.js", () => {
        it("parses digests, skipping comments and blank lines, and rejects a bad line by number without quoting it", () => {
            const d = keyDigest(KEY_A);
            assert.strictEqual(auth.parseKeysFile(`# c\n\n${d}\n  \n`).length, 1);
            assert.throws(() => auth.parseKeysFile(`${d}\n${KEY_B}\n`), (e: Error) => e.message === "line 2 is not a lower-case sha256 hex digest");
            assert.throws(() => auth.parseKeysFile(d.toUpperCase()), /line 1/);
        });

        it("reads only a well-formed bearer token", () => {
            assert.strictEqual(auth.bearerToken(`Bearer ${KEY_A}`), KEY_A);
            assert.strictEqual(auth.bearerToken(`bearer  ${KEY_A} `), KEY_A);
            for (const h of [undefined, "", "Bearer", "Bearer ", `Basic ${KEY_A}`, `Bearer ${KEY_A} extra`, `Bearer\t${KEY_A}`]) {
                assert.strictEqual(auth.bearerToken(h), undefined, JSON.stringify(h));
            }
        });

        it("compares sha256(token) with timingSafeEqual against every digest, with no early exit on a match", () => {
            const digests = [KEY_A, KEY_B, KEY_C].map((k) => Buffer.from(keyDigest(k), "hex"));
            // The module object server.js calls through (the TS namespace import is read-only).
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const nodeCrypto: { timingSafeEqual: typeof crypto.timingSafeEqual } = require("crypto");
            const real = nodeCrypto.timingSafeEqual;
            const calls: number[] = [];
            nodeCrypto.timingSafeEqual = (a, b) => {
                calls.push((a as Buffer).length, (b as Buffer).length);
                return real(a, b);
            };
            try {
                for (const [token, want] of [[KEY_A, true], [KEY_C, true], ["wrong-key-of-some-length", false], ["", false]] as const) {
                    calls.length = 0;
                    assert.strictEqual(auth.tokenMatches(token, digests), want, token);
                    // Three comparisons of two 32-byte buffers each time: the first match does not stop it,
                    // and a key of any length is compared as its fixed-length digest.
                    assert.deepStrictEqual(calls, [32, 32, 32, 32, 32, 32], token);
                }
            } finally {
                nodeCrypto.timingSafeEqual = real;
            }
            assert.strictEqual(auth.tokenMatches(KEY_A, []), false);
        });

        it("re-reads the key file only when it changes, keeps the last good set on a bad file, and refuses all when it is gone", () => {
            const dir = tmpdir();
            const file = path.join(dir, "api-keys");
            const logs: string[] = [];
            try {
                const store = auth.keyStore(file, { log: (m) => logs.push(m) });
                assert.strictEqual(store.current().status, "missing");
                assert.strictEqual(auth.writeKeysFile(file, renderKeysFile([KEY_A])), 1);
                const first = store.current();
                assert.strictEqual(first.status, "ok");
                assert.strictEqual(first.digests.length, 1);
                for (let i = 0; i < 50; i++) store.current();
                assert.strictEqual(store.reads(), 1, "unchanged file is not re-read");
                auth.writeKeysFile(file, renderKeysFile([KEY_A, KEY_B]));
                assert.strictEqual(store.current().digests.length, 2);
                assert.strictEqual(store.reads(), 2);
                // A hand-edited, broken file: the previous set stays in force.
                fs.writeFileSync(file, `${KEY_C}\n`);
                const kept = store.current();
                assert.strictEqual(kept.status, "ok");
                assert.strictEqual(kept.digests.length, 2);
                assert.ok(logs.some((l) => /rejected: line 1 .* keeping the previous key set/.test(l)), logs.join("\n"));
                assert.ok(!logs.join("\n").includes(KEY_C), "the bad line is never logged");
                fs.rmSync(file);
                assert.strictEqual(store.current().status, "missing");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("installs a key file from stdin atomically with write-keys, refusing a bad or empty one", () => {
            const dir = tmpdir();
            const file = path.join(dir, "api-keys");
            try {
                const ok = writeKeys(file, renderKeysFile([KEY_A, KEY_B]));
                assert.strictEqual(ok.status, 0, ok.stderr);
                assert.strictEqual(ok.stdout, `api key file ${file} installed: 2 key(s)\n`);
                assert.strictEqual(fs.readFileSync(file, "utf8"), renderKeysFile([KEY_A, KEY_B]));
                assert.strictEqual(fs.statSync(file).mode & 0o777, 0o640);
                const bad = writeKeys(file, `${KEY_C}\n`);
                assert.strictEqual(bad.status, 1);
                assert.strictEqual(bad.stderr, "auth: line 1 is not a lower-case sha256 hex digest\n");
                const empty = writeKeys(file, "# nothing\n");
                assert.strictEqual(empty.status, 1);
                assert.match(empty.stderr, /names no key; refusing to lock every client out/);
                assert.strictEqual(fs.readFileSync(file, "utf8"), renderKeysFile([KEY_A, KEY_B]), "a refused file changes nothing");
                assert.deepStrictEqual(fs.readdirSync(dir), ["api-keys"], "no temporary file left behind");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        describe("over HTTP", () => {
            let dir: string;
            let file: string;
            let server: http.Server;
            let port: number;
            before(async () => {
                dir = tmpdir();
                file = path.join(dir, "api-keys");
                server = auth.createServer(auth.keyStore(file, { log: () => undefined }));
                await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
                port = (server.address() as net.AddressInfo).port;
            });
            after(() => {
                server.close();
                fs.rmSync(dir, { recursive: true, force: true });
            });
            const check = (authorization?: string, urlPath = "/check") => new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
                http.get({ host: "127.0.0.1", port, path: urlPath, headers: authorization === undefined ? {} : { authorization }, agent: false }, (res) => {
                    let body = "";
                    res.on("data", (c) => (body += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
                }).on("error", reject);
            });

            it("fails closed with a JSON 503 until a key file exists, while /healthz stays 200", async () => {
                const r = await check(`Bearer ${KEY_A}`);
                assert.strictEqual(r.status, 503);
                assert.deepStrictEqual(JSON.parse(r.body), { error: "Service Unavailable", message: "API keys are not provisioned on this host" });
                const h = await check(undefined, "/healthz");
                assert.deepStrictEqual([h.status, JSON.parse(h.body)], [200, { status: "ok", keys: "missing" }]);
            });

            it("answers 401 JSON with WWW-Authenticate for a missing or wrong key, 200 with the key's id for a valid one", async () => {
                auth.writeKeysFile(file, renderKeysFile([KEY_A, KEY_B]));
                const missing = await check();
                assert.strictEqual(missing.status, 401);
                assert.deepStrictEqual(JSON.parse(missing.body), { error: "Unauthorized", message: "missing or invalid API key" });
                assert.strictEqual(missing.headers["www-authenticate"], 'Bearer realm="gpu-hosts"');
                assert.strictEqual(missing.headers["content-type"], "application/json");
                const wrong = await check(`Bearer ${KEY_C}`);
                assert.strictEqual(wrong.status, 401);
                assert.deepStrictEqual(JSON.parse(wrong.body), { error: "Unauthorized", message: "missing or invalid API key" });
                assert.strictEqual(wrong.headers["www-authenticate"], 'Bearer realm="gpu-hosts", error="invalid_token"');
                const basic = await check(`Basic ${Buffer.from(`u:${KEY_A}`).toString("base64")}`);
                assert.strictEqual(basic.status, 401);
                for (const k of [KEY_A, KEY_B]) {
                    const ok = await check(`Bearer ${k}`);
                    assert.strictEqual(ok.status, 200);
                    assert.strictEqual(ok.headers["x-api-key-id"], keyId(k));
                    assert.strictEqual(ok.body, "");
                }
                const h = await check(undefined, "/healthz");
                assert.deepStrictEqual(JSON.parse(h.body), { status: "ok", keys: "ok" });
            });

            it("picks up a rotated key file on the next request: new key valid, removed key refused", async () => {
                auth.writeKeysFile(file, renderKeysFile([KEY_A, KEY_C]));
                assert.strictEqual((await check(`Bearer ${KEY_C}`)).status, 200);
                auth.writeKeysFile(file, renderKeysFile([KEY_C]));
                assert.strictEqual((await check(`Bearer ${KEY_A}`)).status, 401);
                assert.strictEqual((await check(`Bearer ${KEY_C}`)).status, 200);
            });

            it("drains on stop: new connections refused at once, idle ones closed, a check in flight answered with Connection: close", async () => {
                auth.writeKeysFile(file, renderKeysFile([KEY_A]));
                const s = auth.createServer(auth.keyStore(file, { log: () => undefined }));
                await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
                const p = (s.address() as net.AddressInfo).port;
                const connect = () => new Promise<net.Socket>((resolve, reject) => {
                    const c = net.connect(p, "127.0.0.1", () => resolve(c));
                    c.on("error", reject);
                });
                const closed = (c: net.Socket) => new Promise<void>((r) => c.once("close", () => r()));
                // An idle kept-alive connection (one check answered), and one whose check is half sent.
                const idle = await connect();
                let idleText = "";
                idle.on("data", (d) => (idleText += d));
                idle.write(`GET /check HTTP/1.1\r\nHost: auth\r\nAuthorization: Bearer ${KEY_A}\r\n\r\n`);
                while (!idleText.includes("\r\n\r\n")) await new Promise((r) => setTimeout(r, 10));
                assert.match(idleText, /^HTTP\/1\.1 200 [^]*Connection: keep-alive/i);
                const busy = await connect();
                let busyText = "";
                busy.on("data", (d) => (busyText += d));
                busy.write(`GET /check HTTP/1.1\r\nHost: auth\r\n`);
                await new Promise((r) => setTimeout(r, 50));

                const drained = auth.drain(s, 5000);
                await closed(idle);
                await assert.rejects(connect(), /ECONNREFUSED/, "the listener is closed: a new dial fails at once and Caddy tries the alias's next address");
                busy.write(`Authorization: Bearer ${KEY_A}\r\n\r\n`);
                await closed(busy);
                assert.match(busyText, /^HTTP\/1\.1 200 /);
                assert.match(busyText, /\r\nConnection: close\r\n/i);
                assert.equal(await drained, "drained");
            });

            it("answers other paths with a JSON 404", async () => {
                const r = await check(`Bearer ${KEY_C}`, "/check/../x");
                assert.strictEqual(r.status, 404);
                assert.deepStrictEqual(JSON.parse(r.body), { error: "Not Found", message: "no such endpoint" });
            });
        });
    });
});
