// HTTP checks of a slot through its URL: one health probe, a wait-until-healthy loop, and a smoke
// test that pushes one real job through the api, the queue, the worker and the model.
import * as http from "http";
import * as https from "https";
import { Color } from "../../infra/vocabulary";
import type { StackOutputs } from "../../infra/contract/outputs";

// Re-exported: the scripts and their tests take the slot type from here.
export type { Color };

/** What a health answer must say beyond "healthy", when known. */
export interface Expect {
    readonly slot?: Color;
    readonly release?: string;
}

/** A check's verdict; on failure `check` names what failed (e.g. "redis", "slot", "job"). */
export type CheckResult =
    | { readonly ok: true; readonly summary: string }
    | { readonly ok: false; readonly check: string; readonly reason: string };

/** The checks promotion and release run against a slot's base URL. */
export interface Checker {
    /** One probe of a health URL (e.g. http://host:8081/health). */
    health(healthUrl: string, expect: Expect): Promise<CheckResult>;
    /** Probes until healthy or `timeoutMs` passes; returns the last verdict. */
    waitHealthy(healthUrl: string, expect: Expect, timeoutMs: number): Promise<CheckResult>;
    /**
     * Submits one job and polls it until completed; with `expect`, the job must say it was processed
     * by that slot and release (an app that does not report processed_by passes on completion).
     */
    smoke(baseUrl: string, expect?: Expect): Promise<CheckResult>;
}

export interface HttpCheckerOptions {
    /** Per-request timeout. Defaults to 5000 ms. */
    readonly requestTimeoutMs?: number;
    /** Pause between health probes while waiting. Defaults to 2000 ms. */
    readonly healthIntervalMs?: number;
    /** How long a smoke job may take to complete (a cold model load is slow). Defaults to 600000 ms. */
    readonly jobTimeoutMs?: number;
    /** Pause between job polls. Defaults to 2000 ms. */
    readonly jobPollMs?: number;
    /** The smoke job's body. Defaults to SMOKE_JOB. */
    readonly job?: Readonly<Record<string, unknown>>;
    /** API key sent as `Authorization: Bearer` (stack output apiKey). Defaults to none. */
    readonly apiKey?: string;
    /** PEMs of CAs to trust for https URLs (each host's caRootCert, tls mode "internal"). Defaults to the system CAs. */
    readonly ca?: readonly string[];
}

/** How requests authenticate and which CA they trust. */
export interface Access {
    readonly apiKey?: string;
    readonly ca?: readonly string[];
}

/**
 * The key and CAs the scripts use, from the stack outputs: the operator scripts' own key (opsApiKey,
 * a rate-limit bucket of its own, so clients busy on apiKey never starve a check), else apiKey for a
 * stack deployed before it existed; and every host's caRootCert.
 */
export function accessFromOutputs(outputs: StackOutputs): Access {
    const apiKey = outputs.opsApiKey ?? outputs.apiKey;
    const roots = Object.values(outputs.hosts).map((h) => h.caRootCert)
        .filter((c): c is string => c !== undefined && c.includes("BEGIN CERTIFICATE"));
    return { ...(apiKey ? { apiKey } : {}), ...(roots.length ? { ca: [...new Set(roots)] } : {}) };
}

export const SMOKE_JOB = { ticker: "NVDA", date: "2024-05-10" } as const;
/** The api's health path when the stack does not say otherwise. */
export const HEALTH_PATH = "/health";

/** An HTTP answer: status, body text, and the body parsed as JSON when it is JSON. */
export interface HttpAnswer {
    readonly status: number;
    readonly text: string;
    readonly json: any;
}

/** Why a request never produced an answer, in words an operator recognises. */
export function transportReason(e: NodeJS.ErrnoException, timeoutMs: number): string {
    if (e.code === "ETIMEDOUT") return `timed out after ${timeoutMs} ms`;
    if (e.code === "ECONNREFUSED") return "connection refused";
    if (e.code === "ECONNRESET") return "connection reset";
    if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") return `cannot resolve host (${e.code})`;
    return e.message || String(e);
}

/**
 * One HTTP exchange without keep-alive, bounded by `timeoutMs` end to end. The key goes in a header
 * only. `accept` is the Accept header (a Prometheus scrape asks for text).
 */
