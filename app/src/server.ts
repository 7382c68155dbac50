import { createHash, randomUUID } from "node:crypto";
import Fastify, { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Queue } from "bullmq";
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import type { ApiMetrics } from "./metrics";
import { AnalysisJobData, AnalysisResult, JOB_NAME, JobView, slotStamp } from "./jobs";
import { RATE_LIMIT_NAMESPACE } from "./keys";
import type { OllamaState } from "./ollama";
import { RedisState, redisErrorState, withTimeout } from "./redis";

/** Largest accepted request body. A job is two short strings; anything bigger is a mistake or abuse. */
export const BODY_LIMIT_BYTES = 4096;

/** ASCII only, at least one letter or digit ("..." and "-" are not tickers). */
export const TICKER_PATTERN = "^(?=.*[A-Z0-9])[A-Z0-9.-]{1,10}$";
/** Dates accepted: 1970-01-01 to 2099-12-31 (with format "date" making it a real calendar date). */
export const DATE_RANGE_PATTERN = "^(19[7-9][0-9]|20[0-9][0-9])-[0-9]{2}-[0-9]{2}$";
/** Seconds a client is told to wait when the queue is full. */
export const QUEUE_FULL_RETRY_AFTER_S = 10;

export interface ServerDeps {
    readonly config: AppConfig;
    readonly logger: Logger;
    readonly queue: Queue<AnalysisJobData, AnalysisResult>;
    /** Looks a job up in every LOOKUP_QUEUES queue; null when no queue holds it. */
    readonly findJob: (id: string) => Promise<JobView | null>;
    /** PINGs Redis and makes a small write, on the client that serves requests, within config.redisTimeoutMs. */
    readonly redisState: () => Promise<RedisState>;
    /** Probes Ollama within config.ollamaHealthTimeoutMs. */
    readonly ollamaState: () => Promise<OllamaState>;
    /** What the worker of this slot's queue last reported about generation ("unknown" if nothing recent). */
    readonly generationState: () => Promise<"ok" | "failing" | "unknown">;
    /** Unfinished jobs in the own queue (waiting, delayed, prioritized, active). */
    readonly queueDepth: () => Promise<number>;
    /** GET /metrics; counts the jobs POST /jobs accepts. */
    readonly metrics: Pick<ApiMetrics, "registry" | "jobAccepted" | "render">;
    /** The api's Redis client: the rate limit's store. Without it the limit is per process. */
    readonly redis?: Redis;
    readonly version?: string;
}

interface FieldError {
    readonly field: string;
    readonly message: string;
}

const FIELD_RULES: Record<string, string> = {
    ticker: 'ticker must be 1-10 ASCII characters of A-Z, 0-9, "." or "-" with at least one letter or digit (it is trimmed and a-z upper-cased first)',
    date: "date must be a real calendar date in YYYY-MM-DD form, from 1970-01-01 to 2099-12-31",
    id: "id must be a job id (a UUID)",
};

const errorBody = {
    type: "object",
    properties: {
        error: { type: "string" },
        message: { type: "string" },
        errors: {
            type: "array",
            items: { type: "object", properties: { field: { type: "string" }, message: { type: "string" } } },
        },
        job_id: { type: "string", description: "Only on a 503 whose enqueue did not confirm in time: the job may exist; GET it before resubmitting." },
    },
} as const;

const slotStampSchema = {
    type: "object",
    properties: { slot: { type: "string", nullable: true }, release: { type: "string", nullable: true }, host: { type: "string", description: "The host that did it, in a fleet." } },
} as const;

const jobSchema = {
    type: "object",
    properties: {
        job_id: { type: "string", format: "uuid" },
        status: { type: "string", enum: ["pending", "running", "completed", "failed"] },
        ticker: { type: "string" },
        date: { type: "string", format: "date" },
        attempts_made: { type: "integer" },
        result: {
            type: "object",
            nullable: true,
            description: "The analysis, once status is completed.",
            properties: {
                ticker: { type: "string" },
                date: { type: "string" },
                model: { type: "string" },
                analysis: { type: "string" },
            },
        },
        error: { type: "string", nullable: true, description: "Why the job failed, once status is failed." },
        created_at: { type: "string", format: "date-time" },
        started_at: { type: "string", format: "date-time", nullable: true, description: "Start of the latest attempt." },
        finished_at: { type: "string", format: "date-time", nullable: true },
        accepted_by: { ...slotStampSchema, nullable: true, description: "The slot and release whose api accepted the job." },
        processed_by: {
            ...slotStampSchema,
            nullable: true,
            description: "The slot and release whose worker ran the latest attempt; null until a worker takes the job.",
        },
    },
} as const;

