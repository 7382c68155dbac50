// What `npm run status` reports: the one report type that the table renders, `--json` prints as it
// is, and schema.json describes (test/unit/statusSchema.test.ts keeps the two in step). Version 1 of
// the JSON contract: a field is only ever added; renaming or removing one bumps schemaVersion.
import type { HostKind } from "../../../infra/vocabulary";
import type { Color } from "../../../infra/vocabulary";

export type Verdict = "OK" | "DEGRADED" | "DOWN";

/** The version of the --json document. */
export const SCHEMA_VERSION = 1;

export interface StatusReport {
    readonly schemaVersion: typeof SCHEMA_VERSION;
    readonly stack: string;
    /** When the probes started (ISO 8601, UTC). */
    readonly checkedAt: string;
    /** How long collecting took, in ms. */
    readonly durationMs: number;
    readonly verdict: Verdict;
    /** Why the verdict is not OK, one line each ("host aws: ..."); empty when OK. */
    readonly reasons: readonly string[];
    readonly liveColor: Color;
    readonly idleColor: Color;
    readonly hosts: readonly HostStatus[];
    readonly totals: Totals;
}

export interface HostStatus {
    readonly name: string;
    readonly kind: HostKind;
    readonly verdict: Verdict;
    /** Why the host is not OK; empty when OK. */
    readonly reasons: readonly string[];
    /** What is worth knowing but does not change the verdict (metrics unavailable, no price...). */
    readonly notes: readonly string[];
    readonly address: string;
    /** Cloud region (AWS, GCP, Azure); null for local and own servers. */
    readonly region: string | null;
    /** Zone (AWS, GCP); null where there is none. */
    readonly zone: string | null;
    /** Instance type, machine type or VM size; null for local and own servers. */
    readonly instanceType: string | null;
    /** "spot" or "on-demand" for a cloud VM; null for local and own servers. */
    readonly market: "spot" | "on-demand" | null;
    /** The ssh command line to log in (names the key file, never its contents); null for local. */
    readonly ssh: string | null;
    /** Whether the host's Docker engine answered (over SSH for remote hosts). */
    readonly reachable: boolean;
    /** Why it did not; null when it did. */
    readonly unreachableReason: string | null;
    /** The live slot first, then the idle one. */
    readonly slots: readonly SlotStatus[];
    /** Every container of the host's app, expected ones that are missing included. */
    readonly containers: readonly ContainerStatus[];
    readonly gpu: GpuStatus;
    /** Price and cost of a cloud VM; null for local and own servers, which the catalog does not price. */
    readonly cost: CostStatus | null;
}

export interface SlotStatus {
    readonly color: Color;
    readonly role: "live" | "idle";
    /** The release as the operator named it ("workdir", "v1.2.0"). */
    readonly release: string;
    /** What the slot reports as its release: "workdir@3f2a9c1b0d4e". */
    readonly label: string;
    readonly commit: string;
    /** The slot's URL through the proxy. */
    readonly url: string;
    readonly health: SlotHealth;
    /** What the slot's /metrics says; null when it could not be read (see metricsError). */
    readonly metrics: SlotMetrics | null;
    readonly metricsError: string | null;
}

export interface SlotHealth {
    /** Healthy, serving the slot and release the outputs name. */
    readonly ok: boolean;
    /** HTTP status of /health; null when no answer came. */
    readonly httpStatus: number | null;
    /** The body's fields, null where absent. */
    readonly status: string | null;
    readonly slot: string | null;
    readonly release: string | null;
    readonly redis: string | null;
    readonly ollama: string | null;
    /** What failed, when not ok. */
    readonly error: string | null;
}

export interface SlotMetrics {
    /** Jobs waiting to run (waiting, paused, delayed, prioritized). */
    readonly queueDepth: number | null;
    /** Jobs per queue state, as BullMQ counts them. */
    readonly queueJobs: Readonly<Record<string, number>>;
    readonly completed5m: number | null;
    readonly failed5m: number | null;
    readonly completed60m: number | null;
    readonly failed60m: number | null;
    /** Counters since the queue began (completed, failed) or since the api started (accepted). */
    readonly acceptedTotal: number | null;
    readonly completedTotal: number | null;
    readonly failedTotal: number | null;
    readonly ollamaErrorsTotal: number | null;
    /** Whether the worker's Ollama circuit breaker is not closed; null without a fresh worker report. */
    readonly breakerOpen: boolean | null;
    /** Whether the api read Redis for this scrape. */
    readonly redisUp: boolean | null;
    /** Workers of the slot whose report is fresh. */
    readonly workers: number | null;
}

export type ContainerRole = "api" | "worker" | "redis" | "ollama" | "proxy" | "auth" | "other";

export interface ContainerStatus {
    readonly name: string;
    readonly role: ContainerRole;
    /** The slot of an api or worker container; null for shared ones. */
    readonly slot: Color | null;
    /** Docker's state (running, exited, restarting, paused, created, dead), or "missing". */
    readonly state: string;
    /** Docker's health (healthy, unhealthy, starting); null without a health check or container. */
    readonly health: string | null;
    readonly exitCode: number | null;
    readonly restarts: number | null;
    /** Running and, where it has a health check, healthy. */
    readonly ok: boolean;
}

export interface GpuStatus {
    /** "ok": nvidia-smi listed GPUs; "none": no GPU (no nvidia-smi, no driver, no device); "unknown": the host was not reached. */
    readonly state: "ok" | "none" | "unknown";
    /** Why there is none, or why it is unknown. */
    readonly note: string | null;
    readonly devices: readonly GpuDevice[];
}

export interface GpuDevice {
    readonly index: number;
    readonly name: string;
    /** null where nvidia-smi says [N/A] or [Not Supported]. */
    readonly utilizationPercent: number | null;
    readonly memoryUsedMiB: number | null;
    readonly memoryTotalMiB: number | null;
    readonly temperatureC: number | null;
}

export interface CostStatus {
    /** The catalog's price; null when the catalog has none for this machine. */
    readonly usdPerHour: number | null;
    /** A spot price: indicative only. */
    readonly indicative: boolean;
    readonly source: string | null;
    readonly asOf: string | null;
    /** When the engine created the machine (the state's `created`); null when unknown. */
    readonly createdAt: string | null;
    readonly hoursSinceCreated: number | null;
    readonly usdSinceCreated: number | null;
    /** Why something is missing. */
    readonly note: string | null;
}

export interface Totals {
    readonly hosts: number;
    readonly ok: number;
    readonly degraded: number;
    readonly down: number;
    /** Sums over the slots that reported; null when none did. */
    readonly queueDepth: number | null;
    readonly completed5m: number | null;
    readonly failed5m: number | null;
    readonly completed60m: number | null;
    readonly failed60m: number | null;
    /** Sums over the priced hosts; null when none is priced. */
    readonly usdPerHour: number | null;
    readonly usdSinceCreated: number | null;
}
