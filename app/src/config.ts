/**
 * All environment parsing for both roles lives here, so a bad value fails at start-up with one
 * message that lists every problem, instead of surfacing later as NaN or a silent default.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

export type Env = Readonly<Record<string, string | undefined>>;

export interface AppConfig {
    /** HTTP port of the api. Env PORT. Defaults to 8000. */
    readonly port: number;
    /** Address the api binds. Env HOST. Defaults to 0.0.0.0. */
    readonly host: string;
    /**
     * Full Redis URL with the ACL user and password (or only a password, for the default user); the
     * only way to reach Redis. rediss:// speaks TLS and verifies the server. Env REDIS_URL. Required.
     * Never log it.
     */
    readonly redisUrl: string;
    /**
     * TLS to Redis: null for a redis:// URL (plaintext, for a Redis on the host's private Docker
     * network), else what verifies the server's certificate. Every connection the app opens uses it
     * (src/connection.ts).
     */
    readonly redisTls: RedisTls | null;
    /**
     * BullMQ queue this process works on: the api enqueues into it, the worker consumes only it.
     * Env QUEUE_NAME. Defaults to "jobs". The program gives each slot its own (jobs-blue, jobs-green).
     */
    readonly queueName: string;
    /**
     * Queues GET /jobs/{id} looks a job up in, own queue first. Env LOOKUP_QUEUES (comma-separated).
     * Defaults to [queueName]; the own queue is always included.
     */
    readonly lookupQueues: readonly string[];
    /** Ollama server. Env OLLAMA_BASE_URL. Defaults to http://ollama:11434. */
    readonly ollamaBaseUrl: string;
    /** Model asked for each analysis. Env OLLAMA_MODEL. Defaults to qwen2.5:0.5b. */
    readonly ollamaModel: string;
    /** Attempts per job, the first included. Env JOB_ATTEMPTS. Defaults to 3. */
    readonly jobAttempts: number;
    /** First retry delay; doubles each retry. Env JOB_BACKOFF_MS. Defaults to 5000. */
    readonly jobBackoffMs: number;
    /** Time limit of one attempt; the Ollama request is aborted when it passes. Env JOB_TIMEOUT_MS. Defaults to 300000. */
    readonly jobTimeoutMs: number;
    /** How long finished jobs stay queryable. Env JOB_RETENTION_SECONDS. Defaults to 604800 (7 days). */
    readonly jobRetentionSeconds: number;
    /** Jobs one worker runs at once. Env WORKER_CONCURRENCY. Defaults to 2. */
    readonly workerConcurrency: number;
    /**
     * Job lock time-to-live. The worker renews each running job's lock every quarter to half of it
     * (BullMQ's LockManager: a timer every lockDuration/4, a job renewed when its last renewal is
     * older than that), so a killed worker's jobs are free again at most this long after its last
     * renewal. Shorter recovers a killed worker's jobs sooner but tolerates a shorter stall of a live
     * worker (an event loop blocked, or Redis out of reach, for more than half of it): its jobs are
     * then taken as stalled and run a second time (the first run's result is refused). Env
     * WORKER_LOCK_DURATION_MS. Defaults to 20000: back within 25 s of a kill with the interval below.
     */
    readonly lockDurationMs: number;
    /**
     * How often workers look for stalled jobs (one Lua script over the queue's active jobs per
     * interval, whichever worker of the queue runs it first). A job whose lock is gone is moved back
     * at the first check after it expired: up to lockDuration + this after a kill. Env
     * WORKER_STALLED_INTERVAL_MS. Defaults to 5000.
     */
    readonly stalledIntervalMs: number;
    /**
     * Stalls a job survives before it is failed ("job stalled more than allowable limit"). Stalls in a
     * fleet come from hosts (a spot VM reclaimed, a host lost, cut off from the hub), not from the job
     * (the work runs in Ollama, not in the worker), so a job survives two. Env WORKER_MAX_STALLED_COUNT.
     * Defaults to 2.
     */
    readonly maxStalledCount: number;
    /** File the worker touches while healthy. Env HEARTBEAT_FILE. Defaults to /tmp/worker-heartbeat. */
    readonly heartbeatFile: string;
    /** How often the worker touches the heartbeat file. Env HEARTBEAT_INTERVAL_MS. Defaults to 5000. */
    readonly heartbeatIntervalMs: number;
    /** Age after which the heartbeat counts as stale. Env HEARTBEAT_MAX_AGE_MS. Defaults to 30000. */
    readonly heartbeatMaxAgeMs: number;
    /** Budget of one Redis health ping or api queue call. Env REDIS_TIMEOUT_MS. Defaults to 2000. */
    readonly redisTimeoutMs: number;
    /** Budget of the Ollama probe in /health. Env OLLAMA_HEALTH_TIMEOUT_MS. Defaults to 2000. */
    readonly ollamaHealthTimeoutMs: number;
    /** Release label reported by /health and in logs. Env APP_RELEASE. Defaults to null. */
    readonly release: string | null;
    /** Slot label (blue|green) reported by /health and in logs. Env APP_SLOT. Defaults to null. */
    readonly slot: string | null;
    /** The host this process runs on, as the stack names it (a fleet's worker hosts set it); stamped on the jobs it processes. Env APP_HOST. Defaults to null. */
    readonly hostName: string | null;
    /** Finished (completed) jobs kept per queue, newest first, on top of the age limit. Env JOB_KEEP_COMPLETED. Defaults to 5000. */
    readonly jobKeepCompleted: number;
    /** Failed jobs kept per queue, on top of the age limit. Env JOB_KEEP_FAILED. Defaults to 5000. */
    readonly jobKeepFailed: number;
    /** Unfinished jobs (waiting, delayed, running) a queue may hold; past it POST /jobs answers 503. Env QUEUE_MAX_DEPTH. Defaults to 10000. */
    readonly queueMaxDepth: number;
    /** First pause of the worker's queue after an Ollama outage error; doubles per failed probe. Env OLLAMA_RETRY_BASE_MS. Defaults to 1000. */
    readonly ollamaRetryBaseMs: number;
    /** Longest such pause. Env OLLAMA_RETRY_MAX_MS. Defaults to 30000. */
    readonly ollamaRetryMaxMs: number;
    /** Times one job may be put back for an Ollama outage before it fails. Env JOB_MAX_DEFERRALS. Defaults to 1000. */
    readonly jobMaxDeferrals: number;
    /** Requests per client per window (0 = no limit). Env RATE_LIMIT_MAX. Defaults to 600. */
    readonly rateLimitMax: number;
    /** Rate-limit window. Env RATE_LIMIT_WINDOW_MS. Defaults to 60000. */
    readonly rateLimitWindowMs: number;
    /** Proxies whose X-Forwarded-For names the client (comma-separated addresses/CIDRs). Env TRUST_PROXY. Defaults to loopback and private ranges. */
    readonly trustProxy: string;
    /** Time to receive a whole request, body included. Env API_REQUEST_TIMEOUT_MS. Defaults to 10000. */
    readonly requestTimeoutMs: number;
    /** Idle keep-alive connections are closed after this. Env API_KEEPALIVE_TIMEOUT_MS. Defaults to 130000 (longer than Caddy's 2 min upstream idle timeout). */
    readonly keepAliveTimeoutMs: number;
    /** pino level. Env LOG_LEVEL. Defaults to info. */
    readonly logLevel: string;
}

