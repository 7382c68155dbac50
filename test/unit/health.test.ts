// The release scripts' HTTP checks against a stand-in api on 127.0.0.1 that speaks the app's
// contract (GET /health, POST /jobs, GET /jobs/:id) with scriptable answers.
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { accessFromOutputs, checkHealth, joinUrl, smokeTest, waitForHealth } from "../../scripts/lib/health";
import * as statusFixture from "../helpers/statusFixture";
import { requireTool } from "../helpers/tools";

type Handler = (req: http.IncomingMessage, body: string) => { status: number; body?: unknown } | "hang";

/** Stand-in api: routes "METHOD /path" to a handler; records requests. */
class StandInApi {
    readonly server: http.Server;
    routes: Record<string, Handler> = {};
    seen: string[] = [];
    authorizations: (string | undefined)[] = [];
    bodies: unknown[] = [];

    constructor() {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                const key = `${req.method} ${req.url}`;
                this.seen.push(key);
                this.authorizations.push(req.headers.authorization);
                if (body) this.bodies.push(JSON.parse(body));
                const route = Object.entries(this.routes).find(([k]) => key === k || (k.endsWith("*") && key.startsWith(k.slice(0, -1))));
                const a = route ? route[1](req, body) : { status: 404, body: { error: "not found" } };
                if (a === "hang") return; // never answers; the client's timeout must fire
                res.writeHead(a.status, { "content-type": "application/json" });
                res.end(a.body === undefined ? "" : JSON.stringify(a.body));
            });
        });
    }

    async start(): Promise<string> {
        await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((r) => this.server.close(() => r()));
    }
}

/** Smoke-test timings for a stand-in that answers at once. */
const fast = { jobPollMs: 10, requestTimeoutMs: 1000 };

const HEALTHY = { status: "healthy", redis: "ok", ollama: "ok", release: "a1", slot: "green" };

describe("health checks (stand-in api on 127.0.0.1)", () => {
    let api: StandInApi;
    let base: string;
    beforeEach(async () => {
        api = new StandInApi();
        base = await api.start();
    });
    afterEach(() => api.stop());

    it("passes a healthy answer from the expected slot and release", async () => {
        api.routes["GET /health"] = () => ({ status: 200, body: HEALTHY });
        assert.deepEqual(await checkHealth(`${base}/health`, { slot: "green", release: "a1" }), { ok: true, summary: "healthy, slot green, release a1" });
    });

    it("names the failing dependency of a 503", async () => {
        api.routes["GET /health"] = () => ({ status: 503, body: { ...HEALTHY, status: "unhealthy", redis: "error: connect ECONNREFUSED 10.0.0.2:6379" } });
        const r = await checkHealth(`${base}/health`, {});
        assert.deepEqual(r, { ok: false, check: "redis", reason: `GET ${base}/health -> HTTP 503: redis: "error: connect ECONNREFUSED 10.0.0.2:6379"` });
    });

    it("names the status when a 503 carries no dependency detail", async () => {
        api.routes["GET /health"] = () => ({ status: 503, body: { error: "draining" } });
        assert.deepEqual(await checkHealth(`${base}/health`, {}), { ok: false, check: "health", reason: `GET ${base}/health -> HTTP 503: {"error":"draining"}` });
    });

    it("fails a healthy answer from the wrong slot or release", async () => {
        api.routes["GET /health"] = () => ({ status: 200, body: HEALTHY });
        assert.deepEqual(await checkHealth(`${base}/health`, { slot: "blue" }), { ok: false, check: "slot", reason: `GET ${base}/health answered from slot "green", expected "blue"` });
        assert.deepEqual(await checkHealth(`${base}/health`, { release: "b2" }), { ok: false, check: "release", reason: `GET ${base}/health answered release "a1", expected "b2"` });
    });

    it("times out on an api that never answers", async () => {
        api.routes["GET /health"] = () => "hang";
        const t0 = Date.now();
        const r = await checkHealth(`${base}/health`, {}, 200);
        assert.deepEqual(r, { ok: false, check: "health", reason: `GET ${base}/health: timed out after 200 ms` });
        assert.ok(Date.now() - t0 < 2000);
    });

    it("reports a refused connection", async () => {
        await api.stop();
        const r = await checkHealth(`${base}/health`, {}, 1000);
        assert.deepEqual(r, { ok: false, check: "health", reason: `GET ${base}/health: connection refused` });
        api = new StandInApi();
        await api.start();
    });

    it("waits until healthy, and says how long it waited when it never is", async () => {
        let n = 0;
        api.routes["GET /health"] = () => (++n < 3 ? { status: 503, body: { status: "starting" } } : { status: 200, body: HEALTHY });
        assert.equal((await waitForHealth(`${base}/health`, { slot: "green" }, 5000, 10)).ok, true);
        assert.equal(n, 3);
        api.routes["GET /health"] = () => ({ status: 503, body: { status: "starting" } });
        const r = await waitForHealth(`${base}/health`, {}, 100, 20);
        assert.deepEqual(r, { ok: false, check: "health", reason: `GET ${base}/health -> HTTP 503: {"status":"starting"} (still failing after 100 ms)` });
    });

    it("keeps a base URL's path prefix", () => {
        assert.equal(joinUrl("http://h:8080/api/", "/health"), "http://h:8080/api/health");
        assert.equal(joinUrl("http://h:8080", "jobs"), "http://h:8080/jobs");
    });
});

