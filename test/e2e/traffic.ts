// Live traffic for the end-to-end runs: clients with keep-alive connections that submit jobs and read
// them back through the live URL at a steady rate, counting every request and every failure per
// phase. A failure is a transport error or any status but 200/202 (a 429 counts too: a client over its
// budget is a failure an operator would see). Every job is followed to completion, and each must be
// processed by the slot that accepted it.
import * as assert from "node:assert";
import * as http from "node:http";
import * as https from "node:https";

export interface Failure {
    readonly phase: string;
    readonly what: string;
}

interface Job {
    readonly id: string;
    readonly phase: string;
}

export interface JobCheck {
    readonly total: number;
    readonly completed: number;
    /** Jobs processed by another slot than the one that accepted them. */
    readonly crossed: number;
    /** Jobs not completed by the deadline, with their last status. */
    readonly unfinished: readonly string[];
    /** Jobs per slot that accepted them. */
    readonly bySlot: Readonly<Record<string, number>>;
}

export interface TrafficOptions {
    /** The live URL, e.g. http://127.0.0.1:8000. */
    readonly url: string;
    /** API keys; requests take them in turn (each key has its own rate-limit bucket). */
    readonly keys: readonly string[];
    /** Requests per second in all. Defaults to 30. */
    readonly rate?: number;
    /** One in this many requests submits a job; the rest read one back. Defaults to 3. */
    readonly submitEvery?: number;
    /** CA certificates to trust for https. Defaults to none. */
    readonly ca?: readonly string[];
}

export class Traffic {
    private phase = "start";
    private timer?: NodeJS.Timeout;
    private n = 0;
    private inflight = new Set<Promise<void>>();
    private readonly agent: http.Agent;
    readonly sent = new Map<string, number>();
    readonly failures: Failure[] = [];
    readonly jobs: Job[] = [];

