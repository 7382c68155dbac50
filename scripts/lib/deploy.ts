// `npm run deploy`: `pulumi up`, and when a cloud VM fails for capacity or quota (capacity.ts), move
// that host, and only that host, to its next candidate (infra/clouds/placement.ts), write the
// choice into gpu-hosts:placements, and run up again, until every host is placed or its candidates
// run out. Any other failure stops the deploy and is reported as the engine gave it. Each host of a
// cloud (gpu-hosts:<cloud>.count: "aws", "aws-2", ...) walks the cloud's candidates on its own.
//
// Why moving one host leaves the others alone: the program derives every host from its own
// placement, so a changed gpu-hosts:placements.<host> changes only that host's resources
// (test/program/placements.test.ts), and the engine only steps resources whose inputs changed.
//
// One failure is waited out instead: a cloud API that is not enabled yet, or was enabled minutes
// ago (GCP: Compute Engine on a new project; see waitForApi below).
import type { StackConfig } from "../../infra/config";
import type { CloudName } from "../../infra/vocabulary";
import {
    CloudHost, CloudPlacement, bare, candidatesOf, deployedHosts, describePlacement, hostsOfCloud, placementOf, priceOfPlacement,
    recordedPlacement, samePlacement, tryOrder,
} from "../../infra/clouds/placement";
import { CLOUD_NAMES, driver, isCloud } from "../../infra/clouds";
import type { ApiNotReady } from "../../infra/clouds/types";
import { CapacityFailure, classifyCapacity, vmHostOf } from "./capacity";
import { OpsError } from "./errors";
import { Pinner, readStackConfig } from "./stackConfig";
import { UpSummary } from "./stackOps";
import { UpFailedError } from "./engineErrors";
import { UpDeps, changeLine, hostsTable, pinUnpinned } from "./up";
import { checkLogins } from "./logins";
import { table } from "./table";

export interface DeployOptions {
    /** Try candidates cheapest first (catalog prices) instead of in the operator's order. */
    readonly cheapest: boolean;
    /** How long to wait out a cloud API that is not enabled yet. Defaults to API_PROPAGATION. */
    readonly apiWait?: ApiWait;
}

/** How deploy waits out an API that is not enabled yet: the waits between ups, and their bound. */
export interface ApiWait {
    /** The first wait, in ms; each next one doubles, up to maxDelayMs. */
    readonly firstDelayMs: number;
    readonly maxDelayMs: number;
    /** The most deploy waits in all, in ms; past it, the failure is reported with its fix. */
    readonly budgetMs: number;
}

/**
 * Google's own 403 for a disabled API says "If you enabled this API recently, wait a few minutes for
 * the action to propagate to our systems and retry" (infra/clouds/gcp/apis.ts): up to 10 minutes of
 * waits, 15 s, 30 s, 1 min, then every 2 min, so ups at about 0, 15 s, 45 s, 1:45, 3:45, 5:45, 7:45
 * and 9:45 (plus the ups' own time).
 */
export const API_PROPAGATION: ApiWait = { firstDelayMs: 15_000, maxDelayMs: 120_000, budgetMs: 600_000 };

/** One placement tried in this deploy, and why it failed (none: it is where the host runs). */
export interface Attempt {
    readonly placement: CloudPlacement;
    readonly failure?: CapacityFailure;
}

export interface HostOutcome {
    /** The host's name: "aws", "aws-2". */
    readonly host: string;
    readonly cloud: CloudName;
    readonly attempts: readonly Attempt[];
    /** Where the host runs now; undefined when its candidates ran out. */
    readonly chosen?: CloudPlacement;
    /** Deployed without this host (fallback.otherClouds). */
    readonly skipped: boolean;
}

export interface DeployResult {
    readonly hosts: readonly HostOutcome[];
    /** The successful up (the last one run), with what it changed. */
    readonly up: UpSummary;
    /** How many ups ran, failed ones included. */
    readonly rounds: number;
}

/** How many failures gpu-hosts:placements.<host>.tried keeps, newest last. */
export const TRIED_KEPT = 20;