function request(method: string, url: string, timeoutMs: number, body?: unknown, access: Access = {}, accept = "application/json"): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const mod = u.protocol === "https:" ? https : http;
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = mod.request(u, {
            method,
            agent: false,
            ...(u.protocol === "https:" && access.ca?.length ? { ca: [...access.ca] } : {}),
            headers: {
                accept,
                ...(access.apiKey ? { authorization: `Bearer ${access.apiKey}` } : {}),
                ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
            },
        }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", reject);
            res.on("end", () => {
                clearTimeout(timer);
                const text = Buffer.concat(chunks).toString("utf8");
                let json: any;
                try {
                    json = JSON.parse(text);
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode ?? 0, text, json });
            });
        });
        const timer = setTimeout(() => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })), timeoutMs);
        req.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        req.end(payload);
    });
}

/** GET `url` with the key and pinned CAs of `access`; rejects on a transport failure (see transportReason). */
export function httpGet(url: string, timeoutMs: number, access: Access = {}, accept = "application/json"): Promise<HttpAnswer> {
    return request("GET", url, timeoutMs, undefined, access, accept);
}

/** `base` + `path`, keeping any path prefix of base (http://h:8080/api + /health -> /api/health). */
export function joinUrl(base: string, p: string): string {
    return `${base.replace(/\/+$/, "")}${p.startsWith("/") ? p : `/${p}`}`;
}

const snippet = (s: string) => {
    const one = s.replace(/\s+/g, " ").trim();
    return one.length > 200 ? `${one.slice(0, 197)}...` : one;
};

/** A dependency field of the health body counts as fine if it says ok. */
function depOk(v: unknown): boolean {
    if (typeof v === "string") return /^(ok|healthy|up)$/i.test(v);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o.ok === true) return true;
        if (typeof o.status === "string") return depOk(o.status);
    }
    return false;
}

/** "250 ms" or "300 s": readable at both scales a deadline comes in. */
const duration = (ms: number) => (ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One health probe; failure names the first thing wrong (transport, dependency, status, slot, release). */
export async function checkHealth(url: string, expect: Expect, timeoutMs = 5000, access: Access = {}): Promise<CheckResult> {
    let a: HttpAnswer;
    try {
        a = await request("GET", url, timeoutMs, undefined, access);
    } catch (e) {
        return { ok: false, check: "health", reason: `GET ${url}: ${transportReason(e as NodeJS.ErrnoException, timeoutMs)}` };
    }
    return judgeHealth(url, a, expect);
}

/** The verdict on a health answer `a` from `url`: the same wording for every script that probes health. */
export function judgeHealth(url: string, a: HttpAnswer, expect: Expect): CheckResult {
    const body = a.json && typeof a.json === "object" ? (a.json as Record<string, unknown>) : undefined;
    if (a.status !== 200 || body?.status !== "healthy") {
        // Name the dependencies the api itself reports as failing, so "redis" beats "503".
        const deps = body ? ["redis", "ollama"].filter((k) => k in body && !depOk(body[k])) : [];
        const what = a.status !== 200 ? `HTTP ${a.status}` : `status ${JSON.stringify(body?.status)}`;
        const detail = deps.length ? deps.map((k) => `${k}: ${snippet(JSON.stringify(body![k]))}`).join(", ") : snippet(a.text) || "(empty body)";
        return { ok: false, check: deps.length ? deps.join(", ") : "health", reason: `GET ${url} -> ${what}: ${detail}` };
    }
    if (expect.slot && body.slot !== expect.slot) {
        return { ok: false, check: "slot", reason: `GET ${url} answered from slot ${JSON.stringify(body.slot)}, expected "${expect.slot}"` };
    }
    if (expect.release !== undefined && body.release !== expect.release) {
        return { ok: false, check: "release", reason: `GET ${url} answered release ${JSON.stringify(body.release)}, expected "${expect.release}"` };
    }
    return { ok: true, summary: `healthy, slot ${String(body.slot)}, release ${String(body.release)}` };
}

/**
 * Probes until healthy or `timeoutMs` passes (always at least one probe). Each probe gets its whole
 * `requestTimeoutMs`: the deadline decides whether to probe again, never how long a probe may take,
 * so a probe started late on a busy machine is not cut to a few milliseconds and failed for it (the
 * wait may end up to one request timeout past the deadline).
 */
export async function waitForHealth(url: string, expect: Expect, timeoutMs: number, intervalMs = 2000, requestTimeoutMs = 5000, access: Access = {}): Promise<CheckResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const r = await checkHealth(url, expect, requestTimeoutMs, access);
        if (r.ok || Date.now() + intervalMs > deadline) {
            return r.ok ? r : { ...r, reason: `${r.reason} (still failing after ${duration(timeoutMs)})` };
        }
        await sleep(intervalMs);
    }
}

