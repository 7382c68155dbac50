import { AppConfig, loadConfig } from "../../src/config";

/** A config for tests: real Redis URL, stand-in Ollama, short timers. */
export function testConfig(redisUrl: string, ollamaUrl: string, overrides: Record<string, string> = {}): AppConfig {
    return loadConfig({
        REDIS_URL: redisUrl,
        OLLAMA_BASE_URL: ollamaUrl,
        OLLAMA_MODEL: "stand-in",
        QUEUE_NAME: `test-${Math.random().toString(36).slice(2, 10)}`,
        JOB_ATTEMPTS: "3",
        JOB_BACKOFF_MS: "50",
        JOB_TIMEOUT_MS: "5000",
        WORKER_CONCURRENCY: "2",
        WORKER_LOCK_DURATION_MS: "1000",
        WORKER_STALLED_INTERVAL_MS: "500",
        REDIS_TIMEOUT_MS: "500",
        OLLAMA_HEALTH_TIMEOUT_MS: "500",
        HEARTBEAT_INTERVAL_MS: "200",
        HEARTBEAT_MAX_AGE_MS: "1000",
        OLLAMA_RETRY_BASE_MS: "50",
        OLLAMA_RETRY_MAX_MS: "200",
        APP_RELEASE: "r-test",
        APP_SLOT: "blue",
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
        ...overrides,
    });
}

/** The same settings as environment variables, for child processes. */
export function configEnv(c: AppConfig): Record<string, string> {
    return {
        REDIS_URL: c.redisUrl,
        ...(c.redisTls?.caFile ? { REDIS_CA_FILE: c.redisTls.caFile } : {}),
        OLLAMA_BASE_URL: c.ollamaBaseUrl,
        OLLAMA_MODEL: c.ollamaModel,
        QUEUE_NAME: c.queueName,
        JOB_ATTEMPTS: String(c.jobAttempts),
        JOB_BACKOFF_MS: String(c.jobBackoffMs),
        JOB_TIMEOUT_MS: String(c.jobTimeoutMs),
        WORKER_CONCURRENCY: String(c.workerConcurrency),
        WORKER_LOCK_DURATION_MS: String(c.lockDurationMs),
        WORKER_STALLED_INTERVAL_MS: String(c.stalledIntervalMs),
        WORKER_MAX_STALLED_COUNT: String(c.maxStalledCount),
        REDIS_TIMEOUT_MS: String(c.redisTimeoutMs),
        HEARTBEAT_FILE: c.heartbeatFile,
        HEARTBEAT_INTERVAL_MS: String(c.heartbeatIntervalMs),
        HEARTBEAT_MAX_AGE_MS: String(c.heartbeatMaxAgeMs),
        OLLAMA_RETRY_BASE_MS: String(c.ollamaRetryBaseMs),
        OLLAMA_RETRY_MAX_MS: String(c.ollamaRetryMaxMs),
        JOB_MAX_DEFERRALS: String(c.jobMaxDeferrals),
        QUEUE_MAX_DEPTH: String(c.queueMaxDepth),
        JOB_KEEP_COMPLETED: String(c.jobKeepCompleted),
        JOB_KEEP_FAILED: String(c.jobKeepFailed),
        LOG_LEVEL: c.logLevel,
    };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (err) {
            last = err;
        }
        await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}