describe("smoke test (stand-in api on 127.0.0.1)", () => {
    let api: StandInApi;
    let base: string;
    beforeEach(async () => {
        api = new StandInApi();
        base = await api.start();
    });
    afterEach(() => api.stop());

    it("posts one real job and polls it through to completed", async () => {
        api.routes["POST /jobs"] = () => ({ status: 202, body: { job_id: "j-1", status: "pending" } });
        const states = ["pending", "running", "completed"];
        api.routes["GET /jobs/j-1"] = () => {
            const status = states.shift()!;
            return { status: 200, body: { job_id: "j-1", status, ...(status === "completed" ? { result: { summary: "NVDA up" } } : {}) } };
        };
        const r = await smokeTest(base, { ...fast, jobTimeoutMs: 5000 });
        assert.equal(r.ok, true);
        assert.match((r as { summary: string }).summary, /^job j-1 completed in \d+\.\d s$/);
        assert.deepEqual(api.bodies, [{ ticker: "NVDA", date: "2024-05-10" }]);
        assert.deepEqual(api.seen, ["POST /jobs", "GET /jobs/j-1", "GET /jobs/j-1", "GET /jobs/j-1"]);
    });

    it("fails with the job's error when it fails", async () => {
        api.routes["POST /jobs"] = () => ({ status: 202, body: { job_id: "j-2", status: "pending" } });
        api.routes["GET /jobs/j-2"] = () => ({ status: 200, body: { job_id: "j-2", status: "failed", error: "model \"llama3.2\" not found" } });
        assert.deepEqual(await smokeTest(base, fast), { ok: false, check: "job", reason: "job j-2 failed: model \"llama3.2\" not found" });
    });

    it("fails when the job is still pending at the deadline", async () => {
        api.routes["POST /jobs"] = () => ({ status: 202, body: { job_id: "j-3", status: "pending" } });
        api.routes["GET /jobs/j-3"] = () => ({ status: 200, body: { job_id: "j-3", status: "pending" } });
        assert.deepEqual(await smokeTest(base, { ...fast, jobTimeoutMs: 100 }), { ok: false, check: "job", reason: "job j-3 not completed after 100 ms (last: pending)" });
    });

    it("fails naming the submit when the api refuses the job", async () => {
        api.routes["POST /jobs"] = () => ({ status: 503, body: { error: "queue unavailable" } });
        assert.deepEqual(await smokeTest(base, fast), { ok: false, check: "job submit", reason: `POST ${base}/jobs -> HTTP 503 without a job_id: {"error":"queue unavailable"}` });
    });

    it("fails when an accepted job is unknown", async () => {
        api.routes["POST /jobs"] = () => ({ status: 202, body: { job_id: "j-4", status: "pending" } });
        const r = await smokeTest(base, fast);
        assert.deepEqual(r, { ok: false, check: "job", reason: `GET ${base}/jobs/j-4 -> 404: job j-4 was accepted but is unknown` });
    });
});

