// Promotion, rollback and release as plain async functions over StackOps + Checker, so every branch
// (refusal, automatic rollback, error mapping) is testable without Pulumi or a network.
import { COLORS, RELEASE, RELEASE_ALLOWED, otherColor } from "../../components/config";
import { isOpsError, OpsError } from "./errors";
import { Checker, CheckResult, Color, Expect, HEALTH_PATH, joinUrl } from "./health";
import { StackOps, UpSummary } from "./stackOps";

export interface Deps {
    readonly stack: StackOps;
    readonly checker: Checker;
    /** Receives each progress line as it happens. */
    readonly log: (line: string) => void;
    /** How long the live URL may take to serve the new slot after up. Defaults to 30000 ms. */
    readonly verifyTimeoutMs?: number;
    /** How long a released idle slot may take to turn healthy. Defaults to 300000 ms. */
    readonly healthTimeoutMs?: number;
    /** Set when the operator interrupts; no further update is started after that. */
    readonly signal?: AbortSignal;
}

/** One host's endpoints, from the `hosts` output. */
export interface HostTarget {
    readonly name: string;
    readonly liveUrl: string;
    readonly idleUrl: string;
    readonly liveHealthUrl: string;
    readonly idleHealthUrl: string;
}

/** What the stack says is deployed. */
export interface Deployed {
    readonly liveColor: Color;
    readonly idleColor: Color;
    readonly idleUrl: string;
    /** Each slot's release, when the `slots` output has it. */
    readonly releases: Partial<Record<Color, string>>;
    readonly hosts: readonly HostTarget[];
}

const isColor = (v: unknown): v is Color => v === "blue" || v === "green";
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);


/** Validates the outputs the scripts rely on; reports every missing or malformed one at once. */
export function readDeployed(outputs: Record<string, unknown>, stackName: string, required: readonly string[] = []): Deployed {
    const need = ["liveColor", "idleColor", "idleUrl", "hosts", ...required];
    const missing = need.filter((k) => outputs[k] === undefined || outputs[k] === null);
    if (missing.length) {
        throw new OpsError("missing-output", `stack ${stackName} has no output ${missing.map((k) => `"${k}"`).join(", ")}: deploy it with a gpu-hosts version that has blue/green slots (\`pulumi up --stack ${stackName}\`) first`);
    }
    const problems: string[] = [];
    const { liveColor, idleColor, idleUrl, hosts, slots } = outputs;
    if (!isColor(liveColor)) problems.push(`liveColor must be "blue" or "green", got ${JSON.stringify(liveColor)}`);
    if (!isColor(idleColor) || (isColor(liveColor) && idleColor !== otherColor(liveColor))) {
        problems.push(`idleColor must be the other color than liveColor (${JSON.stringify(liveColor)}), got ${JSON.stringify(idleColor)}`);
    }
    if (typeof idleUrl !== "string" || !idleUrl) problems.push(`idleUrl must be a URL, got ${JSON.stringify(idleUrl)}`);
    const targets: HostTarget[] = [];
    if (!isObject(hosts) || Object.keys(hosts).length === 0) {
        problems.push(`hosts must map each host name to its URLs, got ${JSON.stringify(hosts)}`);
    } else {
        for (const [name, h] of Object.entries(hosts)) {
            const ok = isObject(h) && typeof h.liveUrl === "string" && typeof h.idleUrl === "string";
            if (!ok) {
                problems.push(`hosts.${name} must have liveUrl and idleUrl`);
                continue;
            }
            const liveUrl = h.liveUrl as string;
            const idleUrl = h.idleUrl as string;
            // healthUrl is liveUrl + the configured health path; reuse that path for the idle port.
            const hu = typeof h.healthUrl === "string" ? h.healthUrl : "";
            const healthPath = hu.startsWith(liveUrl) && hu.length > liveUrl.length ? hu.slice(liveUrl.length) : HEALTH_PATH;
            targets.push({ name, liveUrl, idleUrl, liveHealthUrl: joinUrl(liveUrl, healthPath), idleHealthUrl: joinUrl(idleUrl, healthPath) });
        }
    }
    const releases: Partial<Record<Color, string>> = {};
    if (slots !== undefined) {
        for (const c of COLORS) {
            const r = isObject(slots) && isObject(slots[c]) ? slots[c].release : undefined;
            if (typeof r === "string") releases[c] = r;
            else problems.push(`slots.${c}.release must be a string, got ${JSON.stringify(r)}`);
        }
    }
    if (problems.length) throw new OpsError("bad-output", `stack ${stackName} has unexpected outputs: ${problems.join("; ")}`);
    return { liveColor: liveColor as Color, idleColor: idleColor as Color, idleUrl: idleUrl as string, releases, hosts: targets };
}