    constructor(private readonly o: TrafficOptions) {
        const secure = o.url.startsWith("https:");
        this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16, ca: o.ca ? [...o.ca] : undefined }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
    }

    /** Starts sending; requests are counted under `phase` until the next setPhase. */
    start(phase: string): void {
        this.phase = phase;
        const rate = this.o.rate ?? 30;
        this.timer = setInterval(() => this.tick(), 1000 / rate);
    }

    setPhase(phase: string): void {
        this.phase = phase;
    }

    /** Stops sending and waits for the requests in flight. */
    async stop(): Promise<void> {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        await Promise.all([...this.inflight]);
    }

    sentIn(phase: string): number {
        return this.sent.get(phase) ?? 0;
    }

    failedIn(phase: string): Failure[] {
        return this.failures.filter((f) => f.phase === phase);
    }

    private tick(): void {
        const i = this.n++;
        const phase = this.phase;
        const key = this.o.keys[i % this.o.keys.length];
        const submit = this.jobs.length === 0 || i % (this.o.submitEvery ?? 3) === 0;
        this.sent.set(phase, (this.sent.get(phase) ?? 0) + 1);
        const p = (submit ? this.submit(key, phase) : this.read(key, phase)).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
    }

    private async submit(key: string, phase: string): Promise<void> {
        const r = await this.request("POST", "/jobs", key, { ticker: "NVDA", date: "2024-05-10" });
        if ("error" in r) return this.fail(phase, `POST /jobs: ${r.error}`);
        if (r.status !== 202 || typeof r.json?.job_id !== "string") return this.fail(phase, `POST /jobs -> ${r.status} ${r.text.slice(0, 200)}`);
        this.jobs.push({ id: r.json.job_id, phase });
    }

    private async read(key: string, phase: string): Promise<void> {
        const job = this.jobs[Math.floor(Math.random() * this.jobs.length)];
        const r = await this.request("GET", `/jobs/${job.id}`, key);
        if ("error" in r) return this.fail(phase, `GET /jobs/${job.id}: ${r.error}`);
        if (r.status !== 200) this.fail(phase, `GET /jobs/${job.id} -> ${r.status} ${r.text.slice(0, 200)}`);
    }

    private fail(phase: string, what: string): void {
        this.failures.push({ phase, what });
    }

    /** One request with the given key; never throws. */
    request(method: string, p: string, key: string | undefined, body?: unknown): Promise<{ status: number; text: string; json: any } | { error: string }> {
        return new Promise((resolve) => {
            const u = new URL(p, this.o.url);
            const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
            const mod = u.protocol === "https:" ? https : http;
            const req = mod.request(u, {
                method, agent: this.agent, timeout: 15_000,
                headers: {
                    ...(key ? { authorization: `Bearer ${key}` } : {}),
                    ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
                },
            }, (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (text += c));
                res.on("end", () => {
                    let json: any;
                    try {
                        json = JSON.parse(text);
                    } catch {
                        json = undefined;
                    }
                    resolve({ status: res.statusCode ?? 0, text, json });
                });
                res.on("error", (e) => resolve({ error: e.message }));
            });
            req.on("timeout", () => req.destroy(new Error("timed out after 15 s")));
            req.on("error", (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
            req.end(payload);
        });
    }

    /**
     * Follows every job accepted so far until it completes (or `timeoutMs` passes) and checks that the
     * slot that processed it is the slot that accepted it.
     */
    async checkJobs(keys: readonly string[], timeoutMs = 180_000): Promise<JobCheck> {
        const deadline = Date.now() + timeoutMs;
        const pending = new Map(this.jobs.map((j) => [j.id, "unknown"]));
        const bySlot: Record<string, number> = {};
        let crossed = 0;
        let completed = 0;
        while (pending.size && Date.now() < deadline) {
            const ids = [...pending.keys()];
            let limited = 0;
            for (let i = 0; i < ids.length && Date.now() < deadline; i += 16) {
                await Promise.all(ids.slice(i, i + 16).map(async (id, j) => {
                    // Each key has its own rate-limit bucket: spread the reads over all of them.
                    const r = await this.request("GET", `/jobs/${id}`, keys[(i + j) % keys.length]);
                    if (!("error" in r) && r.status === 429) limited = 5;
                    if ("error" in r || r.status !== 200) return;
                    const status = r.json?.status;
                    pending.set(id, String(status));
                    if (status !== "completed") return;
                    pending.delete(id);
                    completed++;
                    const accepted = r.json.accepted_by?.slot;
                    bySlot[accepted] = (bySlot[accepted] ?? 0) + 1;
                    if (accepted !== r.json.processed_by?.slot) crossed++;
                }));
                // Over budget: wait for the buckets to refill rather than spin on 429s.
                if (limited) await new Promise((r) => setTimeout(r, limited * 1000));
                limited = 0;
            }
            if (pending.size) await new Promise((r) => setTimeout(r, 1000));
        }
        return { total: this.jobs.length, completed, crossed, unfinished: [...pending].map(([id, s]) => `${id}: ${s}`), bySlot };
    }

    close(): void {
        this.agent.destroy();
    }
}

/**
 * The README's seed flow through `url`: a POST without a key gets 401, one with `apiKey` 202, and the
 * job completes within 30 s. Returns the completed job as GET /jobs/{id} shows it, for the caller's
 * own checks (which slot, which host).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function seedFlow(o: { readonly url: string; readonly apiKey: string; readonly ca?: readonly string[] }): Promise<any> {
    const probe = new Traffic({ url: o.url, keys: [o.apiKey], ...(o.ca === undefined ? {} : { ca: o.ca }) });
    try {
        const anon = await probe.request("POST", "/jobs", undefined, { ticker: "NVDA", date: "2024-05-10" });
        assert.ok(!("error" in anon) && anon.status === 401, JSON.stringify(anon));
        const sub = await probe.request("POST", "/jobs", o.apiKey, { ticker: "NVDA", date: "2024-05-10" });
        assert.ok(!("error" in sub) && sub.status === 202, JSON.stringify(sub));
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        let view: any;
        for (let i = 0; i < 60 && view?.status !== "completed"; i++) {
            await new Promise((res) => setTimeout(res, 500));
            const g = await probe.request("GET", `/jobs/${sub.json.job_id}`, o.apiKey);
            view = "error" in g ? undefined : g.json;
        }
        assert.equal(view?.status, "completed", JSON.stringify(view));
        return view;
    } finally {
        probe.close();
    }
}
