import type Redis from "ioredis";
import type { Logger } from "pino";
import { generationKey } from "./keys";
import type { BreakerState } from "./reports";

/** Redis key where a queue's worker reports whether generation works; the api's /health reads it. */

export interface GenerationReport {
    readonly state: "ok" | "failing";
    /** Why generation fails (the last Ollama error), when failing. */
    readonly error?: string;
    /** When the outage began (ISO), when failing. */
    readonly since?: string;
}

/**
 * The worker's circuit breaker for Ollama outages (refused, 5xx, 429, hanging past the time limit).
 * On an outage error the job is put back in the queue without spending an attempt, and the whole
 * queue pauses (BullMQ's rate limiter, so every worker of the queue stops taking jobs) for a
 * cool-down that doubles per failed probe, from base to max. When it runs out, the next job taken is
 * the probe: success closes the breaker, another outage error re-opens it for longer. No job fails
 * because Ollama is down, however long the outage lasts (up to JOB_MAX_DEFERRALS put-backs per job).
 */
export class OllamaBreaker {
    private failures = 0;
    private openUntil = 0;
    private since: string | null = null;

    constructor(
        private readonly opts: {
            readonly baseMs: number;
            readonly maxMs: number;
            /** Pauses the queue for ms (worker.rateLimit). */
            readonly pause: (ms: number) => Promise<void>;
            /** Where the state is published for /health; failures to publish are ignored. */
            readonly redis?: Redis;
            readonly queueName: string;
            readonly logger: Logger;
            /** Called after the breaker opens (again) or closes, so /metrics need not wait for the next report. */
            readonly onChange?: () => void;
        },
    ) {}

    get open(): boolean {
        return this.failures > 0;
    }

    /** closed, open (the queue's pause is running) or half_open (the pause is over: the next job is the probe). */
    state(now: number = Date.now()): BreakerState {
        if (this.failures === 0) return "closed";
        return now < this.openUntil ? "open" : "half_open";
    }

    /** Records an outage error; pauses the queue. Returns the pause in ms. */
    async outage(reason: string): Promise<number> {
        const now = Date.now();
        if (now >= this.openUntil) {
            // A new probe round failed (siblings failing in the same round do not escalate).
            this.failures++;
            const ms = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(this.failures - 1, 30));
            this.openUntil = now + ms;
            this.since ??= new Date(now).toISOString();
            this.opts.logger.warn({ reason, pauseMs: ms, failures: this.failures }, "Ollama outage: queue paused, job put back without spending an attempt");
            this.publish({ state: "failing", error: reason.slice(0, 300), since: this.since }, Math.max(60_000, ms * 3));
            this.opts.onChange?.();
        }
        const remaining = Math.max(1, this.openUntil - now);
        await this.opts.pause(remaining);
        return remaining;
    }

    succeeded(): void {
        if (this.failures === 0) return;
        this.opts.logger.info({ since: this.since }, "Ollama answers again: breaker closed");
        this.failures = 0;
        this.openUntil = 0;
        this.since = null;
        this.publish({ state: "ok" }, 60_000);
        this.opts.onChange?.();
    }

    private publish(report: GenerationReport, ttlMs: number): void {
        this.opts.redis?.set(generationKey(this.opts.queueName), JSON.stringify(report), "PX", ttlMs).catch(() => undefined);
    }
}
