// A job driver for the fleet e2e: submits jobs through the one endpoint (HTTPS with the stack's CA
// pinned, an API key), follows each until it is completed or failed, and sums up what a fleet is
// judged by: which host and slot ran each job, jobs per host, throughput, and jobs done twice.
// HTTP goes through Traffic.request (traffic.ts): the same keep-alive agent, CA and error handling as
// the live traffic of the other e2e runs.
//
// Times are the app's own: a job's finished_at is BullMQ's finishedOn, stamped by the worker when the
// job moved to completed, so throughput does not depend on how often the driver polls. The driver and
// the hosts share this machine's clock.
//
// "Done twice" cannot be read from the API: GET /jobs/{id} shows the latest attempt only
// (processed_by is overwritten at each attempt, attempts_made counts failed attempts, and a stalled
// job moved back to waiting leaves no trace in the job). What does record every run is the workers'
// log: the processor logs "analysis done" (jobId, attempt) when Ollama answered, and the worker logs
// "job completed" (jobId) when BullMQ accepted the result (app/src/processor.ts,
// app/src/worker-runtime.ts). A job whose lock expired while its first worker still ran (a stalled
// event loop, a host cut off from the hub) is run again elsewhere; the first run's result is then
// refused ("Missing lock"), so it never logs "job completed" twice, but "analysis done" twice. So
// workLog() counts both per job, over the logs of every worker container (docker logs keeps a
// container's output across its restarts, so a killed and restarted worker's first run counts too;
// a removed container's log is gone, so read it before a step that removes containers).
import { spawnSync } from "node:child_process";
import { Traffic } from "./traffic";

export type JobState = "pending" | "running" | "completed" | "failed" | "unknown";

/** One job as the driver saw it last. */
export interface JobRecord {
    readonly id: string;
    state: JobState;
    /** processed_by.host: the host whose worker ran the latest attempt (null before one did, or from an app without APP_HOST). */
    host: string | null;
    /** processed_by.slot. */
    slot: string | null;
    /** processed_by.release. */
    release: string | null;
    /** accepted_by.slot: the slot whose api took the job. */
    acceptedSlot: string | null;
    attempts: number;
    /** When the driver sent it (ms since the epoch, this machine's clock). */
    readonly submittedAt: number;
    /** finished_at (ms since the epoch), when completed or failed. */
    finishedAt: number | null;
    /** The failure's text, when failed. */
    error: string | null;
}

/** What a batch of jobs came to. */
export interface JobSummary {
    readonly total: number;
    readonly completed: number;
    readonly failed: number;
    /** Neither completed nor failed by the deadline, "<id>: <last state>". */
    readonly unfinished: readonly string[];
    /** Completed jobs per processed_by.host ("?" for none). */
    readonly byHost: Readonly<Record<string, number>>;
    /** Completed jobs per processed_by.slot. */
    readonly bySlot: Readonly<Record<string, number>>;
    /** Completed jobs processed by another slot than the one that accepted them. */
    readonly crossed: number;
    /** From the first submission to the last finish, seconds. */
    readonly seconds: number;
    /** Completed jobs per second over `seconds`: what a client saw, ramp-up and tail included. */
    readonly throughput: number;
    /**
     * Completed jobs per second between the 10th and the 90th percentile of their finish times: the
     * rate the workers kept up once busy, without the submission's ramp-up, the first jobs' start and
     * the last ones' tail, which weigh more in a short batch than in a long one (0 below 10 jobs).
     */
    readonly steadyThroughput: number;
    /** The last finish (ms since the epoch), or null. */
    readonly lastFinishedAt: number | null;
}

export interface JobDriverOptions {
    /** The live URL, e.g. https://127.0.0.1:9443. */
    readonly url: string;
    /** API keys, used in turn (each has its own rate-limit bucket). */
    readonly keys: readonly string[];
    /** CA certificates to trust (the stack's caRootCert). */
    readonly ca: readonly string[];
    /** Requests in flight at once, submitting or polling. Defaults to 16. */
    readonly concurrency?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class JobDriver {
    private readonly http: Traffic;
    private n = 0;
    /** Every job submitted so far, by id. */
    readonly jobs = new Map<string, JobRecord>();
    /** Submissions that were refused or failed (no job id), with why. */
    readonly rejected: string[] = [];

    constructor(private readonly o: JobDriverOptions) {
        this.http = new Traffic({ url: o.url, keys: o.keys, ca: o.ca });
    }

    private key(): string {
        return this.o.keys[this.n++ % this.o.keys.length];
    }

    /** Runs `work` over `items`, `concurrency` at a time. */
    private async pool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
        let i = 0;
        await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 16, items.length) }, async () => {
            while (i < items.length) await work(items[i++]);
        }));
    }

    /** Submits `count` jobs (POST /jobs) as fast as `concurrency` allows; returns the ids accepted (202). */
    async submit(count: number): Promise<string[]> {
        const ids: string[] = [];
        await this.pool(Array.from({ length: count }, (_, i) => i), async () => {
            for (let attempt = 0; ; attempt++) {
                const submittedAt = Date.now();
                const r = await this.http.request("POST", "/jobs", this.key(), { ticker: "NVDA", date: "2024-05-10" });
                // Over the rate limit: wait and send again; anything else is the submission's failure.
                if (!("error" in r) && r.status === 429 && attempt < 10) {
                    await sleep(1000);
                    continue;
                }
                if ("error" in r || r.status !== 202 || typeof r.json?.job_id !== "string") {
                    this.rejected.push("error" in r ? r.error : `${r.status} ${r.text.slice(0, 200)}`);
                    return;
                }
                const id: string = r.json.job_id;
                this.jobs.set(id, {
                    id, state: "pending", host: null, slot: null, release: null, acceptedSlot: null, attempts: 0,
                    submittedAt, finishedAt: null, error: null,
                });
                ids.push(id);
                return;
            }
        });
        return ids;
    }

    /** Reads one job (GET /jobs/{id}) into its record; false when it could not be read. */
    async read(id: string): Promise<boolean> {
        const rec = this.jobs.get(id);
        if (!rec) throw new Error(`job ${id} was not submitted by this driver`);
        const r = await this.http.request("GET", `/jobs/${id}`, this.key());
        if ("error" in r || r.status !== 200 || !r.json) return false;
        const v = r.json;
        rec.state = (["pending", "running", "completed", "failed"] as const).find((s) => s === v.status) ?? "unknown";
        rec.host = v.processed_by?.host ?? null;
        rec.slot = v.processed_by?.slot ?? null;
        rec.release = v.processed_by?.release ?? null;
        rec.acceptedSlot = v.accepted_by?.slot ?? null;
        rec.attempts = Number(v.attempts_made ?? 0);
        rec.finishedAt = v.finished_at ? Date.parse(v.finished_at) : null;
        rec.error = v.error ?? null;
        return true;
    }

    /**
     * Follows `ids` (every job so far by default) until each is completed or failed, or `timeoutMs`
     * passes; one read of every unfinished job per round, a round at most every `intervalMs`.
     */
    async settle(ids: readonly string[] = [...this.jobs.keys()], timeoutMs = 180_000, intervalMs = 1000): Promise<JobRecord[]> {
        const deadline = Date.now() + timeoutMs;
        const open = () => ids.filter((id) => !["completed", "failed"].includes(this.jobs.get(id)!.state));
        for (let left = open(); left.length && Date.now() < deadline; left = open()) {
            const round = Date.now();
            await this.pool(left, async (id) => {
                if (Date.now() < deadline) await this.read(id);
            });
            await sleep(Math.max(0, intervalMs - (Date.now() - round)));
        }
        return ids.map((id) => this.jobs.get(id)!);
    }

    close(): void {
        this.http.close();
    }
}