export interface RedisTls {
    /**
     * PEM of the CA certificates trusted for the Redis server's certificate, read from the file env
     * REDIS_CA_FILE names (the stack's CA, or a managed Redis's CA bundle); they replace Node's
     * bundled public CAs. Null when REDIS_CA_FILE is unset: then Node's public CAs verify it (a
     * managed Redis whose certificate a public CA signed). Either way the certificate is verified.
     */
    readonly ca: string | null;
    /** The file it was read from (env REDIS_CA_FILE), for logs; null when unset. */
    readonly caFile: string | null;
}

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface LoadOptions {
    /**
     * false for the container health check: it only needs PORT and the heartbeat keys, so it neither
     * requires REDIS_URL nor reads REDIS_CA_FILE. Defaults to true.
     */
    readonly requireRedisUrl?: boolean;
    /** Reads REDIS_CA_FILE. Defaults to fs.readFileSync (utf8). */
    readonly readFile?: (path: string) => string;
}

/** Parses and validates the environment; throws one ConfigError naming every bad key. */
export function loadConfig(env: Env = process.env, opts: LoadOptions = {}): AppConfig {
    const problems: string[] = [];
    const raw = (key: string): string | undefined => {
        const v = env[key];
        return v === undefined || v.trim() === "" ? undefined : v.trim();
    };
    const int = (key: string, dflt: number, min: number, max: number): number => {
        const v = raw(key);
        if (v === undefined) return dflt;
        if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
            problems.push(`${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
            return dflt;
        }
        return Number(v);
    };
    const str = (key: string, dflt: string): string => raw(key) ?? dflt;

    const redisUrl = raw("REDIS_URL");
    if (redisUrl === undefined) {
        if (opts.requireRedisUrl !== false) problems.push("REDIS_URL is required, e.g. redis://:PASSWORD@redis:6379/0");
    } else if (!isUrl(redisUrl, ["redis:", "rediss:"])) {
        // The value holds the password, so it is never echoed back.
        problems.push("REDIS_URL must be a redis:// or rediss:// URL (value not shown: it holds the password)");
    }

    const redisTls = opts.requireRedisUrl === false ? null : loadRedisTls(redisUrl, raw("REDIS_CA_FILE"), opts.readFile ?? ((f) => readFileSync(f, "utf8")), problems);

    const ollamaBaseUrl = str("OLLAMA_BASE_URL", "http://ollama:11434").replace(/\/+$/, "");
    if (!isUrl(ollamaBaseUrl, ["http:", "https:"])) {
        problems.push(`OLLAMA_BASE_URL must be an http:// or https:// URL, got ${JSON.stringify(ollamaBaseUrl)}`);
    }

    const queueName = str("QUEUE_NAME", "jobs");
    if (!QUEUE_NAME.test(queueName)) {
        problems.push(`QUEUE_NAME must be 1-64 characters of [A-Za-z0-9_-], got ${JSON.stringify(queueName)}`);
    }

    const lookupQueues = [queueName];
    for (const name of (raw("LOOKUP_QUEUES") ?? "").split(",").map((q) => q.trim()).filter((q) => q !== "")) {
        if (!QUEUE_NAME.test(name)) {
            problems.push(`LOOKUP_QUEUES must be a comma-separated list of queue names of [A-Za-z0-9_-], got ${JSON.stringify(name)}`);
        } else if (!lookupQueues.includes(name)) {
            lookupQueues.push(name);
        }
    }
    if (lookupQueues.length > 16) problems.push(`LOOKUP_QUEUES must name at most 16 queues, got ${lookupQueues.length}`);

    const logLevel = str("LOG_LEVEL", "info");
    if (!LOG_LEVELS.includes(logLevel)) {
        problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(logLevel)}`);
    }

    const config: AppConfig = {
        port: int("PORT", 8000, 1, 65535),
        host: str("HOST", "0.0.0.0"),
        redisUrl: redisUrl ?? "",
        redisTls,
        queueName,
        lookupQueues,
        ollamaBaseUrl,
        ollamaModel: str("OLLAMA_MODEL", "qwen2.5:0.5b"),
        jobAttempts: int("JOB_ATTEMPTS", 3, 1, 100),
        jobBackoffMs: int("JOB_BACKOFF_MS", 5000, 0, 3_600_000),
        jobTimeoutMs: int("JOB_TIMEOUT_MS", 300_000, 100, 86_400_000),
        jobRetentionSeconds: int("JOB_RETENTION_SECONDS", 604_800, 60, 31_536_000),
        workerConcurrency: int("WORKER_CONCURRENCY", 2, 1, 64),
        lockDurationMs: int("WORKER_LOCK_DURATION_MS", 20_000, 200, 3_600_000),
        stalledIntervalMs: int("WORKER_STALLED_INTERVAL_MS", 5000, 200, 3_600_000),
        maxStalledCount: int("WORKER_MAX_STALLED_COUNT", 2, 0, 100),
        heartbeatFile: str("HEARTBEAT_FILE", "/tmp/worker-heartbeat"),
        heartbeatIntervalMs: int("HEARTBEAT_INTERVAL_MS", 5000, 100, 600_000),
        heartbeatMaxAgeMs: int("HEARTBEAT_MAX_AGE_MS", 30_000, 200, 3_600_000),
        redisTimeoutMs: int("REDIS_TIMEOUT_MS", 2000, 50, 60_000),
        ollamaHealthTimeoutMs: int("OLLAMA_HEALTH_TIMEOUT_MS", 2000, 50, 60_000),
        jobKeepCompleted: int("JOB_KEEP_COMPLETED", 5000, 1, 1_000_000),
        jobKeepFailed: int("JOB_KEEP_FAILED", 5000, 1, 1_000_000),
        queueMaxDepth: int("QUEUE_MAX_DEPTH", 10_000, 1, 10_000_000),
        ollamaRetryBaseMs: int("OLLAMA_RETRY_BASE_MS", 1000, 10, 600_000),
        ollamaRetryMaxMs: int("OLLAMA_RETRY_MAX_MS", 30_000, 10, 3_600_000),
        jobMaxDeferrals: int("JOB_MAX_DEFERRALS", 1000, 1, 1_000_000),
        rateLimitMax: int("RATE_LIMIT_MAX", 600, 0, 10_000_000),
        rateLimitWindowMs: int("RATE_LIMIT_WINDOW_MS", 60_000, 100, 86_400_000),
        trustProxy: str("TRUST_PROXY", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"),
        requestTimeoutMs: int("API_REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
        keepAliveTimeoutMs: int("API_KEEPALIVE_TIMEOUT_MS", 130_000, 100, 3_600_000),
        release: raw("APP_RELEASE") ?? null,
        slot: raw("APP_SLOT") ?? null,
        hostName: raw("APP_HOST") ?? null,
        logLevel,
    };
    if (config.heartbeatMaxAgeMs <= config.heartbeatIntervalMs) {
        problems.push(
            `HEARTBEAT_MAX_AGE_MS must be greater than HEARTBEAT_INTERVAL_MS (${config.heartbeatIntervalMs}), got ${config.heartbeatMaxAgeMs}`,
        );
    }
    if (config.ollamaRetryMaxMs < config.ollamaRetryBaseMs) {
        problems.push(`OLLAMA_RETRY_MAX_MS must be at least OLLAMA_RETRY_BASE_MS (${config.ollamaRetryBaseMs}), got ${config.ollamaRetryMaxMs}`);
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}

/** Host, port and db of the Redis URL, for logs: never the password. */
export function redisTarget(redisUrl: string): string {
    try {
        const u = new URL(redisUrl);
        return `${u.protocol}//${u.hostname}:${u.port || "6379"}${u.pathname && u.pathname !== "/" ? u.pathname : "/0"}`;
    } catch {
        return "(unparseable)";
    }
}