/** The table the driver ends with: per host, what was tried and why it failed, and where it runs, at what price. */
export function deployTable(hosts: readonly HostOutcome[]): string {
    if (hosts.length === 0) return "no cloud host in this stack: nothing to place (the up above is all deploy does here)";
    const rows = [["host", "tried", "error", "placed on", "$/h"]];
    for (const h of hosts) {
        const failed = h.attempts.filter((a) => a.failure);
        const price = h.chosen ? priceOfPlacement(h.chosen) : undefined;
        const placed = h.chosen ? describePlacement(h.chosen) : h.skipped ? "skipped (fallback.otherClouds)" : "none: candidates ran out";
        const cost = price ? `${price.usdPerHour.toFixed(4)}${price.indicative ? " (spot, indicative)" : ""}` : h.chosen ? "no catalog price" : "-";
        if (failed.length === 0) rows.push([h.host, "-", "-", placed, cost]);
        failed.forEach((a, i) => {
            const last = i === failed.length - 1;
            rows.push([i === 0 ? h.host : "", describePlacement(a.placement), failureText(a.failure!), last ? placed : "", last ? cost : ""]);
        });
    }
    return table(rows);
}

function failureText(f: CapacityFailure): string {
    return `${f.code}${f.quota ? ` (${f.quota})` : ""}`;
}

/** The host's next placement in this deploy (its first with nothing tried), or undefined when none is left. */
function nextPlacement(cfg: StackConfig, host: CloudHost, tried: readonly CloudPlacement[], o: DeployOptions): CloudPlacement | undefined {
    const order = tryOrder(candidatesOf(cfg, host.cloud), { cheapest: o.cheapest, spotToOnDemand: cfg.fallback.spotToOnDemand });
    return order.find((p) => !tried.some((t) => samePlacement(t, p)));
}

/**
 * Pins new slots, then runs up until every cloud host is placed. Throws the engine's own error
 * (UpFailedError) for any failure that is not a VM's capacity or quota, and OpsError "no-capacity"
 * when a host's candidates run out; the table of what was tried is logged first in both cases.
 */