interface HostFailure {
    readonly host: string;
    readonly check: string;
    readonly reason: string;
}

const describe = (fails: readonly HostFailure[]) =>
    fails.map((f) => `host ${f.host} (check "${f.check}": ${f.reason})`).join("; ");

const releaseOf = (d: Deployed, c: Color) => (d.releases[c] !== undefined ? ` (release ${d.releases[c]})` : "");

/** Runs one check per host in parallel, logs each verdict in host order, returns the failures. */
async function eachHost(d: Deps, hosts: readonly HostTarget[], check: (h: HostTarget) => Promise<CheckResult>): Promise<HostFailure[]> {
    const results = await Promise.all(hosts.map(async (h) => {
        try {
            return await check(h);
        } catch (e) {
            return { ok: false as const, check: "check", reason: e instanceof Error ? e.message : String(e) };
        }
    }));
    const fails: HostFailure[] = [];
    results.forEach((r, i) => {
        const host = hosts[i].name;
        if (r.ok) {
            d.log(`      ${host}: ok, ${r.summary}`);
        } else {
            d.log(`      ${host}: FAILED ${r.check}: ${r.reason}`);
            fails.push({ host, check: r.check, reason: r.reason });
        }
    });
    return fails;
}

async function runUp(d: Deps): Promise<UpSummary> {
    const r = await d.stack.up();
    const counts = Object.entries(r.changes).map(([op, n]) => `${n} ${op}`).join(", ");
    d.log(`      pulumi up done${counts ? `: ${counts}` : ""}`);
    return r;
}

/** Refuses when config already disagrees with what is deployed: up would apply that change too. */
async function assertLiveColorInSync(d: Deps, dep: Deployed): Promise<void> {
    const configured = await d.stack.getConfig("liveColor");
    if (configured !== undefined && configured !== dep.liveColor) {
        throw new OpsError("config", `config gpu-hosts:liveColor is "${configured}" but stack ${d.stack.name} serves "${dep.liveColor}" live: an earlier change was never applied; run \`pulumi up --stack ${d.stack.name}\` or set liveColor back to "${dep.liveColor}" first`);
    }
}

export interface SwapResult {
    readonly liveColor: Color;
    readonly previousColor: Color;
}

