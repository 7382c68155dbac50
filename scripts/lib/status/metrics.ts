// A slot's /metrics (Prometheus text format, prom-client in app/src/metrics.ts) read into the numbers
// status shows. Parsed with parse-prometheus-text-format (the npm registry's most used parser of the
// format, Apache-2.0, one small dependency; its sample parser is a port of the Prometheus Python
// client's). Its one known defect: a histogram whose series carry labels loses its labels, _sum and
// _count (yunyu/parse-prometheus-text-format#13, fix #8 never merged). Status reads no histogram, so
// gpu_hosts_job_duration_seconds is left to Prometheus; every counter and gauge parses whole
// (test/unit/statusMetrics.test.ts, on prom-client's own output).
import parsePrometheusTextFormat = require("parse-prometheus-text-format");
import type { Color } from "../../../infra/vocabulary";
import type { SlotMetrics } from "./types";

type Family = parsePrometheusTextFormat.MetricFamily;
type Sample = parsePrometheusTextFormat.Sample;

/** The series of the api's contract (app/src/metrics.ts). */
export const METRIC = {
    accepted: "gpu_hosts_jobs_accepted_total",
    completed: "gpu_hosts_jobs_completed_total",
    failed: "gpu_hosts_jobs_failed_total",
    finishedRecent: "gpu_hosts_jobs_finished_recent",
    queueDepth: "gpu_hosts_queue_depth",
    queueJobs: "gpu_hosts_queue_jobs",
    ollamaErrors: "gpu_hosts_ollama_errors_total",
    breakerOpen: "gpu_hosts_breaker_open",
    redisUp: "gpu_hosts_redis_up",
    workers: "gpu_hosts_workers",
} as const;

/** A family by name; the parser names a counter family as it is written, with or without _total. */
function family(families: readonly Family[], name: string): Family | undefined {
    return families.find((f) => f.name === name) ?? families.find((f) => `${f.name}_total` === name);
}

const finite = (v: string | undefined): number | null => {
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
};

/** The samples of `name` for `slot`, filtered further by `labels`. */
function samples(families: readonly Family[], name: string, slot: Color, labels: Record<string, string> = {}): Sample[] {
    return (family(families, name)?.metrics ?? []).filter((s) =>
        s.labels?.slot === slot && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
}

/** One value of `name` for `slot`; null when absent or not a finite number. */
function value(families: readonly Family[], name: string, slot: Color, labels: Record<string, string> = {}): number | null {
    const s = samples(families, name, slot, labels);
    return s.length ? finite(s[0].value) : null;
}

/** The slot labels the exposition carries on the contract's series (normally exactly one). */
export function slotsIn(text: string): string[] {
    const families = parsePrometheusTextFormat(text);
    const names = new Set<string>(Object.values(METRIC));
    const slots = new Set<string>();
    for (const f of families) {
        if (!names.has(f.name) && !names.has(`${f.name}_total`)) continue;
        for (const s of f.metrics) if (s.labels?.slot !== undefined) slots.add(s.labels.slot);
    }
    return [...slots].sort();
}

/**
 * The numbers of slot `slot` in a /metrics answer; throws when the text holds none of the contract's
 * series for that slot (an HTML error page parses to nothing, and an api of another slot answers
 * for its own).
 */
export function slotMetrics(text: string, slot: Color): SlotMetrics {
    const families = parsePrometheusTextFormat(text);
    const ours = Object.values(METRIC).some((n) => samples(families, n, slot).length > 0);
    if (!ours) {
        const others = slotsIn(text);
        throw new Error(others.length ? `it reports slot ${others.map((s) => JSON.stringify(s)).join(", ")}, not "${slot}"` : "no gpu_hosts_* series in the answer");
    }
    const recent = (outcome: "completed" | "failed", window: "5m" | "60m") => value(families, METRIC.finishedRecent, slot, { outcome, window });
    const queueJobs: Record<string, number> = {};
    for (const s of samples(families, METRIC.queueJobs, slot)) {
        const n = finite(s.value);
        if (s.labels?.state && n !== null) queueJobs[s.labels.state] = n;
    }
    const breaker = value(families, METRIC.breakerOpen, slot);
    const redis = value(families, METRIC.redisUp, slot);
    return {
        queueDepth: value(families, METRIC.queueDepth, slot),
        queueJobs,
        completed5m: recent("completed", "5m"),
        failed5m: recent("failed", "5m"),
        completed60m: recent("completed", "60m"),
        failed60m: recent("failed", "60m"),
        acceptedTotal: value(families, METRIC.accepted, slot),
        completedTotal: value(families, METRIC.completed, slot),
        failedTotal: value(families, METRIC.failed, slot),
        ollamaErrorsTotal: value(families, METRIC.ollamaErrors, slot),
        breakerOpen: breaker === null ? null : breaker !== 0,
        redisUp: redis === null ? null : redis !== 0,
        workers: value(families, METRIC.workers, slot),
    };
}