export async function deploy(d: UpDeps, pin: Pinner, o: DeployOptions): Promise<DeployResult> {
    let cfg = await readStackConfig(d.stack);
    // A server that refuses the login stops the deploy here, in seconds, before the engine (logins.ts).
    await checkLogins(d, cfg);
    d.log(`[1/3] pinning the releases of stack ${d.stack.name}`);
    if ((await pinUnpinned(d, cfg, pin)).length > 0) cfg = await readStackConfig(d.stack);
    /** Writes gpu-hosts:placements and reads the config back, validated, as the next up sees it. */
    const writePlacements = async (placements: Record<string, unknown>) => {
        await d.stack.setConfig("placements", placements);
        cfg = await readStackConfig(d.stack);
    };
    // Every cloud host the stack deploys, each with its own attempts.
    const hosts = deployedHosts(cfg);
    const attempts = new Map<string, Attempt[]>(hosts.map((h) => [h.name, []]));
    const hostNamed = (name: string) => hosts.find((h) => h.name === name)!;
    const outcome = (skipped: readonly string[], exhausted: readonly string[] = []): HostOutcome[] =>
        hosts.map((h) => ({
            host: h.name,
            cloud: h.cloud,
            attempts: attempts.get(h.name)!,
            chosen: skipped.includes(h.name) || exhausted.includes(h.name) ? undefined : placementOf(cfg, h),
            skipped: skipped.includes(h.name),
        }));
    // --cheapest starts a host with no recorded placement on its cheapest candidate, not the first.
    const start: Record<string, unknown> = {};
    for (const h of hosts) {
        const first = nextPlacement(cfg, h, [], o)!;
        if (!recordedPlacement(cfg, h.name) && !samePlacement(first, placementOf(cfg, h))) start[h.name] = { ...bare(first), tried: [] };
    }
    if (Object.keys(start).length > 0) await writePlacements({ ...cfg.placements, ...start });
    const budget = hosts.reduce((n, h) => n + tryOrder(candidatesOf(cfg, h.cloud), { cheapest: o.cheapest, spotToOnDemand: true }).length, 1);

    let up: UpSummary;
    let round = 1;
    const waitForApi = apiWaiter(d, o.apiWait ?? API_PROPAGATION);
    for (; ; round++) {
        const where = hosts.filter((h) => !cfg.placements.skipped.includes(h.name)).map((h) => `${h.name} on ${describePlacement(placementOf(cfg, h))}`);
        d.log(`[2/3] pulumi up (${round === 1 ? "" : `try ${round}: `}${where.join("; ") || "no cloud host"})`);
        try {
            up = await d.stack.up();
            break;
        } catch (e) {
            if (!(e instanceof UpFailedError)) throw e;
            // An API enabled minutes ago: the same placements again, after a wait (never a move).
            if (await waitForApi(e)) continue;
            const failed = capacityFailures(e);
            // Anything else failed too (or instead): not ours to retry; the engine's error as it is.
            if (!failed || [...failed.keys()].some((h) => !attempts.has(h)) || round - waitForApi.waits() >= budget) {
                if ([...attempts.values()].some((a) => a.length > 0)) d.log(deployTable(outcome(cfg.placements.skipped)));
                throw e;
            }
            const skipped: string[] = [...cfg.placements.skipped];
            const next: Record<string, unknown> = { ...cfg.placements, skipped };
            const exhausted: string[] = [];
            for (const [name, failure] of failed) {
                const host = hostNamed(name);
                const at = placementOf(cfg, host);
                attempts.get(name)!.push({ placement: at, failure });
                d.log(`      ${name}: ${describePlacement(at)} failed: ${failureText(failure)}`);
                const tried = [...(recordedPlacement(cfg, name)?.tried ?? []), `${describePlacement(at)}: ${failureText(failure)}`].slice(-TRIED_KEPT);
                const triedHere = attempts.get(name)!.map((a) => a.placement);
                const to = !cfg.fallback.candidates ? undefined
                    // A cloud-wide quota (GCP GPUS_ALL_REGIONS) fails every candidate alike.
                    : failure.scope === "cloud" ? undefined
                    : nextPlacement(cfg, host, triedHere, o);
                if (to) {
                    next[name] = { ...bare(to), tried };
                    d.log(`      ${name}: moving to ${describePlacement(to)}`);
                    continue;
                }
                next[name] = { ...bare(at), tried };
                const others = stackHosts(cfg).filter((h) => h !== name && !skipped.includes(h));
                if (cfg.fallback.otherClouds && others.length > 0) {
                    skipped.push(name);
                    d.log(`      ${name}: candidates ran out; deploying without it (fallback.otherClouds): ${others.join(", ")} serve`);
                } else {
                    exhausted.push(name);
                }
            }
            await writePlacements(next);
            if (exhausted.length > 0) {
                d.log(deployTable(outcome(cfg.placements.skipped, exhausted)));
                throw new OpsError("no-capacity", `no capacity for ${exhausted.join(", ")}: ${exhausted.map((h) => whyStopped(cfg, hostNamed(h))).join("; ")}`);
            }
        }
    }

    // Record where every host with candidates runs, so a later up or a reordered list keeps it there.
    const record = hosts.filter((h) => !cfg.placements.skipped.includes(h.name) && candidatesOf(cfg, h.cloud).length > 1 && !recordedPlacement(cfg, h.name));
    if (record.length > 0) {
        const next: Record<string, unknown> = { ...cfg.placements };
        for (const h of record) next[h.name] = { ...bare(placementOf(cfg, h)), tried: [] };
        await writePlacements(next);
    }
    const placed = outcome(cfg.placements.skipped);
    d.log(`[3/3] done after ${round === 1 ? "1 up" : `${round} ups`}: ${up.resources.length} resource(s) changed by the last (${changeLine(up.resources, cfg.liveColor)})`);
    d.log("");
    d.log(deployTable(placed));
    d.log("");
    d.log(hostsTable(await d.stack.outputs()));
    return { hosts: placed, up, rounds: round };
}