export interface SmokeOptions extends Access {
    readonly requestTimeoutMs?: number;
    readonly jobTimeoutMs?: number;
    readonly jobPollMs?: number;
    readonly job?: Readonly<Record<string, unknown>>;
    /** The slot and release that must have processed the job. Defaults to any. */
    readonly expect?: Expect;
}

/** Whether a completed job's `processed_by` matches `expect`; undefined when it does (or the app does not say). */
function processedByMismatch(view: Record<string, unknown> | undefined, expect: Expect | undefined): string | undefined {
    const by = view?.processed_by as { slot?: unknown; release?: unknown } | null | undefined;
    if (!expect || by === undefined) return undefined;
    if (by === null || typeof by !== "object") return "the job does not say which slot processed it";
    if (expect.slot !== undefined && by.slot !== expect.slot) return `it was processed by slot ${JSON.stringify(by.slot)}, expected "${expect.slot}"`;
    if (expect.release !== undefined && by.release !== expect.release) return `it was processed by release ${JSON.stringify(by.release)}, expected "${expect.release}"`;
    return undefined;
}

/** POST one job, then GET it until completed; fails on "failed", an unknown status or the deadline. */
export async function smokeTest(baseUrl: string, o: SmokeOptions = {}): Promise<CheckResult> {
    const requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    const jobTimeoutMs = o.jobTimeoutMs ?? 600_000;
    const pollMs = o.jobPollMs ?? 2000;
    const submitUrl = joinUrl(baseUrl, "/jobs");
    const started = Date.now();
    let a: HttpAnswer;
    try {
        a = await request("POST", submitUrl, requestTimeoutMs, o.job ?? SMOKE_JOB, o);
    } catch (e) {
        return { ok: false, check: "job submit", reason: `POST ${submitUrl}: ${transportReason(e as NodeJS.ErrnoException, requestTimeoutMs)}` };
    }
    const id = a.json?.job_id;
    if (a.status < 200 || a.status > 299 || typeof id !== "string" || !id) {
        return { ok: false, check: "job submit", reason: `POST ${submitUrl} -> HTTP ${a.status} without a job_id: ${snippet(a.text) || "(empty body)"}` };
    }
    const jobUrl = joinUrl(baseUrl, `/jobs/${encodeURIComponent(id)}`);
    const deadline = started + jobTimeoutMs;
    let last = String(a.json?.status ?? "submitted");
    for (;;) {
        try {
            const g = await request("GET", jobUrl, requestTimeoutMs, undefined, o);
            if (g.status === 404) return { ok: false, check: "job", reason: `GET ${jobUrl} -> 404: job ${id} was accepted but is unknown` };
            if (g.status === 200) {
                const status = g.json?.status;
                if (status === "completed") {
                    const mismatch = processedByMismatch(g.json, o.expect);
                    if (mismatch) return { ok: false, check: "job slot", reason: `job ${id} completed, but ${mismatch}` };
                    const by = g.json?.processed_by;
                    const where = by && typeof by === "object" ? ` by slot ${String(by.slot)}, release ${String(by.release)}` : "";
                    return { ok: true, summary: `job ${id} completed${where} in ${((Date.now() - started) / 1000).toFixed(1)} s` };
                }
                if (status === "failed") return { ok: false, check: "job", reason: `job ${id} failed: ${snippet(String(g.json?.error ?? "no error given"))}` };
                if (status !== "pending" && status !== "running") return { ok: false, check: "job", reason: `job ${id} has unexpected status ${JSON.stringify(status)}` };
                last = status;
            } else {
                // A 5xx while polling may be transient; keep polling until the deadline.
                last = `HTTP ${g.status}`;
            }
        } catch (e) {
            last = transportReason(e as NodeJS.ErrnoException, requestTimeoutMs);
        }
        if (Date.now() + pollMs > deadline) {
            return { ok: false, check: "job", reason: `job ${id} not completed after ${duration(jobTimeoutMs)} (last: ${last})` };
        }
        await sleep(pollMs);
    }
}

/** The real Checker: HTTP against the slot URLs. */
export function httpChecker(o: HttpCheckerOptions = {}): Checker {
    const requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    return {
        health: (url, expect) => checkHealth(url, expect, requestTimeoutMs, o),
        waitHealthy: (url, expect, timeoutMs) => waitForHealth(url, expect, timeoutMs, o.healthIntervalMs ?? 2000, requestTimeoutMs, o),
        smoke: (baseUrl, expect) => smokeTest(baseUrl, {
            requestTimeoutMs, jobTimeoutMs: o.jobTimeoutMs, jobPollMs: o.jobPollMs, job: o.job, apiKey: o.apiKey, ca: o.ca, expect,
        }),
    };
}