describe("release checks: the slot that processed the job, the API key, the stack's CA", () => {
    let api: StandInApi;
    let base: string;
    beforeEach(async () => {
        api = new StandInApi();
        base = await api.start();
    });
    afterEach(() => api.stop());
    const job = (processedBy: unknown) => {
        api.routes["POST /jobs"] = () => ({ status: 202, body: { job_id: "j-9", status: "pending" } });
        api.routes["GET /jobs/j-9"] = () => ({ status: 200, body: { job_id: "j-9", status: "completed", ...(processedBy === undefined ? {} : { processed_by: processedBy }) } });
    };

    it("passes a smoke job processed by the expected slot and release", async () => {
        job({ slot: "green", release: "v2" });
        const r = await smokeTest(base, { ...fast, expect: { slot: "green", release: "v2" } });
        assert.equal(r.ok, true);
        assert.match((r as { summary: string }).summary, /^job j-9 completed by slot green, release v2 in /);
    });

    it("fails a smoke job processed by another slot or release: the release proved nothing", async () => {
        job({ slot: "blue", release: "v1" });
        assert.deepEqual(await smokeTest(base, { ...fast, expect: { slot: "green", release: "v2" } }),
            { ok: false, check: "job slot", reason: 'job j-9 completed, but it was processed by slot "blue", expected "green"' });
        job({ slot: "green", release: "v1" });
        assert.deepEqual(await smokeTest(base, { ...fast, expect: { slot: "green", release: "v2" } }),
            { ok: false, check: "job slot", reason: 'job j-9 completed, but it was processed by release "v1", expected "v2"' });
    });

    it("accepts completion alone from an app that does not report processed_by", async () => {
        job(undefined);
        assert.equal((await smokeTest(base, { ...fast, expect: { slot: "green", release: "v2" } })).ok, true);
    });

    it("sends the API key as a bearer token on every request, and none without one", async () => {
        job({ slot: "green", release: "v2" });
        api.routes["GET /health"] = () => ({ status: 200, body: HEALTHY });
        await smokeTest(base, { ...fast, apiKey: "k".repeat(48) });
        await checkHealth(`${base}/health`, {}, 1000, { apiKey: "k".repeat(48) });
        assert.deepEqual([...new Set(api.authorizations)], [`Bearer ${"k".repeat(48)}`]);
        api.authorizations = [];
        await smokeTest(base, fast);
        assert.deepEqual([...new Set(api.authorizations)], [undefined]);
    });

    it("reads the key and every host's root CA from the stack outputs", () => {
        const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nMII${n}\n-----END CERTIFICATE-----\n`;
        const raw = statusFixture.outputs();
        const { aws, gcp, local } = raw.hosts as Record<string, object>;
        const outputs = (o: Record<string, unknown>) => parseStackOutputs({ ...raw, apiKey: undefined, opsApiKey: undefined, ...o });
        assert.deepEqual(accessFromOutputs(outputs({ apiKey: "s3cr3t", hosts: { aws: { ...aws, caRootCert: pem(1) }, gcp: { ...gcp, caRootCert: pem(2) }, local } })),
            { apiKey: "s3cr3t", ca: [pem(1), pem(2)] });
        assert.deepEqual(accessFromOutputs(outputs({ apiKey: "s3cr3t", opsApiKey: "0p5", hosts: { aws: { ...aws, caRootCert: pem(1) }, gcp: { ...gcp, caRootCert: pem(1) } } })),
            { apiKey: "0p5", ca: [pem(1)] }, "the scripts' own key first; each CA once");
        assert.deepEqual(accessFromOutputs(outputs({ hosts: { local } })), {});
    });

    it("trusts a host's internal CA for https, and only when given it", async function () {
        const openssl = requireTool("openssl", this);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-ca-"));
        const server = https.createServer({}, (_req, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify(HEALTHY)); });
        try {
            const gen = spawnSync(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=gpu-hosts test root", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { encoding: "utf8" });
            assert.equal(gen.status, 0, gen.stderr);
            const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
            server.setSecureContext({ key: fs.readFileSync(path.join(dir, "key.pem")), cert });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
            assert.deepEqual(await checkHealth(url, {}, 2000, { ca: [cert] }), { ok: true, summary: "healthy, slot green, release a1" });
            const untrusted = await checkHealth(url, {}, 2000);
            assert.equal(untrusted.ok, false);
            assert.match((untrusted as { reason: string }).reason, /self[- ]signed certificate/);
        } finally {
            server.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