const healthSchema = {
    type: "object",
    properties: {
        status: { type: "string", enum: ["healthy", "unhealthy"] },
        redis: { type: "string", enum: ["ok", "unreachable", "timeout", "oom", "readonly", "error"] },
        ollama: { type: "string", enum: ["ok", "degraded", "model_missing", "unreachable", "timeout", "error"] },
        generation: { type: "string", enum: ["ok", "failing", "unknown"] },
        queue_depth: { type: "integer", nullable: true },
        accepting: { type: "boolean" },
        model: { type: "string" },
        release: { type: "string", nullable: true },
        slot: { type: "string", nullable: true },
    },
} as const;

/** Status texts for the uniform error body. */
const STATUS_TEXT: Record<number, string> = {
    400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout",
    409: "Conflict", 413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    422: "Unprocessable Entity", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
};

/** Every error answer has this shape: {error, message, errors: [{field, message}]}. */
function errorJson(status: number, message: string, errors: FieldError[] = []) {
    return { error: STATUS_TEXT[status] ?? "Error", message, errors };
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The job id for an Idempotency-Key: a UUID-shaped digest (RFC 9562 version 8), the same on every
 * api of every slot, so a retried POST finds the job whichever slot accepted it first.
 */
export function idempotentJobId(key: string): string {
    const h = createHash("sha256").update(`gpu-hosts-app:idempotency:${key}`).digest("hex");
    const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Builds the api without listening, so tests can drive it with inject(). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
    const { config, queue } = deps;
    const app = Fastify({
        loggerInstance: deps.logger as FastifyBaseLogger,
        bodyLimit: BODY_LIMIT_BYTES,
        genReqId: () => randomUUID(),
        // The whole request, body included, must arrive within this; slow-body clients are cut off.
        requestTimeout: config.requestTimeoutMs,
        connectionTimeout: config.requestTimeoutMs * 2,
        keepAliveTimeout: config.keepAliveTimeoutMs,
        trustProxy: config.trustProxy,
        // Router errors (bad URL encoding, over-long path parameter) get the same JSON as the rest.
        frameworkErrors: (err, request, reply) => sendError(err as FastifyError, request, reply),
        ajv: {
            customOptions: {
                // Fastify's defaults would silently drop unknown fields and coerce 123 to "123";
                // the contract is to reject both. allErrors is safe here: bodies are at most 4 KiB.
                removeAdditional: false,
                coerceTypes: false,
                allErrors: true,
            },
        },
    });
    // Node's own header timeout must not exceed the request timeout.
    app.server.headersTimeout = Math.min(config.requestTimeoutMs, 10_000);

    app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply));
    app.setNotFoundHandler((request, reply) =>
        reply.code(404).send(errorJson(404, `no route ${request.method} ${clip(request.url.split("?")[0], 60)}`)),
    );

    // A body in another charset than UTF-8 would be misread as UTF-8: refuse it (415).
    app.addHook("onRequest", async (request, reply) => {
        const ct = request.headers["content-type"];
        if (typeof ct !== "string") return;
        const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct)?.[1]?.toLowerCase();
        if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
            const message = "body must be UTF-8 JSON (charset=utf-8 or no charset)";
            return reply.code(415).send(errorJson(415, message, [{ field: "body", message }]));
        }
    });

    if (config.rateLimitMax > 0) {
        await app.register(rateLimit, {
            max: config.rateLimitMax,
            timeWindow: config.rateLimitWindowMs,
            // Shared by every api process through Redis; if Redis fails, the request goes on (and
            // meets the api's own 503) rather than failing on the limiter.
            redis: deps.redis,
            nameSpace: RATE_LIMIT_NAMESPACE,
            skipOnError: true,
            // Per API key when the proxy vouches for one (X-Api-Key-Id: the key service's non-secret id of
            // the key, which Caddy copies in after the check and strips from clients), else per client
            // address (X-Forwarded-For from a TRUST_PROXY proxy, else the peer).
            keyGenerator: rateLimitKey,
            // Health checks (docker, the proxy) are never limited, nor is /metrics: monitoring must not
            // go blind when a key's budget runs out under load, and concurrent scrapes share one
            // Redis read (src/metrics.ts), so /metrics cannot be used to load Redis. It still needs a
            // key at the proxy.
            allowList: (request) => request.url === "/health" || request.url === "/live" || request.url === "/metrics",
            errorResponseBuilder: (_request, ctx) => ({
                statusCode: 429,
                rateLimited: true,
                message: `rate limit exceeded: at most ${ctx.max} requests per ${Math.round(config.rateLimitWindowMs / 1000)} s per client; retry in ${ctx.after}`,
            }),
        });
    }

    await app.register(swagger, {
        openapi: {
            openapi: "3.0.3",
            info: {
                title: "gpu-hosts job api",
                description: "Submit a ticker analysis job, then poll it. A worker asks Ollama for the analysis.",
                version: deps.version ?? "0.1.0",
            },
        },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });

    const unavailable = (reply: FastifyReply, message: string, extra: Record<string, unknown> = {}) =>
        reply.code(503).header("retry-after", "5").send({ ...errorJson(503, message), ...extra });

    app.post<{ Body: AnalysisJobData; Headers: { "idempotency-key"?: string } }>(
        "/jobs",
        {
            schema: {
                summary: "Submit an analysis job",
                description:
                    "With an Idempotency-Key header (1-200 printable ASCII characters) the same key returns the same job (200) " +
                    "for as long as the job is kept; the same key with another body is a 422.",
                headers: { type: "object", properties: { "idempotency-key": { type: "string" } } },
                body: {
                    type: "object",
                    required: ["ticker", "date"],
                    additionalProperties: false,
                    properties: {
                        ticker: { type: "string", pattern: TICKER_PATTERN, description: "e.g. NVDA; trimmed and a-z upper-cased (ASCII only)" },
                        date: { type: "string", format: "date", pattern: DATE_RANGE_PATTERN, description: "YYYY-MM-DD, a real calendar date, 1970-01-01 to 2099-12-31" },
                    },
                },
                response: {
                    200: {
                        type: "object",
                        description: "An earlier POST with the same Idempotency-Key created this job.",
                        properties: { job_id: { type: "string", format: "uuid" }, status: { type: "string", enum: ["pending", "running", "completed", "failed"] } },
                    },
                    202: {
                        type: "object",
                        properties: { job_id: { type: "string", format: "uuid" }, status: { type: "string", enum: ["pending"] } },
                    },
                    400: errorBody,
                    413: errorBody,
                    415: errorBody,
                    422: errorBody,
                    429: errorBody,
                    503: errorBody,
                },
            },
            preValidation: async (request) => {
                const body = request.body as unknown as Record<string, unknown> | null;
                if (body && typeof body === "object" && typeof body.ticker === "string") {
                    // ASCII only: Unicode upper-casing would turn "ß" into "SS" and "ﬀ" into "FF".
                    body.ticker = body.ticker.replace(/^[ \t]+|[ \t]+$/g, "").replace(/[a-z]/g, (c) => c.toUpperCase());
                }
            },
        },
        async (request, reply) => {
            const { ticker, date } = request.body;
            const key = request.headers["idempotency-key"];
            if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
                const message = "Idempotency-Key must be 1-200 printable ASCII characters";
                return reply.code(400).send(errorJson(400, message, [{ field: "Idempotency-Key", message }]));
            }
            const jobId = key === undefined ? randomUUID() : idempotentJobId(key);
            try {
                if (key !== undefined) {
                    const existing = await withTimeout(deps.findJob(jobId), config.redisTimeoutMs, "idempotency lookup");
                    if (existing) {
                        if (existing.ticker !== ticker || existing.date !== date) {
                            const message = "Idempotency-Key was already used with another body";
                            return reply.code(422).send(errorJson(422, message, [{ field: "Idempotency-Key", message }]));
                        }
                        return reply.code(200).send({ job_id: existing.job_id, status: existing.status });
                    }
                }
                const depth = await withTimeout(deps.queueDepth(), config.redisTimeoutMs, "queue depth");
                if (depth >= config.queueMaxDepth) {
                    request.log.warn({ depth, max: config.queueMaxDepth }, "queue full, job refused");
                    return reply
                        .code(503)
                        .header("retry-after", String(QUEUE_FULL_RETRY_AFTER_S))
                        .send(errorJson(503, `job queue is full (${config.queueMaxDepth} unfinished jobs); retry in ${QUEUE_FULL_RETRY_AFTER_S} s`));
                }
            } catch (err) {
                request.log.error({ err: errMessage(err) }, "queue check failed");
                return unavailable(reply, redisMessage(err));
            }
            try {
                await withTimeout(
                    queue.add(JOB_NAME, { ticker, date, accepted_by: slotStamp(config) }, { jobId }),
                    config.redisTimeoutMs,
                    "enqueue",
                );
            } catch (err) {
                request.log.error({ err: errMessage(err), jobId }, "enqueue failed");
                if (/timed out/.test(errMessage(err))) {
                    // The add may still go through: name the job so the client can look before resubmitting.
                    return unavailable(
                        reply,
                        `the job queue did not confirm in time; job ${jobId} may exist: GET /jobs/${jobId} before resubmitting, or resubmit with the same Idempotency-Key`,
                        { job_id: jobId },
                    );
                }
                return unavailable(reply, redisMessage(err));
            }
            deps.metrics.jobAccepted();
            request.log.info({ jobId, ticker, date }, "job accepted");
            return reply.code(202).send({ job_id: jobId, status: "pending" });
        },
    );

    app.get<{ Params: { id: string } }>(
        "/jobs/:id",
        {
            schema: {
                summary: "Get a job's status and result",
                params: { type: "object", required: ["id"], properties: { id: { type: "string", format: "uuid" } } },
                response: { 200: jobSchema, 400: errorBody, 404: errorBody, 429: errorBody, 503: errorBody },
            },
        },
        async (request, reply) => {
            const { id } = request.params;
            let view;
            try {
                view = await withTimeout(deps.findJob(id), config.redisTimeoutMs, "job lookup");
            } catch (err) {
                request.log.error({ err: errMessage(err), jobId: id }, "job lookup failed");
                return unavailable(reply, "job store is unavailable, try again");
            }
            if (!view) return reply.code(404).send(errorJson(404, `job ${id} not found`));
            return reply.send(view);
        },
    );

    app.get(
        "/health",
        {
            logLevel: "warn",
            schema: {
                summary: "Liveness and dependencies",
                description:
                    "200 only while the api can accept and read jobs: Redis answers and takes writes on the api's own connection. " +
                    "Ollama's state is reported, never fatal: jobs wait while it is down.",
                response: { 200: healthSchema, 503: healthSchema },
            },
        },
        async (_request, reply) => {
            const [redis, ollamaProbe, generation, depth] = await Promise.all([
                deps.redisState(),
                deps.ollamaState(),
                withTimeout(deps.generationState(), config.redisTimeoutMs, "generation state").catch(() => "unknown" as const),
                withTimeout(deps.queueDepth(), config.redisTimeoutMs, "queue depth").catch(() => null),
            ]);
            // Only Redis gates health: without it nothing can be accepted or read. Ollama being down
            // delays jobs (they wait) but the api still serves, so it is reported, not fatal.
            const healthy = redis === "ok";
            const ollama = ollamaProbe === "ok" && generation === "failing" ? "degraded" : ollamaProbe;
            return reply.code(healthy ? 200 : 503).send({
                status: healthy ? "healthy" : "unhealthy",
                redis,
                ollama,
                generation,
                queue_depth: depth,
                accepting: healthy && depth !== null && depth < config.queueMaxDepth,
                model: config.ollamaModel,
                release: config.release,
                slot: config.slot,
            });
        },
    );

    app.get(
        "/live",
        {
            logLevel: "warn",
            schema: {
                summary: "Liveness of the api process only",
                description:
                    "200 while the process serves HTTP, whatever Redis and Ollama do. For a proxy that must keep routing to the slot " +
                    "during a Redis outage, so that clients get the api's own JSON 503 instead of the proxy's empty one.",
                response: { 200: { type: "object", properties: { status: { type: "string", enum: ["alive"] }, slot: { type: "string", nullable: true }, release: { type: "string", nullable: true } } } },
            },
        },
        async (_request, reply) => reply.send({ status: "alive", slot: config.slot, release: config.release }),
    );

    app.get(
        "/metrics",
        {
            logLevel: "warn",
            schema: {
                summary: "Prometheus metrics of this slot",
                description:
                    "Prometheus text format (prom-client). Every series carries slot=\"<APP_SLOT>\": jobs accepted, completed and failed, " +
                    "jobs finished in the last 5 and 60 minutes, queue depth and job counts per state, job duration, Ollama errors, " +
                    "the worker's circuit breaker, Redis reachability, and the Node process. Redis is read within REDIS_TIMEOUT_MS; " +
                    "past it the answer is still 200, with gpu_hosts_redis_up 0 and the values read from Redis left out or at their last count.",
                response: {
                    200: {
                        description: "The metrics, text/plain; version=0.0.4.",
                        content: { "text/plain": { schema: { type: "string" } } },
                    },
                },
            },
        },
        async (_request, reply) => {
            const text = await deps.metrics.render();
            return reply.header("content-type", deps.metrics.registry.contentType).send(text);
        },
    );

    return app;
}

