// The fleet hub's redis.conf (infra/service/redisConf.ts): its text pinned by
// test/golden/redis/fleet.redis.conf, then run for real: Debian's redis-server (built with TLS)
// loads the rendered file, with the certificate files in a directory whose name needs quoting, and
// the test checks what a worker host meets across the network: no plaintext listener, `default`
// off, each role's password (only its SHA-256 is in the file) logs in, FLUSHALL, CONFIG and keys
// outside the app's answer NOPERM, and the app's api and worker run a job as those users with
// nothing refused. Rewrite the golden file after an intended change with
// `UPDATE_GOLDEN=1 /work/tools/m test/tools/redisConf.test.ts`, then review the diff.
// Needs redis-server (`apt-get install -y redis-server`), openssl and `npm ci` in app/.
import * as assert from "assert";
import { createHash } from "crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { connect as tcpConnect } from "net";
import { connect as tlsConnect } from "tls";
import { tmpdir } from "os";
import * as path from "path";
import { fleetRedisConf, FleetRedisConfArgs, passwordHash } from "../../infra/service/redisConf";
import { REDIS_ROLES } from "../../app/src/redisAcl";
import { aclRules, REDIS_COMMANDS } from "../../app/src/redisAcl";
import { OllamaStandIn } from "../../app/test/helpers/ollama-stand-in";
import { makePki, TestPki } from "../../app/test/helpers/pki";
import { connectRedis, freePort, RedisServerProcess, spawnRedisServer, waitForPing } from "../../app/test/helpers/redis-server";
import { AppProcess, httpJson, spawnRole, waitHealthy, waitWorkerReady } from "../../app/test/helpers/slots";

const GOLDEN = path.join(__dirname, "..", "golden", "redis", "fleet.redis.conf");

/** The golden file's inputs: fixed, made-up passwords (the hashes in the file are theirs). */
const GOLDEN_ARGS: FleetRedisConfArgs = {
    tlsPort: 6380,
    tls: { certFile: "/tls/redis.crt", keyFile: "/tls/redis.key", caFile: "/tls/ca.crt" },
    passwords: { api: "golden-api-password-not-a-secret", worker: "golden-worker-password-not-a-secret" },
    memoryMb: 512,
    dir: "/data",
};

