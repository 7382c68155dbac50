import { Job, RateLimitError, UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import type { AppConfig } from "./config";
import { AnalysisJobData, AnalysisResult, slotStamp } from "./jobs";
import { analysisPrompt, createOllamaClient, isTransientOllamaError } from "./ollama";

/** Ollama answered with no text: the job's own failure, retried like any other of its own. */
export class EmptyAnswerError extends Error {
    constructor() {
        super("Ollama returned an empty response");
        this.name = "EmptyAnswerError";
    }
}

const TICKER = /^(?=.*[A-Z0-9])[A-Z0-9.-]{1,10}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** What the processor tells about Ollama outages (the worker's breaker). */
export interface OutageHooks {
    /** An outage error: pause the queue; the job is then put back without spending an attempt. */
    outage(reason: string): Promise<unknown>;
    /** A generation worked. */
    succeeded(): void;
    /**
     * An Ollama generate call failed (an HTTP error, a refused or dropped connection, the time limit,
     * an empty answer), whatever happens to the job next; a cancelled job is not Ollama's error.
     */
    requestFailed?(): void;
}

/** Thrown when an attempt outlives JOB_TIMEOUT_MS. Retried like any transient failure. */
export class JobTimeoutError extends Error {
    constructor(ms: number) {
        super(`Ollama request timed out after ${ms} ms`);
        this.name = "JobTimeoutError";
    }
}

/**
 * The job processor. It declares all three parameters on purpose: BullMQ passes the abort
 * signal (worker.cancelJob) only to processors whose arity is 3 or more.
 */
export function createProcessor(
    config: Pick<AppConfig, "ollamaBaseUrl" | "ollamaModel" | "jobTimeoutMs" | "slot" | "release" | "jobMaxDeferrals">,
    logger: Logger,
    hooks?: OutageHooks,
): (job: Job<AnalysisJobData, AnalysisResult>, token?: string, signal?: AbortSignal) => Promise<AnalysisResult> {
    return async (job, _token, signal) => {
        // Stamp the attempt before anything can fail, so a failed job also says where it ran.
        // The stamp is part of the job's data: one HSET, kept as long as the job.
        await job.updateData({ ...(job.data ?? ({} as AnalysisJobData)), processed_by: slotStamp(config) });
        const { ticker, date } = job.data ?? ({} as AnalysisJobData);
        if (typeof ticker !== "string" || !TICKER.test(ticker) || typeof date !== "string" || !DATE.test(date)) {
            // Bad data never gets better: fail now instead of burning attempts.
            throw new UnrecoverableError(`invalid job data: ${JSON.stringify(job.data)?.slice(0, 200)}`);
        }

        const controller = new AbortController();
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            controller.abort();
        }, config.jobTimeoutMs);
        const onCancel = () => controller.abort();
        signal?.addEventListener("abort", onCancel, { once: true });

        const log = logger.child({ jobId: job.id, attempt: job.attemptsMade + 1, ticker, date });
        const started = Date.now();
        try {
            const ollama = createOllamaClient(config.ollamaBaseUrl, controller.signal);
            const response = await ollama.generate({
                model: config.ollamaModel,
                prompt: analysisPrompt({ ticker, date }),
                stream: false,
                options: { temperature: 0.2, num_predict: 400 },
            });
            const analysis = (response.response ?? "").trim();
            // Ollama answered: it is up, whatever the answer. An empty one is this job's failure
            // (retried with backoff, spending an attempt), not an outage to pause the queue for.
            hooks?.succeeded();
            if (analysis === "") throw new EmptyAnswerError();
            log.info({ ms: Date.now() - started, model: config.ollamaModel }, "analysis done");
            return { ticker, date, model: config.ollamaModel, analysis };
        } catch (err) {
            if (err instanceof EmptyAnswerError) throw err;
            if (signal?.aborted && !timedOut) throw new Error("job cancelled");
            hooks?.requestFailed?.();
            const message = timedOut ? new JobTimeoutError(config.jobTimeoutMs).message : err instanceof Error ? causeOf(err) : String(err);
            if (!timedOut && !isTransientOllamaError(err)) {
                const status = (err as { status_code?: number }).status_code;
                throw new UnrecoverableError(`Ollama rejected the request (HTTP ${status}): ${message}`);
            }
            // Refused, 5xx, 429 or hanging past the time limit: Ollama's trouble, not the job's.
            // Put the job back without spending an attempt, and pause the queue (the breaker).
            const deferrals = Math.max(0, (job.attemptsStarted ?? 0) - job.attemptsMade - 1);
            if (!hooks || deferrals >= config.jobMaxDeferrals) {
                throw timedOut ? new JobTimeoutError(config.jobTimeoutMs) : new Error(hooks ? `Ollama unavailable after ${deferrals} put-backs: ${message}` : message);
            }
            await hooks.outage(message);
            throw new RateLimitError();
        } finally {
            clearTimeout(timer);
            signal?.removeEventListener("abort", onCancel);
        }
    };
}

/** fetch() reports a refused connection as "fetch failed" with the reason in `cause`. */
function causeOf(err: Error): string {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause ? `${err.message} (${cause.code ?? cause.message ?? "unknown cause"})` : err.message;
}
