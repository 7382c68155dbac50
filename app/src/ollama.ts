import { Ollama } from "ollama";
import type { AnalysisJobData } from "./jobs";

/**
 * An Ollama client whose every request carries `signal`. The client's own abort() only reaches
 * streamed requests, so a per-job client with a signal-carrying fetch is what really cancels a
 * hung non-streamed generate call.
 */
export function createOllamaClient(host: string, signal?: AbortSignal): Ollama {
    return new Ollama({
        host,
        fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, { ...init, signal }),
    });
}

export function analysisPrompt(job: AnalysisJobData): string {
    return [
        `Ticker: ${job.ticker}`,
        `Date: ${job.date}`,
        "",
        `Write a short, neutral market analysis (at most 150 words) of ${job.ticker} as of ${job.date}:`,
        "the likely drivers, the main risks, and what an investor would watch next.",
        "Say plainly when you lack data for that date. This is not investment advice.",
    ].join("\n");
}

/** HTTP statuses from Ollama that retrying will not fix: bad request, auth, unknown model. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 405, 413, 422]);

/** True when an Ollama error is worth another attempt (5xx, 429, network errors, time-outs). */
export function isTransientOllamaError(err: unknown): boolean {
    const status = (err as { status_code?: unknown }).status_code;
    if (typeof status === "number") return !PERMANENT_STATUSES.has(status);
    return true;
}

export type OllamaState = "ok" | "model_missing" | "unreachable" | "timeout" | "error";

/**
 * Probes Ollama for /health: lists local models (GET /api/tags) within the budget and reports
 * whether the configured model is present. Never throws.
 */
export async function probeOllama(host: string, model: string, timeoutMs: number): Promise<OllamaState> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
        const { models } = await createOllamaClient(host, controller.signal).list();
        const wanted = model.includes(":") ? model : `${model}:latest`;
        return models.some((m) => m.name === wanted || m.model === wanted || m.name === model) ? "ok" : "model_missing";
    } catch (err) {
        if (controller.signal.aborted) return "timeout";
        return typeof (err as { status_code?: unknown }).status_code === "number" ? "error" : "unreachable";
    } finally {
        clearTimeout(timer);
    }
}