function redisMessage(err: unknown): string {
    switch (redisErrorState(err)) {
        case "oom":
            return "job store is full (Redis refuses writes), try again later";
        case "readonly":
            return "job store refuses writes, try again later";
        default:
            return "job queue is unavailable, try again";
    }
}

/**
 * The rate-limit bucket of a request: its API key's id when a trusted proxy forwarded it (Fastify
 * fills request.ips beyond the peer only when the peer is a TRUST_PROXY proxy), else the client.
 */
export function rateLimitKey(request: FastifyRequest): string {
    const id = request.headers["x-api-key-id"];
    const viaTrustedProxy = (request.ips?.length ?? 0) > 1;
    return viaTrustedProxy && typeof id === "string" && /^[0-9a-f]{16}$/.test(id) ? `key:${id}` : `ip:${request.ip}`;
}

function sendError(err: FastifyError & { rateLimited?: boolean }, request: FastifyRequest, reply: FastifyReply) {
    if (err.validation) {
        const errors = validationErrors(err, request);
        return reply.code(400).send(errorJson(400, errors.map((e) => e.message).join("; "), errors));
    }
    switch (err.code) {
        case "FST_ERR_CTP_BODY_TOO_LARGE": {
            const message = `body must be at most ${BODY_LIMIT_BYTES} bytes`;
            return reply.code(413).send(errorJson(413, message, [{ field: "body", message }]));
        }
        case "FST_ERR_CTP_INVALID_MEDIA_TYPE": {
            const message = "body must be JSON (Content-Type: application/json)";
            return reply.code(415).send(errorJson(415, message, [{ field: "body", message }]));
        }
        case "FST_ERR_BAD_URL":
            return reply.code(400).send(errorJson(400, "the URL is not validly encoded"));
        case "FST_ERR_MAX_PARAM_LENGTH":
            return reply.code(414).send(errorJson(414, "the URL path is too long"));
        default:
    }
    if (err.rateLimited || err.statusCode === 429) return reply.code(429).send(errorJson(429, clip(err.message, 200)));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 400) {
        // Malformed or empty JSON, reported by the content-type parser.
        const message = `body must be a JSON object: ${clip(err.message, 80)}`;
        return reply.code(400).send(errorJson(400, message, [{ field: "body", message }]));
    }
    if (status >= 500) {
        request.log.error({ err }, "request failed");
        return reply.code(500).send(errorJson(500, "internal error"));
    }
    return reply.code(status).send(errorJson(status, clip(err.message, 120)));
}