/**
 * TLS settings from REDIS_URL's scheme and REDIS_CA_FILE. The file's path is named in messages (it is
 * no secret, nor is a CA certificate); the URL never is.
 */
function loadRedisTls(redisUrl: string | undefined, caFile: string | undefined, readFile: (path: string) => string, problems: string[]): RedisTls | null {
    const tls = redisUrl !== undefined && isUrl(redisUrl, ["rediss:"]);
    if (caFile === undefined) return tls ? { ca: null, caFile: null } : null;
    const shown = JSON.stringify(caFile);
    if (redisUrl !== undefined && !tls) {
        problems.push(`REDIS_CA_FILE is set (${shown}) but REDIS_URL is not a rediss:// URL: the CA verifies a TLS connection only; use rediss:// or unset REDIS_CA_FILE`);
        return null;
    }
    let pem: string;
    try {
        pem = readFile(caFile);
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
        problems.push(`REDIS_CA_FILE must be a readable file of PEM CA certificates, got ${shown} (${code})`);
        return null;
    }
    const bad = caProblem(pem);
    if (bad !== null) {
        problems.push(`REDIS_CA_FILE must hold PEM CA certificates (-----BEGIN CERTIFICATE-----) and nothing secret, got ${shown} (${bad})`);
        return null;
    }
    return { ca: pem, caFile };
}

/** Why `pem` is not a usable CA bundle, or null when every block in it is a CA certificate. */
function caProblem(pem: string): string | null {
    // A private key has no business in a file every container of the slot can read.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return "it holds a private key";
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) return "no certificate in it";
    for (const [i, block] of blocks.entries()) {
        let cert: X509Certificate;
        try {
            cert = new X509Certificate(block);
        } catch (err) {
            return `certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (!cert.ca) return `certificate ${i + 1} (${cert.subject.replace(/\n/g, ", ")}) is not a CA certificate`;
    }
    return null;
}

/** Which CAs verify Redis, for logs: the CA file, "public CAs", or null for plaintext. */
export function redisCaLabel(config: Pick<AppConfig, "redisTls">): string | null {
    return config.redisTls === null ? null : (config.redisTls.caFile ?? "public CAs");
}

function isUrl(value: string, protocols: readonly string[]): boolean {
    try {
        const u = new URL(value);
        return protocols.includes(u.protocol) && u.hostname !== "";
    } catch {
        return false;
    }
}
