import { randomUUID } from "node:crypto";
import Fastify, { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import { AnalysisJobData, AnalysisResult, JOB_NAME, JobView, slotStamp } from "./jobs";
import type { OllamaState } from "./ollama";
import { withTimeout } from "./redis";

/** Largest accepted request body. A job is two short strings; anything bigger is a mistake or abuse. */
export const BODY_LIMIT_BYTES = 4096;

export const TICKER_PATTERN = "^[A-Z0-9.-]{1,10}$";

export interface ServerDeps {
    readonly config: AppConfig;
    readonly logger: Logger;
    readonly queue: Queue<AnalysisJobData, AnalysisResult>;
    /** Looks a job up in every LOOKUP_QUEUES queue; null when no queue holds it. */
    readonly findJob: (id: string) => Promise<JobView | null>;
    /** PINGs Redis within config.redisTimeoutMs. */
    readonly redisState: () => Promise<"ok" | "unreachable" | "timeout">;
    /** Probes Ollama within config.ollamaHealthTimeoutMs. */
    readonly ollamaState: () => Promise<OllamaState>;
    readonly version?: string;
}

interface FieldError {
    readonly field: string;
    readonly message: string;
}

const FIELD_RULES: Record<string, string> = {
    ticker: 'ticker must be 1-10 characters of A-Z, 0-9, "." or "-" (it is trimmed and upper-cased first)',
    date: "date must be a real calendar date in YYYY-MM-DD form",
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
    },
} as const;

const slotStampSchema = {
    type: "object",
    properties: { slot: { type: "string", nullable: true }, release: { type: "string", nullable: true } },
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
        redis: { type: "string", enum: ["ok", "unreachable", "timeout"] },
        ollama: { type: "string", enum: ["ok", "model_missing", "unreachable", "timeout", "error"] },
        model: { type: "string" },
        release: { type: "string", nullable: true },
        slot: { type: "string", nullable: true },
    },
} as const;

/** Builds the api without listening, so tests can drive it with inject(). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
    const { config, queue } = deps;
    const app = Fastify({
        loggerInstance: deps.logger as FastifyBaseLogger,
        bodyLimit: BODY_LIMIT_BYTES,
        genReqId: () => randomUUID(),
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

    app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply));
    app.setNotFoundHandler((request, reply) =>
        reply.code(404).send({ error: "Not Found", message: `no route ${request.method} ${request.url.split("?")[0]}` }),
    );

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

    app.post<{ Body: AnalysisJobData }>(
        "/jobs",
        {
            schema: {
                summary: "Submit an analysis job",
                body: {
                    type: "object",
                    required: ["ticker", "date"],
                    additionalProperties: false,
                    properties: {
                        ticker: { type: "string", pattern: TICKER_PATTERN, description: "e.g. NVDA; trimmed and upper-cased" },
                        date: { type: "string", format: "date", description: "YYYY-MM-DD, a real calendar date" },
                    },
                },
                response: {
                    202: {
                        type: "object",
                        properties: { job_id: { type: "string", format: "uuid" }, status: { type: "string", enum: ["pending"] } },
                    },
                    400: errorBody,
                    413: errorBody,
                    503: errorBody,
                },
            },
            preValidation: async (request) => {
                const body = request.body as unknown as Record<string, unknown> | null;
                if (body && typeof body === "object" && typeof body.ticker === "string") {
                    body.ticker = body.ticker.trim().toUpperCase();
                }
            },
        },
        async (request, reply) => {
            const jobId = randomUUID();
            const { ticker, date } = request.body;
            try {
                await withTimeout(
                    queue.add(JOB_NAME, { ticker, date, accepted_by: slotStamp(config) }, { jobId }),
                    config.redisTimeoutMs,
                    "enqueue",
                );
            } catch (err) {
                request.log.error({ err: errMessage(err) }, "enqueue failed");
                return reply.code(503).send({ error: "Service Unavailable", message: "job queue is unavailable, try again" });
            }
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
                response: { 200: jobSchema, 400: errorBody, 404: errorBody, 503: errorBody },
            },
        },
        async (request, reply) => {
            const { id } = request.params;
            let view;
            try {
                view = await withTimeout(deps.findJob(id), config.redisTimeoutMs, "job lookup");
            } catch (err) {
                request.log.error({ err: errMessage(err), jobId: id }, "job lookup failed");
                return reply.code(503).send({ error: "Service Unavailable", message: "job store is unavailable, try again" });
            }
            if (!view) return reply.code(404).send({ error: "Not Found", message: `job ${id} not found` });
            return reply.send(view);
        },
    );

    app.get(
        "/health",
        {
            logLevel: "warn",
            schema: { summary: "Liveness and dependencies", response: { 200: healthSchema, 503: healthSchema } },
        },
        async (_request, reply) => {
            const [redis, ollama] = await Promise.all([deps.redisState(), deps.ollamaState()]);
            // Only Redis gates health: without it nothing can be accepted or read. Ollama being down
            // delays jobs (they retry) but the api still serves, so it is reported, not fatal.
            const healthy = redis === "ok";
            return reply.code(healthy ? 200 : 503).send({
                status: healthy ? "healthy" : "unhealthy",
                redis,
                ollama,
                model: config.ollamaModel,
                release: config.release,
                slot: config.slot,
            });
        },
    );

    return app;
}

function sendError(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    if (err.validation) {
        const errors = validationErrors(err, request);
        return reply.code(400).send({ error: "Bad Request", message: errors.map((e) => e.message).join("; "), errors });
    }
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
        const message = `body must be at most ${BODY_LIMIT_BYTES} bytes`;
        return reply.code(413).send({ error: "Payload Too Large", message, errors: [{ field: "body", message }] });
    }
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
        const message = "body must be JSON (Content-Type: application/json)";
        return reply.code(415).send({ error: "Unsupported Media Type", message, errors: [{ field: "body", message }] });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 400) {
        // Malformed or empty JSON, reported by the content-type parser.
        const message = `body must be a JSON object: ${err.message}`;
        return reply.code(400).send({ error: "Bad Request", message, errors: [{ field: "body", message }] });
    }
    if (status >= 500) {
        request.log.error({ err }, "request failed");
        return reply.code(500).send({ error: "Internal Server Error", message: "internal error" });
    }
    return reply.code(status).send({ error: err.name || "Error", message: err.message });
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

function shown(value: unknown): string {
    const s = JSON.stringify(value) ?? String(value);
    return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function errMessage(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}
