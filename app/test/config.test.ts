import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { ConfigError, loadConfig, redisTarget } from "../src/config";
import { createLogger } from "../src/logger";
import { makePki, TestPki } from "./helpers/pki";

const URL_WITH_PASSWORD = "redis://:s3cret-pass@redis:6379/0";

function problemsOf(env: Record<string, string>, opts: Parameters<typeof loadConfig>[1] = {}): readonly string[] {
    try {
        loadConfig(env, opts);
    } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.problems;
    }
    assert.fail("expected a ConfigError");
}

describe("config", () => {
    it("applies the documented defaults", () => {
        const c = loadConfig({ REDIS_URL: URL_WITH_PASSWORD });
        assert.equal(c.port, 8000);
        assert.equal(c.queueName, "jobs");
        assert.equal(c.ollamaBaseUrl, "http://ollama:11434");
        assert.equal(c.jobAttempts, 3);
        assert.equal(c.jobTimeoutMs, 300_000);
        assert.equal(c.workerConcurrency, 2);
        assert.equal(c.release, null);
        assert.equal(c.slot, null);
        assert.deepEqual(c.lookupQueues, ["jobs"]);
        assert.equal(c.queueMaxDepth, 10_000);
        assert.equal(c.jobKeepCompleted, 5000);
        assert.equal(c.jobKeepFailed, 5000);
        assert.equal(c.rateLimitMax, 600);
        assert.equal(c.rateLimitWindowMs, 60_000);
        assert.equal(c.requestTimeoutMs, 10_000);
        assert.equal(c.keepAliveTimeoutMs, 130_000);
        assert.equal(c.ollamaRetryBaseMs, 1000);
        assert.equal(c.ollamaRetryMaxMs, 30_000);
        assert.equal(c.jobMaxDeferrals, 1000);
        // A killed worker's job is back in the queue within lockDuration + stalledInterval = 25 s.
        assert.equal(c.lockDurationMs, 20_000);
        assert.equal(c.stalledIntervalMs, 5000);
        assert.equal(c.maxStalledCount, 2);
    });

    it("looks jobs up in LOOKUP_QUEUES, own queue first and always included", () => {
        const c = loadConfig({ REDIS_URL: URL_WITH_PASSWORD, QUEUE_NAME: "jobs-green", LOOKUP_QUEUES: "jobs-blue, jobs-green" });
        assert.deepEqual(c.lookupQueues, ["jobs-green", "jobs-blue"]);
        assert.deepEqual(loadConfig({ REDIS_URL: URL_WITH_PASSWORD, QUEUE_NAME: "a", LOOKUP_QUEUES: "b" }).lookupQueues, ["a", "b"]);
        assert.match(problemsOf({ REDIS_URL: URL_WITH_PASSWORD, LOOKUP_QUEUES: "jobs-blue,bad name" }).join(), /LOOKUP_QUEUES must be .*"bad name"/);
    });

    it("names the key, the bad value and what is allowed", () => {
        assert.deepEqual(problemsOf({ REDIS_URL: URL_WITH_PASSWORD, WORKER_CONCURRENCY: "abc" }), [
            'WORKER_CONCURRENCY must be an integer from 1 to 64, got "abc"',
        ]);
    });

    it("reports every problem at once", () => {
        const problems = problemsOf({ WORKER_CONCURRENCY: "0", PORT: "80a", JOB_ATTEMPTS: "-1", OLLAMA_BASE_URL: "ollama:11434", LOG_LEVEL: "loud" });
        assert.equal(problems.length, 6, problems.join("\n"));
        assert.match(problems.join("\n"), /REDIS_URL is required/);
        assert.match(problems.join("\n"), /OLLAMA_BASE_URL must be an http:\/\/ or https:\/\/ URL, got "ollama:11434"/);
    });

    it("never echoes REDIS_URL, which holds the password", () => {
        const [problem] = problemsOf({ REDIS_URL: "http://:s3cret-pass@redis:6379" });
        assert.match(problem, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
        assert.doesNotMatch(problem, /s3cret/);
        assert.equal(redisTarget(URL_WITH_PASSWORD), "redis://redis:6379/0");
    });

    it("logs JSON lines and redacts a REDIS_URL passed by mistake", () => {
        const lines: string[] = [];
        const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
        const logger = createLogger({ logLevel: "info", release: "r1", slot: "green" }, "api", sink);
        logger.info({ redisUrl: URL_WITH_PASSWORD, config: { redisUrl: URL_WITH_PASSWORD } }, "hello");
        const line = JSON.parse(lines[0]);
        assert.equal(line.msg, "hello");
        assert.equal(line.level, "info");
        assert.equal(line.role, "api");
        assert.equal(line.slot, "green");
        assert.doesNotMatch(lines[0], /s3cret/);
    });

    describe("TLS to Redis", () => {
        const TLS_URL = "rediss://worker:s3cret-pass@hub.example:6380/0";
        let pki: TestPki;
        before(() => {
            pki = makePki();
        });
        after(() => pki?.remove());

        it("speaks plaintext to a redis:// URL and TLS to a rediss:// one (any case), with Node's public CAs unless REDIS_CA_FILE names others", () => {
            assert.equal(loadConfig({ REDIS_URL: URL_WITH_PASSWORD }).redisTls, null);
            assert.deepEqual(loadConfig({ REDIS_URL: TLS_URL }).redisTls, { ca: null, caFile: null });
            assert.deepEqual(loadConfig({ REDIS_URL: "REDISS://:p@hub:6380" }).redisTls, { ca: null, caFile: null });
            assert.deepEqual(loadConfig({ REDIS_URL: TLS_URL, REDIS_CA_FILE: ` ${pki.caFile} ` }).redisTls, { ca: pki.caPem, caFile: pki.caFile });
        });

        it("names REDIS_CA_FILE, its path and what it must hold; never the URL", () => {
            const keyOnly = problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: pki.keyFile });
            assert.deepEqual(keyOnly, [
                `REDIS_CA_FILE must hold PEM CA certificates (-----BEGIN CERTIFICATE-----) and nothing secret, got ${JSON.stringify(pki.keyFile)} (it holds a private key)`,
            ]);
            assert.deepEqual(problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: pki.certFile }), [
                `REDIS_CA_FILE must hold PEM CA certificates (-----BEGIN CERTIFICATE-----) and nothing secret, got ${JSON.stringify(pki.certFile)} (certificate 1 (CN=redis) is not a CA certificate)`,
            ]);
            assert.deepEqual(problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: "/nonexistent/ca.pem" }), [
                'REDIS_CA_FILE must be a readable file of PEM CA certificates, got "/nonexistent/ca.pem" (ENOENT)',
            ]);
            const read = { readFile: () => "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n" };
            assert.match(problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: "/ca.pem" }, read)[0], /^REDIS_CA_FILE must hold PEM CA certificates .*got "\/ca.pem" \(certificate 1 does not parse: /);
            assert.deepEqual(problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: "/empty.pem" }, { readFile: () => "" }), [
                'REDIS_CA_FILE must hold PEM CA certificates (-----BEGIN CERTIFICATE-----) and nothing secret, got "/empty.pem" (no certificate in it)',
            ]);
            const plaintext = problemsOf({ REDIS_URL: URL_WITH_PASSWORD, REDIS_CA_FILE: pki.caFile });
            assert.deepEqual(plaintext, [
                `REDIS_CA_FILE is set (${JSON.stringify(pki.caFile)}) but REDIS_URL is not a rediss:// URL: the CA verifies a TLS connection only; use rediss:// or unset REDIS_CA_FILE`,
            ]);
            for (const p of [...keyOnly, ...plaintext]) assert.doesNotMatch(p, /s3cret/);
        });

        it("reads every certificate of a bundle, and reports CA problems with the others at once", () => {
            const other = makePki("another CA");
            try {
                const bundle = `${pki.caPem}${other.caPem}`;
                assert.equal(loadConfig({ REDIS_URL: TLS_URL, REDIS_CA_FILE: "/bundle.pem" }, { readFile: () => bundle }).redisTls?.ca, bundle);
                const problems = problemsOf({ REDIS_URL: TLS_URL, REDIS_CA_FILE: pki.keyFile, WORKER_CONCURRENCY: "0" });
                assert.equal(problems.length, 2, problems.join("\n"));
            } finally {
                other.remove();
            }
        });

        it("leaves REDIS_CA_FILE unread for the container health check, which needs no Redis", () => {
            const c = loadConfig({ REDIS_CA_FILE: "/nonexistent/ca.pem" }, { requireRedisUrl: false, readFile: () => assert.fail("read") });
            assert.equal(c.redisTls, null);
        });
    });
});