describe("the fleet hub's redis.conf", () => {
    describe("its text", () => {
        it("matches test/golden/redis/fleet.redis.conf byte for byte", () => {
            const text = fleetRedisConf(GOLDEN_ARGS);
            if (process.env.UPDATE_GOLDEN === "1") {
                mkdirSync(path.dirname(GOLDEN), { recursive: true });
                writeFileSync(GOLDEN, text);
            }
            assert.strictEqual(text, readFileSync(GOLDEN, "utf8"));
        });

        it("holds each password only as its SHA-256, never in plaintext", () => {
            const text = fleetRedisConf(GOLDEN_ARGS);
            for (const role of REDIS_ROLES) {
                const pw = GOLDEN_ARGS.passwords[role];
                assert.ok(!text.includes(pw), `${role}'s password in the conf`);
                const hex = createHash("sha256").update(pw).digest("hex");
                assert.strictEqual(passwordHash(pw), `#${hex}`);
                const userLine = text.split("\n").find((l) => l.startsWith(`user ${role} `));
                assert.ok(userLine, role);
                assert.ok(userLine.split(" ").includes(`#${hex}`), userLine);
                // No `>password` rule (Redis would store its hash, but the file would hold the password).
                assert.ok(!userLine.split(" ").some((w) => w.startsWith(">") || w === "nopass"), userLine);
            }
            assert.doesNotMatch(text, /requirepass|masterauth/);
        });

        it("gives each role exactly the app's ACL rules (app/src/redisAcl.ts)", () => {
            const text = fleetRedisConf(GOLDEN_ARGS);
            for (const role of REDIS_ROLES) {
                const userLine = text.split("\n").find((l) => l.startsWith(`user ${role} `))!;
                assert.deepStrictEqual(userLine.split(" "), ["user", role, "reset", "on", passwordHash(GOLDEN_ARGS.passwords[role]), ...aclRules(role)]);
            }
        });

        it("quotes a path with a space, a quote or a backslash as one argument", () => {
            const text = fleetRedisConf({ ...GOLDEN_ARGS, tls: { ...GOLDEN_ARGS.tls, certFile: '/tls dir/"x"\\y.crt' } });
            assert.ok(text.split("\n").includes('tls-cert-file "/tls dir/\\"x\\"\\\\y.crt"'), text);
        });

        it("reports every bad input at once, and never echoes a password", () => {
            assert.throws(
                () =>
                    fleetRedisConf({
                        tlsPort: 0,
                        tls: { certFile: "relative.crt", keyFile: "/k\nuser evil on nopass +@all", caFile: "/ca.crt" },
                        passwords: { api: "short-secret", worker: "" },
                        memoryMb: 8,
                        dir: "/data",
                    }),
                (err: Error) => {
                    assert.strictEqual(
                        err.message,
                        "fleetRedisConf: tlsPort must be a port (1-65535), got 0; memoryMb must be an integer of at least 32, got 8; " +
                            'certFile must be an absolute path without control characters, got "relative.crt"; ' +
                            'keyFile must be an absolute path without control characters, got "/k\\nuser evil on nopass +@all"; ' +
                            "the api password must be at least 16 characters; the worker password must be at least 16 characters",
                    );
                    assert.ok(!err.message.includes("short-secret"));
                    return true;
                },
            );
        });
    });

    describe("run by the real redis-server", function () {
        this.timeout(120_000);
        let dir: string;
        let pki: TestPki;
        let server: RedisServerProcess;
        let port: number;
        let caPem: string;
        const passwords = { api: "api-" + "a1".repeat(16), worker: "worker-" + "b2".repeat(16) };
        const adminPassword = "admin-" + "c3".repeat(16);
        const clients: ReturnType<typeof connectRedis>[] = [];
        const ollama = new OllamaStandIn();
        const procs: AppProcess[] = [];

        const tlsOptions = () => ({ tls: { ca: caPem }, maxRetriesPerRequest: 1 });
        const client = (user: string | null, password = "", extra: Record<string, unknown> = {}) => {
            const auth = user === null ? "" : `${user}:${password}@`;
            const c = connectRedis(`rediss://${auth}127.0.0.1:${port}/0`, { ...tlsOptions(), ...extra });
            clients.push(c);
            return c;
        };
        const refused = async (p: Promise<unknown>): Promise<string> => {
            const err = await p.then(() => undefined, (e: Error) => e);
            assert.ok(err, "expected a refusal, got an answer");
            return err.message;
        };

        before(async () => {
            await ollama.start();
            pki = makePki();
            caPem = pki.caPem;
            // The certificate files in a directory whose name redis-server must read as one argument.
            dir = mkdtempSync(path.join(tmpdir(), "redis conf \"test\" "));
            const tlsDir = path.join(dir, "tls files");
            mkdirSync(tlsDir);
            mkdirSync(path.join(dir, "data"));
            for (const f of ["ca.crt", "server.crt", "server.key"]) copyFileSync(path.join(pki.dir, f), path.join(tlsDir, f));
            port = await freePort();
            const conf = fleetRedisConf({
                tlsPort: port,
                tls: { certFile: path.join(tlsDir, "server.crt"), keyFile: path.join(tlsDir, "server.key"), caFile: path.join(tlsDir, "ca.crt") },
                passwords,
                memoryMb: 64,
                dir: path.join(dir, "data"),
            });
            // Test-only lines after the rendered ones (a later directive wins): loopback only, and a
            // user for the test's own inspection (CONFIG GET, ACL LOG), which the hub's Redis has not.
            const testLines = ["bind 127.0.0.1", `user admin on >${adminPassword} ~* &* +@all`, ""];
            const file = path.join(dir, "redis.conf");
            writeFileSync(file, conf + testLines.join("\n"), { mode: 0o600 });
            server = spawnRedisServer(file);
            await waitForPing(`rediss://worker:${passwords.worker}@127.0.0.1:${port}/0`, { tls: { ca: caPem } }, server.child, 10_000).catch((err) => {
                throw new Error(`${(err as Error).message}\n${server.output()}`);
            });
        });
        after(async () => {
            await Promise.all(procs.map((p) => p.stop()));
            for (const c of clients) c.disconnect();
            await server?.stop();
            await ollama.stop();
            pki?.remove();
            if (dir) rmSync(dir, { recursive: true, force: true });
        });

        it("loads the settings as rendered: no plaintext port, TLS files from a quoted path, AOF, noeviction", async () => {
            const admin = client("admin", adminPassword);
            const get = async (key: string) => ((await admin.config("GET", key)) as string[])[1];
            assert.strictEqual(await get("port"), "0");
            assert.strictEqual(await get("tls-port"), String(port));
            assert.strictEqual(await get("tls-cert-file"), path.join(dir, "tls files", "server.crt"));
            assert.strictEqual(await get("tls-auth-clients"), "no");
            assert.strictEqual(await get("appendonly"), "yes");
            assert.strictEqual(await get("maxmemory-policy"), "noeviction");
            assert.strictEqual(await get("maxmemory"), String(48 * 1024 * 1024));
        });

        it("refuses plaintext: a Redis command sent in the clear to its port gets no answer", async () => {
            const answer = await new Promise<string>((resolve) => {
                const sock = tcpConnect(port, "127.0.0.1", () => sock.write("PING\r\n"));
                let got = "";
                sock.on("data", (d) => (got += d.toString("latin1")));
                sock.on("close", () => resolve(got));
                sock.on("error", () => resolve(got));
                // Redis waits for a TLS ClientHello; no answer in 3 s is a refusal too.
                sock.setTimeout(3000, () => {
                    sock.destroy();
                    resolve(got);
                });
            });
            assert.doesNotMatch(answer, /PONG|NOAUTH|-ERR/);
        });

        it("refuses a client that does not trust the stack's CA, and serves one that does", async () => {
            const handshake = (ca?: string) =>
                new Promise<string>((resolve) => {
                    const sock = tlsConnect({ host: "127.0.0.1", port, ...(ca ? { ca } : {}) }, () => {
                        sock.end();
                        resolve("ok");
                    });
                    sock.on("error", (e) => resolve(e.message));
                });
            assert.match(await handshake(), /self[- ]signed certificate in certificate chain|unable to get local issuer certificate/);
            assert.strictEqual(await handshake(caPem), "ok");
        });

        it("keeps `default` off: no command without a user, and no login as default", async () => {
            assert.match(await refused(client(null).ping()), /^NOAUTH/);
            assert.match(await refused(client("default", "anything").ping()), /WRONGPASS/);
        });

        it("logs each role in with its password (the file has only its hash) and no other", async () => {
            for (const role of REDIS_ROLES) {
                assert.strictEqual(await client(role, passwords[role]).ping(), "PONG");
                assert.match(await refused(client(role, passwords[role] + "x").ping()), /WRONGPASS/);
            }
            assert.match(await refused(client("api", passwords.worker).ping()), /WRONGPASS/);
        });

        it("answers NOPERM to both roles for FLUSHALL, CONFIG and a key outside the app's", async () => {
            for (const role of REDIS_ROLES) {
                const c = client(role, passwords[role]);
                assert.match(await refused(c.flushall()), /^NOPERM .*'flushall' command/, role);
                assert.match(await refused(c.config("GET", "maxmemory-policy")), /^NOPERM .*'config\|get' command/, role);
                assert.match(await refused(c.config("SET", "maxmemory-policy", "allkeys-lru")), /^NOPERM .*'config\|set' command/, role);
                assert.match(await refused(c.get("other:key")), /^NOPERM .*keys/, role);
                assert.match(await refused(c.set("other:key", "1")), /^NOPERM .*keys/, role);
                assert.strictEqual(await c.set("bull:jobs-blue:conf-probe", role), "OK", role);
            }
        });

        it("grants each role exactly the app's commands, of every command this server has (ACL DRYRUN)", async () => {
            const admin = client("admin", adminPassword);
            // COMMAND: [name, arity, flags, first key, last key, step, categories, tips, key specs, subcommands].
            type Info = [string, number, unknown, unknown, unknown, unknown, unknown, unknown, unknown, Info[]];
            const all: Info[] = [];
            for (const info of (await admin.call("COMMAND")) as Info[]) {
                const subs = info[9] ?? [];
                // A container (CLIENT, CONFIG, ACL...) is granted or refused per subcommand.
                if (subs.length > 0) all.push(...subs);
                else all.push(info);
            }
            assert.ok(all.length > 300, `${all.length} commands`);
            const noAuth = all.filter((i) => (i[2] as string[]).includes("no_auth")).map((i) => i[0]);
            assert.deepStrictEqual([...noAuth].sort(), ["auth", "hello", "quit", "reset"]);
            for (const role of REDIS_ROLES) {
                const granted: string[] = [];
                await Promise.all(
                    all.map(async ([name, arity]) => {
                        const words = name.split("|");
                        // As many arguments as the command takes, each one of the role's own keys, so
                        // that only the command decides (DRYRUN checks arity first).
                        const args = [...words.slice(1), ...Array(Math.max(0, Math.abs(arity) - words.length)).fill("bull:jobs-blue:x")];
                        const answer = await admin.call("ACL", "DRYRUN", role, words[0], ...args).then(String, (e: Error) => `error: ${e.message}`);
                        if (answer === "OK") granted.push(name);
                        else assert.match(answer, /no permissions to run the '.*' command/, `${role} ${name}: ${answer}`);
                    }),
                );
                // Commands flagged no_auth (AUTH, HELLO, QUIT, RESET: they run before a user is known)
                // pass every ACL (CMD_NO_AUTH in the upstream src/server.h).
                assert.deepStrictEqual(granted.sort(), [...REDIS_COMMANDS, ...noAuth].sort(), role);
            }
        });

        it("runs a job as the app's api and worker users with nothing refused (ACL LOG empty)", async () => {
            // The earlier tests' clients with wrong passwords would retry their AUTH into the log.
            for (const c of clients.splice(0)) c.disconnect();
            const admin = client("admin", adminPassword);
            await admin.acl("LOG", "RESET");
            const caFile = path.join(dir, "tls files", "ca.crt");
            const common = { OLLAMA_MODEL: "stand-in", OLLAMA_BASE_URL: ollama.url, QUEUE_NAME: "jobs-blue", LOOKUP_QUEUES: "jobs-blue,jobs-green", APP_SLOT: "blue", APP_RELEASE: "r-conf", LOG_LEVEL: "info", REDIS_CA_FILE: caFile };
            const apiPort = await freePort();
            const url = `http://127.0.0.1:${apiPort}`;
            const api = spawnRole("api", { ...common, REDIS_URL: `rediss://api:${passwords.api}@127.0.0.1:${port}/0`, PORT: String(apiPort), HOST: "127.0.0.1" });
            const worker = spawnRole("worker", { ...common, REDIS_URL: `rediss://worker:${passwords.worker}@127.0.0.1:${port}/0`, HEARTBEAT_FILE: path.join(dir, "hb") });
            procs.push(api, worker);
            await Promise.all([waitHealthy(url, api, 60_000), waitWorkerReady(worker, 60_000)]);
            const posted = await httpJson("POST", `${url}/jobs`, { ticker: "NVDA", date: "2024-05-10" });
            assert.strictEqual(posted.status, 202, posted.text);
            const deadline = Date.now() + 30_000;
            let job: { status?: string } = {};
            while (Date.now() < deadline && job.status !== "completed" && job.status !== "failed") {
                await new Promise((r) => setTimeout(r, 200));
                job = (await httpJson("GET", `${url}/jobs/${posted.body.job_id}`)).body ?? {};
            }
            assert.strictEqual(job.status, "completed", JSON.stringify(job));
            await Promise.all([api.stop(), worker.stop()]);
            assert.strictEqual((await api.exited).code, 0, api.output().slice(-2000));
            assert.strictEqual((await worker.exited).code, 0, worker.output().slice(-2000));
            assert.deepStrictEqual(await admin.acl("LOG"), [], "Redis refused the app something");
        });
    });
});
