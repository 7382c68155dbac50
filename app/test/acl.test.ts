/**
 * The app under the ACL users a fleet hub's Redis gives it (src/redisAcl.ts), over TLS, with the
 * `default` user off: the api and the worker as real processes run the whole job flow (enqueue,
 * idempotent replay, retries, an Ollama outage and its breaker, a failed job, /metrics with the
 * event stream, /health, the Redis-backed rate limit) and Redis refuses them nothing (ACL LOG
 * stays empty), while the worker's user gets NOPERM for FLUSHALL, CONFIG, and keys outside its own.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BULLMQ_SCRIPT_COMMANDS, CLIENT_COMMANDS, REDIS_COMMANDS } from "../src/redisAcl";
import { waitFor } from "./helpers/fixtures";
import { FleetRedis, startFleetRedis } from "./helpers/fleet-redis";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { freePort } from "./helpers/redis-server";
import { AppProcess, httpJson, spawnRole, waitHealthy, waitWorkerReady } from "./helpers/slots";

describe("the app under its ACL users (TLS, default user off)", function () {
    this.timeout(180_000);
    let fleet: FleetRedis;
    const ollama = new OllamaStandIn();
    let dir: string;
    const procs: AppProcess[] = [];

    before(async () => {
        [fleet] = await Promise.all([startFleetRedis(), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-acl-"));
    });
    after(async () => {
        await Promise.all(procs.map((p) => p.stop()));
        await Promise.all([fleet?.stop(), ollama.stop()]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const common = {
        OLLAMA_MODEL: "stand-in",
        QUEUE_NAME: "jobs-blue",
        LOOKUP_QUEUES: "jobs-blue,jobs-green",
        APP_SLOT: "blue",
        APP_RELEASE: "r-acl",
        JOB_BACKOFF_MS: "50",
        OLLAMA_RETRY_BASE_MS: "50",
        OLLAMA_RETRY_MAX_MS: "200",
        HEARTBEAT_INTERVAL_MS: "200",
        HEARTBEAT_MAX_AGE_MS: "1000",
        LOG_LEVEL: "info",
    };

    it("runs the whole job flow as the api and worker users, and Redis refuses them nothing", async () => {
        const admin = fleet.admin();
        await admin.acl("LOG", "RESET");
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const api = spawnRole("api", { ...common, ...fleet.env("api"), OLLAMA_BASE_URL: ollama.url, PORT: String(port), HOST: "127.0.0.1", RATE_LIMIT_MAX: "5" });
        const worker = spawnRole("worker", { ...common, ...fleet.env("worker"), OLLAMA_BASE_URL: ollama.url, HEARTBEAT_FILE: join(dir, "hb") });
        procs.push(api, worker);
        await Promise.all([waitHealthy(url, api, 60_000), waitWorkerReady(worker, 60_000)]);

        // Each request from its own client address (X-Forwarded-For from a trusted loopback proxy),
        // so the flow's requests never meet the limit of 5 that the last step runs into.
        let client = 0;
        const from = () => ({ "x-forwarded-for": `10.1.${Math.floor(++client / 250)}.${client % 250}` });
        const post = (ticker: string, headers: Record<string, string> = {}) => httpJson("POST", `${url}/jobs`, { ticker, date: "2024-05-10" }, { ...from(), ...headers });
        const finished = (id: string) =>
            waitFor(`job ${id} to finish`, async () => {
                const r = await httpJson("GET", `${url}/jobs/${id}`, undefined, from());
                return r.body?.status === "completed" || r.body?.status === "failed" ? r.body : undefined;
            }, 60_000, 200);

        // Plain jobs, an idempotent one and its replay.
        const ids = [];
        for (const t of ["AAA", "BBB", "CCC"]) ids.push((await post(t)).body.job_id);
        const first = await post("IDEM", { "idempotency-key": "acl-test" });
        assert.equal(first.status, 202, first.text);
        const replay = await post("IDEM", { "idempotency-key": "acl-test" });
        assert.equal(replay.status, 200, replay.text);
        assert.equal(replay.body.job_id, first.body.job_id);
        for (const id of [...ids, first.body.job_id]) assert.equal((await finished(id)).status, "completed");

        // An Ollama outage (the breaker pauses the queue: worker.rateLimit, the job put back), then an
        // empty answer (an attempt spent: retried after a backoff, a delayed job).
        ollama.failNext = 2;
        const outage = (await post("OUT")).body.job_id;
        assert.deepEqual([(await finished(outage)).status, (await finished(outage)).attempts_made], ["completed", 1]);
        const normal = ollama.answer;
        let empties = 1;
        ollama.answer = (p, m) => (empties-- > 0 ? " " : normal(p, m));
        const retried = await finished((await post("RETRY")).body.job_id);
        ollama.answer = normal;
        assert.deepEqual([retried.status, retried.attempts_made], ["completed", 2]);

        // A job that fails for good: the model is gone (HTTP 404, not retried).
        ollama.models = [];
        const failed = await finished((await post("FAIL")).body.job_id);
        ollama.models = ["stand-in:latest"];
        assert.equal(failed.status, "failed");

        const health = await httpJson("GET", `${url}/health`);
        assert.equal(health.status, 200, health.text);
        assert.equal(health.body.redis, "ok");
        assert.equal(health.body.generation, "ok");
        const metrics = await waitFor("/metrics to count the finished jobs and see the worker", async () => {
            const text = (await httpJson("GET", `${url}/metrics`)).text;
            return /^gpu_hosts_jobs_completed_total\{slot="blue"\} 6$/m.test(text) && /^gpu_hosts_workers\{slot="blue"\} 1$/m.test(text) ? text : undefined;
        }, 20_000, 200);
        assert.match(metrics, /^gpu_hosts_redis_up\{slot="blue"\} 1$/m);
        assert.match(metrics, /^gpu_hosts_jobs_failed_total\{slot="blue"\} 1$/m);
        assert.match(metrics, /^gpu_hosts_ollama_errors_total\{slot="blue"\} [1-9]/m);
        assert.match(metrics, /^gpu_hosts_job_duration_seconds_count\{slot="blue"\} 7$/m, "the event stream (XREAD) saw every job finish");

        // The rate limit counts in Redis (on a NOPERM its store would let every request through).
        const limited = [];
        for (let i = 0; i < 6; i++) limited.push((await httpJson("GET", `${url}/jobs/${ids[0]}`, undefined, { "x-forwarded-for": "10.9.9.9" })).status);
        assert.deepEqual(limited, [200, 200, 200, 200, 200, 429]);
        assert.deepEqual(await admin.keys("gpu-hosts:ratelimit:*10.9.9.9*"), ["gpu-hosts:ratelimit:ip:10.9.9.9"]);

        await Promise.all([api.stop(), worker.stop()]);
        assert.equal((await api.exited).code, 0, api.output().slice(-2000));
        assert.equal((await worker.exited).code, 0, worker.output().slice(-2000));
        assert.deepEqual(await fleet.aclLog(), [], "Redis refused the app something");
        // And the users really were the app's: the server saw commands from both.
        const stats = await admin.info("commandstats");
        assert.match(stats, /^cmdstat_bzpopmin:calls=[1-9]/m);
        assert.match(stats, /^cmdstat_xread:calls=[1-9]/m);
        assert.doesNotMatch(stats, /rejected_calls=[1-9]/);
    });

    it("answers NOPERM to the worker user for FLUSHALL, CONFIG, KEYS, Pub/Sub, scripts that try, and keys outside its own", async () => {
        const worker = fleet.client("worker");
        const api = fleet.client("api");
        const refused = async (p: Promise<unknown>) => {
            const err = await p.then(() => undefined, (e: Error) => e);
            assert.ok(err, "expected NOPERM, got an answer");
            return err.message;
        };
        assert.match(await refused(worker.flushall()), /^NOPERM .*'flushall' command/);
        assert.match(await refused(worker.flushdb()), /^NOPERM .*'flushdb' command/);
        assert.match(await refused(worker.config("GET", "maxmemory")), /^NOPERM .*'config\|get' command/);
        assert.match(await refused(worker.config("SET", "maxmemory-policy", "allkeys-lru")), /^NOPERM .*'config\|set' command/);
        assert.match(await refused(worker.keys("*")), /^NOPERM .*'keys' command/);
        assert.match(await refused(worker.scan("0")), /^NOPERM .*'scan' command/);
        assert.match(await refused(worker.publish("c", "m")), /^NOPERM .*'publish' command/);
        assert.match(await refused(worker.acl("LIST")), /^NOPERM .*'acl\|list' command/);
        assert.match(await refused(worker.get("other:key")), /^NOPERM .*no permissions to access one of the keys/);
        assert.match(await refused(worker.set("gpu-hosts:ratelimit:ip:1.2.3.4", "0")), /^NOPERM .*keys/, "the api's rate-limit counters");
        assert.match(await refused(worker.set("gpu-hosts:health-write:jobs-blue", "1")), /^NOPERM .*keys/);
        // EVAL is granted, but a script runs with its caller's rights.
        assert.match(await refused(worker.eval("return redis.call('flushall')", 0)), /^ERR The user executing the script can't run this command/);
        assert.match(await refused(worker.eval("return redis.call('get', KEYS[1])", 1, "other:key")), /^NOPERM .*keys/);
        assert.match(await refused(worker.eval("return redis.call('get', 'other:key')", 0)), /^ERR The user executing the script can't access at least one of the keys/);
        // What it needs does work.
        assert.equal(await worker.set("bull:jobs-blue:probe", "1"), "OK");
        assert.equal(await worker.incr("gpu-hosts:ollama-errors:jobs-nope"), 1);
        // The api reads the worker's reports but cannot write them.
        assert.equal(await api.get("gpu-hosts:ollama-errors:jobs-nope"), "1");
        assert.match(await refused(api.set("gpu-hosts:generation:jobs-blue", "{}")), /^NOPERM .*keys/);
        assert.match(await refused(api.flushall()), /^NOPERM/);
        // Redis logged each refusal, for the operator to see who tried what.
        const logged = new Set((await fleet.aclLog()).map((e) => `${e.username} ${e.reason} ${e.object}`));
        for (const entry of ["worker command flushall", "worker command config|get", "worker command keys", "worker key other:key", "worker key gpu-hosts:ratelimit:ip:1.2.3.4", "api key gpu-hosts:generation:jobs-blue"]) {
            assert.ok(logged.has(entry), `${entry} in ${[...logged].join(", ")}`);
        }
        await fleet.admin().acl("LOG", "RESET");
    });

    it("grants every command BullMQ's installed queue scripts call, and no other script command", () => {
        const scripts = join(dirname(require.resolve("bullmq/package.json")), "dist", "cjs", "scripts");
        const literal = new Set<string>();
        const variables = new Set<string>();
        const files = readdirSync(scripts).filter((f) => f.endsWith(".js") && f !== "index.js" && !f.startsWith("relay"));
        assert.ok(files.length >= 40, `${files.length} scripts in ${scripts}`);
        for (const f of files) {
            const text = readFileSync(join(scripts, f), "utf8");
            for (const m of text.matchAll(/\b(?:rcall|redis\.p?call)\(\s*(["'])([A-Za-z]+)\1/g)) literal.add(m[2].toLowerCase());
            for (const m of text.matchAll(/\b(?:rcall|redis\.p?call)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]/g)) variables.add(m[1]);
        }
        // Commands passed in variables: the values each may hold (read in those scripts).
        const VARIABLE_VALUES: Record<string, string[]> = { pushCmd: ["lpush", "rpush"], command: ["hscan", "sscan"], countCommand: ["hlen", "scard"] };
        assert.deepEqual([...variables].sort(), Object.keys(VARIABLE_VALUES).sort(), "a script calls a command held in a new variable: add its values");
        const used = new Set([...literal, ...Object.values(VARIABLE_VALUES).flat()]);
        assert.deepEqual([...BULLMQ_SCRIPT_COMMANDS].sort(), [...used].sort());
        for (const c of [...BULLMQ_SCRIPT_COMMANDS, ...CLIENT_COMMANDS]) assert.ok(REDIS_COMMANDS.includes(c), c);
        for (const dangerous of ["flushall", "flushdb", "config", "keys", "scan", "shutdown", "debug", "acl", "module", "script", "function", "monitor", "migrate", "save", "bgsave", "replicaof", "client"]) {
            assert.ok(!REDIS_COMMANDS.includes(dangerous), dangerous);
        }
    });
});
