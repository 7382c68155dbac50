import assert from "node:assert/strict";
import type { AppConfig } from "../src/config";
import { Api, startApi } from "./helpers/api";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { RedisHandle, startRedis } from "./helpers/redis-server";
import { testConfig } from "./helpers/fixtures";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("api", () => {
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let api: Api;
    let config: AppConfig;

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        config = testConfig(redis.url, ollama.url);
        api = await startApi(config);
    });
    after(async () => {
        await api?.close();
        await Promise.all([redis?.stop(), ollama.stop()]);
    });
    beforeEach(() => ollama.reset());

    const post = (payload: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
        api.app.inject({ method: "POST", url: "/jobs", headers, payload: typeof payload === "string" ? payload : JSON.stringify(payload) });

    describe("POST /jobs", () => {
        it("answers 202 with a UUID job id and status pending, and the job reads back as pending", async () => {
            const res = await post({ ticker: "NVDA", date: "2024-05-10" });
            assert.equal(res.statusCode, 202, res.body);
            const body = res.json();
            assert.deepEqual(Object.keys(body).sort(), ["job_id", "status"]);
            assert.match(body.job_id, UUID);
            assert.equal(body.status, "pending");

            const got = await api.app.inject({ method: "GET", url: `/jobs/${body.job_id}` });
            assert.equal(got.statusCode, 200);
            const job = got.json();
            assert.equal(job.job_id, body.job_id);
            assert.equal(job.status, "pending");
            assert.equal(job.ticker, "NVDA");
            assert.equal(job.date, "2024-05-10");
            assert.equal(job.result, null);
            assert.equal(job.error, null);
            assert.ok(!Number.isNaN(Date.parse(job.created_at)));
            assert.equal(job.started_at, null);
            assert.equal(job.finished_at, null);
            assert.deepEqual(job.accepted_by, { slot: "blue", release: "r-test" });
            assert.equal(job.processed_by, null);
        });

        it("normalises the ticker (trim, upper-case) and accepts a leap day", async () => {
            const res = await post({ ticker: "  brk.b ", date: "2024-02-29" });
            assert.equal(res.statusCode, 202, res.body);
            const job = (await api.app.inject({ method: "GET", url: `/jobs/${res.json().job_id}` })).json();
            assert.equal(job.ticker, "BRK.B");
        });

        const badInputs: Array<[string, unknown, string, RegExp]> = [
            ["missing ticker", { date: "2024-05-10" }, "ticker", /ticker is required/],
            ["empty ticker", { ticker: "", date: "2024-05-10" }, "ticker", /ticker must be 1-10 ASCII characters/],
            ["blank ticker", { ticker: "   ", date: "2024-05-10" }, "ticker", /ticker must be/],
            ["too long ticker", { ticker: "ABCDEFGHIJK", date: "2024-05-10" }, "ticker", /got "ABCDEFGHIJK"/],
            ["ticker with a space", { ticker: "NV DA", date: "2024-05-10" }, "ticker", /ticker must be/],
            ["ticker with a symbol", { ticker: "NVDA$", date: "2024-05-10" }, "ticker", /ticker must be/],
            ["numeric ticker", { ticker: 123, date: "2024-05-10" }, "ticker", /got 123/],
            ["missing date", { ticker: "NVDA" }, "date", /date is required/],
            ["slashed date", { ticker: "NVDA", date: "2024/05/10" }, "date", /date must be a real calendar date in YYYY-MM-DD form, from 1970-01-01 to 2099-12-31, got "2024\/05\/10"/],
            ["short date", { ticker: "NVDA", date: "2024-5-10" }, "date", /date must be/],
            ["impossible date", { ticker: "NVDA", date: "2024-02-30" }, "date", /got "2024-02-30"/],
            ["not a leap year", { ticker: "NVDA", date: "2023-02-29" }, "date", /date must be/],
            ["month 13", { ticker: "NVDA", date: "2024-13-01" }, "date", /date must be/],
            ["date with time", { ticker: "NVDA", date: "2024-05-10T00:00:00Z" }, "date", /date must be/],
            ["numeric date", { ticker: "NVDA", date: 20240510 }, "date", /date must be/],
            ["unknown field", { ticker: "NVDA", date: "2024-05-10", model: "x" }, "model", /model is not a known field/],
            ["array body", [{ ticker: "NVDA" }], "body", /body must be a JSON object/],
            ["string body", "\"NVDA\"", "body", /body must be a JSON object/],
            ["malformed JSON", "{\"ticker\": ", "body", /body must be a JSON object/],
        ];
        for (const [name, payload, field, message] of badInputs) {
            it(`answers 400 naming the field for ${name}`, async () => {
                const res = await post(payload);
                assert.equal(res.statusCode, 400, res.body);
                const body = res.json();
                assert.equal(body.error, "Bad Request");
                assert.ok(body.errors.some((e: { field: string }) => e.field === field), res.body);
                assert.match(body.message, message);
            });
        }

        it("answers 400 for an empty body", async () => {
            const res = await post("");
            assert.equal(res.statusCode, 400, res.body);
            assert.equal(res.json().errors[0].field, "body");
        });

        it("names every bad field at once", async () => {
            const res = await post({ ticker: "", date: "2024-02-30", extra: 1 });
            assert.equal(res.statusCode, 400);
            assert.deepEqual(res.json().errors.map((e: { field: string }) => e.field).sort(), ["date", "extra", "ticker"]);
        });

        it("answers 413 naming the body when it exceeds 4 KiB", async () => {
            const res = await post({ ticker: "NVDA", date: "2024-05-10", pad: "x".repeat(5000) });
            assert.equal(res.statusCode, 413, res.body);
            assert.deepEqual(res.json().errors, [{ field: "body", message: "body must be at most 4096 bytes" }]);
        });

        it("answers 415 naming the body for a non-JSON content type", async () => {
            const res = await post("ticker=NVDA", { "content-type": "application/x-www-form-urlencoded" });
            assert.equal(res.statusCode, 415, res.body);
            assert.equal(res.json().errors[0].field, "body");
        });
    });

    describe("GET /jobs/{id}", () => {
        it("answers 404 JSON for an unknown job", async () => {
            const id = "00000000-0000-4000-8000-000000000000";
            const res = await api.app.inject({ method: "GET", url: `/jobs/${id}` });
            assert.equal(res.statusCode, 404);
            assert.deepEqual(res.json(), { error: "Not Found", message: `job ${id} not found`, errors: [] });
        });

        it("reads a job accepted by the other slot's api through LOOKUP_QUEUES; without it, keeps to its own queue", async () => {
            const suffix = Math.random().toString(36).slice(2, 8);
            const [blueQ, greenQ] = [`jobs-blue-${suffix}`, `jobs-green-${suffix}`];
            const lookups = `${blueQ},${greenQ}`;
            const blue = await startApi(testConfig(redis.url, ollama.url, { QUEUE_NAME: blueQ, LOOKUP_QUEUES: lookups, APP_SLOT: "blue", APP_RELEASE: "r1" }));
            const green = await startApi(testConfig(redis.url, ollama.url, { QUEUE_NAME: greenQ, LOOKUP_QUEUES: lookups, APP_SLOT: "green", APP_RELEASE: "r2" }));
            const solo = await startApi(testConfig(redis.url, ollama.url, { QUEUE_NAME: greenQ }));
            try {
                const posted = await blue.app.inject({ method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: "NVDA", date: "2024-05-10" } });
                assert.equal(posted.statusCode, 202, posted.body);
                const id = posted.json().job_id;
                assert.equal(await blue.queue.getJobCountByTypes("waiting"), 1);
                assert.equal(await green.queue.getJobCountByTypes("waiting"), 0, "the job went to the accepting slot's queue only");
                const viaGreen = await green.app.inject({ method: "GET", url: `/jobs/${id}` });
                assert.equal(viaGreen.statusCode, 200, viaGreen.body);
                assert.deepEqual(viaGreen.json().accepted_by, { slot: "blue", release: "r1" });
                assert.deepEqual(viaGreen.json(), (await blue.app.inject({ method: "GET", url: `/jobs/${id}` })).json());
                // An app without LOOKUP_QUEUES keeps today's behaviour: its own queue only.
                assert.equal((await solo.app.inject({ method: "GET", url: `/jobs/${id}` })).statusCode, 404);
            } finally {
                await Promise.all([blue.close(), green.close(), solo.close()]);
            }
        });

        it("answers 400 naming id when it is not a UUID", async () => {
            const res = await api.app.inject({ method: "GET", url: "/jobs/not-a-uuid" });
            assert.equal(res.statusCode, 400);
            assert.equal(res.json().errors[0].field, "id");
        });

        it("answers 404 JSON for an unknown route", async () => {
            const res = await api.app.inject({ method: "GET", url: "/nope" });
            assert.equal(res.statusCode, 404);
            assert.equal(res.json().error, "Not Found");
        });
    });

    describe("docs", () => {
        it("serves the OpenAPI UI as HTML at /docs", async () => {
            let res = await api.app.inject({ method: "GET", url: "/docs" });
            if (res.statusCode >= 300 && res.statusCode < 400) {
                res = await api.app.inject({ method: "GET", url: new URL(String(res.headers.location), "http://x/docs/").pathname });
            }
            assert.equal(res.statusCode, 200);
            assert.match(String(res.headers["content-type"]), /text\/html/);
            assert.match(res.body, /swagger/i);
        });

        it("serves the OpenAPI document with the job routes", async () => {
            const res = await api.app.inject({ method: "GET", url: "/docs/json" });
            assert.equal(res.statusCode, 200);
            const doc = res.json();
            assert.match(doc.openapi, /^3\./);
            assert.ok(doc.paths["/jobs"].post);
            assert.ok(doc.paths["/jobs/{id}"].get);
            assert.ok(doc.paths["/health"].get);
        });
    });

    describe("GET /health", () => {
        it("is 200 healthy with redis ok, ollama ok, release and slot", async () => {
            const res = await api.app.inject({ method: "GET", url: "/health" });
            assert.equal(res.statusCode, 200, res.body);
            const { queue_depth: depth, ...rest } = res.json();
            assert.deepEqual(rest, {
                status: "healthy", redis: "ok", ollama: "ok", generation: "unknown", accepting: true, model: "stand-in", release: "r-test", slot: "blue",
            });
            assert.equal(typeof depth, "number");
        });

        it("reports a missing model without turning unhealthy", async () => {
            ollama.models = ["other:latest"];
            const res = await api.app.inject({ method: "GET", url: "/health" });
            assert.equal(res.statusCode, 200);
            assert.equal(res.json().ollama, "model_missing");
        });

        it("reports an unreachable Ollama without turning unhealthy", async () => {
            const other = await startApi(testConfig(redis.url, "http://127.0.0.1:9", { QUEUE_NAME: config.queueName }));
            try {
                const res = await other.app.inject({ method: "GET", url: "/health" });
                assert.equal(res.statusCode, 200);
                assert.equal(res.json().ollama, "unreachable");
            } finally {
                await other.close();
            }
        });

        it("is 503 unhealthy, and POST /jobs is 503, once Redis stops", async () => {
            const doomed = await startRedis();
            const other = await startApi(testConfig(doomed.url, ollama.url));
            try {
                assert.equal((await other.app.inject({ method: "GET", url: "/health" })).statusCode, 200);
                await doomed.stop();
                const started = Date.now();
                const res = await other.app.inject({ method: "GET", url: "/health" });
                assert.equal(res.statusCode, 503, res.body);
                assert.equal(res.json().status, "unhealthy");
                assert.notEqual(res.json().redis, "ok");
                assert.equal(res.json().ollama, "ok");
                assert.ok(Date.now() - started < 2000, "the health answer must not hang on a dead Redis");
                const posted = await other.app.inject({
                    method: "POST", url: "/jobs", headers: { "content-type": "application/json" }, payload: { ticker: "NVDA", date: "2024-05-10" },
                });
                assert.equal(posted.statusCode, 503, posted.body);
                assert.deepEqual(Object.keys(posted.json()).sort(), ["error", "errors", "message"]);
                // /live only says the process serves: a proxy routing on it lets this JSON 503 through.
                const live = await other.app.inject({ method: "GET", url: "/live" });
                assert.equal(live.statusCode, 200);
                assert.deepEqual(live.json(), { status: "alive", slot: "blue", release: "r-test" });
            } finally {
                await other.close();
                await doomed.stop();
            }
        });
    });
});