/** Points live traffic at the idle slot: health-gated, verified, and rolled back by itself on failure. */
async function swap(d: Deps, mode: "promote" | "rollback"): Promise<SwapResult> {
    const name = d.stack.name;
    const step = (n: number, text: string) => d.log(`[${n}/4] ${text}`);
    const verb = mode === "promote" ? "promote" : "roll back";

    step(1, `reading outputs of stack ${name}`);
    const dep = readDeployed(await d.stack.outputs(), name);
    await assertLiveColorInSync(d, dep);
    const from = dep.liveColor;
    const to = dep.idleColor;
    d.log(`      live ${from}${releaseOf(dep, from)}, idle ${to}${releaseOf(dep, to)}; hosts: ${dep.hosts.map((h) => h.name).join(", ")}`);

    const n = dep.hosts.length;
    step(2, mode === "promote" ? `checking idle slot ${to} on ${n} host(s)` : `checking previous slot ${to} (now idle) on ${n} host(s)`);
    const expectTo: Expect = { slot: to, release: dep.releases[to] };
    const unhealthy = await eachHost(d, dep.hosts, (h) => d.checker.health(h.idleHealthUrl, expectTo));
    if (unhealthy.length) {
        throw new OpsError("unhealthy", `refusing to ${verb}: slot ${to} is unhealthy on ${describe(unhealthy)}; live traffic stays on ${from}, nothing was changed`);
    }

    step(3, `setting liveColor = ${to} and running pulumi up`);
    await d.stack.setConfig("liveColor", to);
    try {
        await runUp(d);
    } catch (e) {
        if (d.signal?.aborted) {
            throw new OpsError("up-failed", `interrupted during pulumi up; config liveColor is now ${to} and routes may be on either slot: check \`pulumi stack output --stack ${name}\`, then run promote or rollback`);
        }
        if (isOpsError(e, "concurrent-update")) {
            // Our update never started, so only the config needs putting back.
            await d.stack.setConfig("liveColor", from);
            throw new OpsError("concurrent-update", `${e.message} (liveColor set back to ${from}; nothing was deployed)`);
        }
        // A partial update may have moved some hosts' routes: put all of them back.
        return rollBack(d, mode, dep, `pulumi up failed: ${e instanceof Error ? e.message : String(e)}`);
    }

    step(4, `verifying the live URL serves ${to} on ${n} host(s)`);
    const wrong = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expectTo, d.verifyTimeoutMs ?? 30_000));
    if (wrong.length) return rollBack(d, mode, dep, `the live URL does not serve ${to} on ${describe(wrong)}`);

    d.log(`done: stack ${name} serves ${to}${releaseOf(dep, to)} live on every host; ${from} stays idle for \`npm run rollback -- --stack ${name}\``);
    return { liveColor: to, previousColor: from };
}

/** Restores liveColor after a failed swap and always throws: rolled-back, or rollback-failed. */
async function rollBack(d: Deps, mode: "promote" | "rollback", dep: Deployed, why: string): Promise<never> {
    const from = dep.liveColor;
    const name = d.stack.name;
    d.log(`rolling back: ${why}`);
    d.log(`      setting liveColor = ${from} and running pulumi up`);
    try {
        await d.stack.setConfig("liveColor", from);
        await runUp(d);
    } catch (e) {
        throw new OpsError("rollback-failed", `${mode} failed (${why}) and the automatic rollback to ${from} failed too (${e instanceof Error ? e.message : String(e)}): traffic may be on either slot; inspect \`pulumi stack output --stack ${name}\` and config liveColor before retrying`);
    }
    const expect: Expect = { slot: from, release: dep.releases[from] };
    const still = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expect, d.verifyTimeoutMs ?? 30_000));
    if (still.length) {
        throw new OpsError("rollback-failed", `${mode} failed (${why}); liveColor is back to ${from} but the live URL still fails on ${describe(still)}`);
    }
    throw new OpsError("rolled-back", `${mode} failed: ${why}; rolled back, live is ${from} again`);
}

/** Makes the idle slot live (health-gated, verified, self-rolling-back). */
export function promote(d: Deps): Promise<SwapResult> {
    return swap(d, "promote");
}

/** Makes the previous slot (the current idle one) live again, with the same gate and verification. */
export function rollback(d: Deps): Promise<SwapResult> {
    return swap(d, "rollback");
}

type Slots = Record<Color, Record<string, unknown> & { release: string }>;