function validationErrors(err: FastifyError, request: FastifyRequest): FieldError[] {
    const context = err.validationContext ?? "body";
    const source = (context === "params" ? request.params : request.body) as Record<string, unknown> | null | undefined;
    const seen = new Set<string>();
    const out: FieldError[] = [];
    for (const v of err.validation ?? []) {
        const params = v.params as Record<string, unknown>;
        let field: string;
        let message: string;
        if (v.keyword === "required") {
            field = String(params.missingProperty);
            message = `${field} is required`;
        } else if (v.keyword === "additionalProperties") {
            field = String(params.additionalProperty);
            message = `${field} is not a known field (allowed: ticker, date)`;
        } else {
            field = v.instancePath.replace(/^\//, "").replace(/\//g, ".") || context;
            const rule = FIELD_RULES[field];
            if (field === context) {
                message = `${context} must be a JSON object`;
            } else if (rule) {
                const value = source && typeof source === "object" ? source[field] : undefined;
                message = `${rule}, got ${shown(value)}`;
            } else {
                message = `${field} ${v.message ?? "is invalid"}`;
            }
        }
        if (!seen.has(field)) {
            seen.add(field);
            out.push({ field, message });
        }
    }
    return out;
}

function clip(s: string, max: number): string {
    return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function shown(value: unknown): string {
    const s = JSON.stringify(value) ?? String(value);
    return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function errMessage(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}