/** Every host of the stack by name, in gpu-hosts:clouds order: the local engine, each cloud host, and "ssh" for the own servers. */
function stackHosts(cfg: StackConfig): string[] {
    return cfg.clouds.flatMap((k) => (isCloud(k) ? hostsOfCloud(cfg, k).map((h) => h.name) : [k]));
}

function whyStopped(cfg: StackConfig, host: CloudHost): string {
    if (!cfg.fallback.candidates) return `${host.name} may not move (gpu-hosts:fallback.candidates is false)`;
    return `every candidate of ${host.name} failed or a cloud-wide quota applies; add candidates (gpu-hosts:${host.cloud}.candidates)` +
        `${cfg.fallback.otherClouds ? "" : " or allow gpu-hosts:fallback.otherClouds"}, then run npm run deploy again`;
}

/**
 * The API a failed up waits for: every error of the update (each resource's, and the program's own,
 * such as a failed image lookup) is a cloud's "API not enabled yet"; undefined when any is something
 * else (the engine's closing "update failed" aside).
 */
export function apiNotReady(e: UpFailedError): ApiNotReady | undefined {
    const classify = (text: string) => CLOUD_NAMES.map((c) => driver(c).apiNotReady?.(text)).find((a) => a);
    const found: ApiNotReady[] = [];
    for (const r of e.errors) {
        const a = classify(r.message);
        if (!a) return undefined;
        found.push(a);
    }
    for (const text of e.programErrors) {
        const a = classify(text);
        if (a) found.push(a);
        else if (!ENGINE_SUMMARY.test(text)) return undefined;
    }
    return found[0];
}

/** The engine's own closing error on the stack after a resource failed, which says nothing of the cause. */
const ENGINE_SUMMARY = /^update failed$/;

/**
 * Waits out an API that is not enabled yet (apiNotReady): true after a wait, so the caller runs up
 * again; false for any other failure; past the bound, the engine's error with what to do.
 */
function apiWaiter(d: UpDeps, w: ApiWait): ((e: UpFailedError) => Promise<boolean>) & { waits(): number } {
    let waited = 0;
    let delay = w.firstDelayMs;
    let waits = 0;
    const duration = (ms: number) => (ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)} min` : ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`);
    const wait = async (e: UpFailedError): Promise<boolean> => {
        const a = apiNotReady(e);
        if (!a) return false;
        if (waited + delay > w.budgetMs) {
            throw new UpFailedError(
                `pulumi up on stack ${d.stack.name} failed: ${a.service} is still not enabled for project ${a.project} after ${duration(waited)} of waiting ` +
                `(403 "has not been used in project ${a.project} before or it is disabled"): enable it with \`${a.fix}\` (docs/clouds.md#prerequisites), ` +
                "then run npm run deploy again; if it is enabled, check that the project is the stack's and that the credentials may use it",
                e.errors, e.resources, e.programErrors);
        }
        d.log(`      ${a.service} is not enabled for project ${a.project} yet (403): enabled minutes ago and still propagating, or not enabled ` +
            `(\`${a.fix}\`); up again in ${duration(delay)} (waited ${duration(waited)} of at most ${duration(w.budgetMs)})`);
        await new Promise((r) => setTimeout(r, delay));
        waited += delay;
        waits++;
        delay = Math.min(delay * 2, w.maxDelayMs);
        return true;
    };
    return Object.assign(wait, { waits: () => waits });
}

/** Each failed cloud VM's capacity failure, by host name; undefined when any error of the update is something else. */
export function capacityFailures(e: UpFailedError): Map<string, CapacityFailure> | undefined {
    if (e.errors.length === 0) return undefined;
    const out = new Map<string, CapacityFailure>();
    for (const err of e.errors) {
        const vm = vmHostOf(err.urn);
        const failure = vm && classifyCapacity(vm.cloud, err.message);
        if (!vm || !failure) return undefined;
        out.set(vm.host, failure);
    }
    return out;
}