function parseSlots(raw: string, stackName: string): Slots {
    let v: unknown;
    try {
        v = JSON.parse(raw);
    } catch {
        throw new OpsError("config", `config gpu-hosts:slots of stack ${stackName} is not JSON: ${raw.slice(0, 100)}`);
    }
    const ok = isObject(v) && COLORS.every((c) => isObject(v[c]) && typeof (v[c] as Record<string, unknown>).release === "string");
    if (!ok) throw new OpsError("config", `config gpu-hosts:slots of stack ${stackName} must be { blue: { release }, green: { release } }, got ${raw.slice(0, 200)}`);
    return v as Slots;
}

export interface ReleaseOptions {
    /** "workdir" or a git ref of the app context. */
    readonly release: string;
}

export interface ReleaseResult {
    readonly color: Color;
    readonly release: string;
}

/** Deploys a release into the idle slot only, waits for it to be healthy, then smoke-tests it. */
export async function release(d: Deps, o: ReleaseOptions): Promise<ReleaseResult> {
    const name = d.stack.name;
    const step = (n: number, text: string) => d.log(`[${n}/5] ${text}`);
    if (!RELEASE.test(o.release)) {
        throw new OpsError("usage", `release must be ${RELEASE_ALLOWED}, got ${JSON.stringify(o.release)}`);
    }

    step(1, `reading outputs of stack ${name}`);
    const dep = readDeployed(await d.stack.outputs(), name, ["slots"]);
    await assertLiveColorInSync(d, dep);
    const live = dep.liveColor;
    const idle = dep.idleColor;
    const raw = await d.stack.getConfig("slots");
    const slots: Slots = raw !== undefined
        ? parseSlots(raw, name)
        : { blue: { release: dep.releases.blue! }, green: { release: dep.releases.green! } };
    // Up applies the whole config: a pending change to the live slot would replace its containers.
    if (slots[live].release !== dep.releases[live]) {
        throw new OpsError("config", `config gpu-hosts:slots.${live}.release is "${slots[live].release}" but live slot ${live} runs "${dep.releases[live]}": a release must not touch the live slot; set it back first`);
    }
    d.log(`      live ${live}${releaseOf(dep, live)}, idle ${idle}${releaseOf(dep, idle)}; hosts: ${dep.hosts.map((h) => h.name).join(", ")}`);

    step(2, `setting slots.${idle}.release = ${o.release} (idle slot; live ${live} stays on ${dep.releases[live]})`);
    if (slots[idle].release === o.release) d.log(`      already set; up deploys it again only if the slot drifted`);
    const next: Slots = { ...slots, [idle]: { ...slots[idle], release: o.release } };
    await d.stack.setConfig("slots", next);

    step(3, "running pulumi up");
    try {
        await runUp(d);
    } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        const kind = isOpsError(e) ? e.kind : "up-failed";
        throw new OpsError(kind, `${msg} (config slots.${idle}.release is now "${o.release}"; fix and re-run release, or set it back to "${slots[idle].release}")`);
    }

    const n = dep.hosts.length;
    const expect: Expect = { slot: idle, release: o.release };
    step(4, `waiting for idle slot ${idle} to be healthy with release ${o.release} on ${n} host(s)`);
    const unhealthy = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.idleHealthUrl, expect, d.healthTimeoutMs ?? 300_000));
    if (unhealthy.length) {
        throw new OpsError("unhealthy", `release ${o.release} in idle slot ${idle} is unhealthy on ${describe(unhealthy)}; live traffic is untouched on ${live}`);
    }

    step(5, `smoke-testing idle slot ${idle} on ${n} host(s): one job through to completed, processed by ${idle} release ${o.release}`);
    const failed = await eachHost(d, dep.hosts, (h) => d.checker.smoke(h.idleUrl, expect));
    if (failed.length) {
        throw new OpsError("smoke-failed", `smoke test of release ${o.release} in idle slot ${idle} failed on ${describe(failed)}; live traffic is untouched on ${live}`);
    }

    d.log(`done: release ${o.release} is healthy in idle slot ${idle} on every host; make it live with \`npm run promote -- --stack ${name}\``);
    return { color: idle, release: o.release };
}