/** Sums up `records` (see JobSummary). */
export function summarize(records: readonly JobRecord[]): JobSummary {
    const byHost: Record<string, number> = {};
    const bySlot: Record<string, number> = {};
    let crossed = 0;
    const done = records.filter((r) => r.state === "completed");
    for (const r of done) {
        byHost[r.host ?? "?"] = (byHost[r.host ?? "?"] ?? 0) + 1;
        bySlot[r.slot ?? "?"] = (bySlot[r.slot ?? "?"] ?? 0) + 1;
        if (r.slot !== r.acceptedSlot) crossed++;
    }
    const first = Math.min(...records.map((r) => r.submittedAt));
    const finishes = records.map((r) => r.finishedAt).filter((t): t is number => t !== null);
    const last = finishes.length ? Math.max(...finishes) : null;
    const seconds = last !== null && records.length ? (last - first) / 1000 : 0;
    const finished = done.map((r) => r.finishedAt).filter((t): t is number => t !== null).sort((a, b) => a - b);
    const [p10, p90] = [Math.floor(finished.length * 0.1), Math.ceil(finished.length * 0.9) - 1];
    const steadyThroughput = finished.length >= 10 && finished[p90] > finished[p10] ? (p90 - p10) / ((finished[p90] - finished[p10]) / 1000) : 0;
    return {
        total: records.length,
        completed: done.length,
        failed: records.filter((r) => r.state === "failed").length,
        unfinished: records.filter((r) => !["completed", "failed"].includes(r.state)).map((r) => `${r.id}: ${r.state}`),
        byHost, bySlot, crossed, seconds,
        throughput: seconds > 0 ? done.length / seconds : 0,
        steadyThroughput,
        lastFinishedAt: last,
    };
}

/** "w1 152, w2 148". */
export const describeCounts = (c: Readonly<Record<string, number>>): string =>
    Object.entries(c).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(", ") || "none";

/** What the workers' logs say was done per job (see the file's comment). */
export interface WorkLog {
    /** Per job id: Ollama answered ("analysis done"), one entry per run, naming the container. */
    readonly analysed: ReadonlyMap<string, readonly string[]>;
    /** Per job id: BullMQ took the result ("job completed"), one entry per time, naming the container. */
    readonly completed: ReadonlyMap<string, readonly string[]>;
}

/** Reads `containers`' logs (docker logs, this machine's engine) for the jobs in `ids` (every job when omitted). */
export function workLog(containers: readonly string[], ids?: ReadonlySet<string>): WorkLog {
    const analysed = new Map<string, string[]>();
    const completed = new Map<string, string[]>();
    for (const c of containers) {
        const r = spawnSync("docker", ["logs", c], { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
        if (r.status !== 0) throw new Error(`docker logs ${c}: ${r.stderr.trim()}`);
        for (const line of `${r.stdout}\n${r.stderr}`.split("\n")) {
            if (!line.startsWith("{")) continue;
            let entry: { msg?: unknown; jobId?: unknown };
            try {
                entry = JSON.parse(line);
            } catch {
                continue;
            }
            const id = typeof entry.jobId === "string" || typeof entry.jobId === "number" ? String(entry.jobId) : undefined;
            if (!id || (ids && !ids.has(id))) continue;
            const into = entry.msg === "analysis done" ? analysed : entry.msg === "job completed" ? completed : undefined;
            if (into) into.set(id, [...(into.get(id) ?? []), c]);
        }
    }
    return { analysed, completed };
}

/** The jobs of `log` done more than once: "<id>: <containers>". */
export function twice(log: ReadonlyMap<string, readonly string[]>): string[] {
    return [...log].filter(([, by]) => by.length > 1).map(([id, by]) => `${id}: ${by.join(", ")}`);
}
