// Promotion and rollback: point live traffic at the other slot, as one routing change per host.
// Health-gated before, previewed so nothing but the routes can change, verified after, and rolled
// back by itself when any of that fails. Plain async functions over StackOps + Checker, so every
// branch is testable without Pulumi or a network.
import { Color, NAMESPACE } from "../../infra/vocabulary";
import { ResourceChange, isRoutes, listChanges } from "./changes";
import {
    Deployed, Deps, assertLiveColorInSync, assertLivePinInSync, describeFailures, eachHost, readDeployed, releaseOf, runUp,
} from "./deployed";
import { isOpsError, OpsError } from "./errors";
import { Expect } from "./health";
import { readStackConfig } from "./stackConfig";

export interface SwapResult {
    readonly liveColor: Color;
    readonly previousColor: Color;
    /** What the swap's update changed (the routes of each host). */
    readonly changed: readonly ResourceChange[];
}

/** Points live traffic at the idle slot: health-gated, previewed, verified, rolled back by itself on failure. */
async function swap(d: Deps, mode: "promote" | "rollback"): Promise<SwapResult> {
    const name = d.stack.name;
    const step = (n: number, text: string) => d.log(`[${n}/5] ${text}`);
    const verb = mode === "promote" ? "promote" : "roll back";

    step(1, `reading outputs of stack ${name}`);
    const dep = readDeployed(await d.stack.outputs(), name);
    const cfg = await readStackConfig(d.stack);
    assertLiveColorInSync(name, cfg, dep);
    assertLivePinInSync(cfg, dep);
    const from = dep.liveColor;
    const to = dep.idleColor;
    d.log(`      live ${from}${releaseOf(dep, from)}, idle ${to}${releaseOf(dep, to)}; hosts: ${dep.hosts.map((h) => h.name).join(", ")}`);

    const n = dep.hosts.length;
    step(2, mode === "promote" ? `checking idle slot ${to} on ${n} host(s)` : `checking previous slot ${to} (now idle) on ${n} host(s)`);
    const expectTo: Expect = { slot: to, release: dep.slots[to].label };
    const unhealthy = await eachHost(d, dep.hosts, (h) => d.checker.health(h.idleHealthUrl, expectTo));
    if (unhealthy.length) {
        throw new OpsError("unhealthy", `refusing to ${verb}: slot ${to} is unhealthy on ${describeFailures(unhealthy)}; live traffic stays on ${from}, nothing was changed`);
    }

    step(3, `setting liveColor = ${to} and previewing: only each host's routes may change`);
    await d.stack.setConfig("liveColor", to);
    let planned: readonly ResourceChange[];
    try {
        planned = await d.stack.preview();
    } catch (e) {
        await d.stack.setConfig("liveColor", from);
        throw new OpsError(isOpsError(e) ? e.kind : "command", `${e instanceof Error ? e.message : String(e)} (liveColor set back to ${from}; nothing was deployed)`);
    }
    const extra = planned.filter((c) => !(isRoutes(c.urn) && c.change === "update"));
    if (extra.length) {
        await d.stack.setConfig("liveColor", from);
        throw new OpsError("pending-changes", `refusing to ${verb}: stack ${name} has changes pending beyond the swap (${listChanges(extra)}); a swap changes nothing but the routes. Apply them first with \`npm run up -- --stack ${name}\` (or a release), then ${verb} again; liveColor set back to ${from}, nothing was deployed`);
    }

    step(4, `running pulumi up (${planned.length} routes update(s))`);
    let changed: readonly ResourceChange[];
    try {
        changed = (await runUp(d, from)).resources;
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

    step(5, `verifying the live URL serves ${to} on ${n} host(s)`);
    const wrong = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expectTo, d.verifyTimeoutMs ?? 30_000));
    if (wrong.length) return rollBack(d, mode, dep, `the live URL does not serve ${to} on ${describeFailures(wrong)}`);

    d.log(`done: stack ${name} serves ${to}${releaseOf(dep, to)} live on every host; ${from} stays idle for \`npm run rollback -- --stack ${name}\``);
    return { liveColor: to, previousColor: from, changed };
}

/** Restores liveColor after a failed swap and always throws: rolled-back, or rollback-failed. */
async function rollBack(d: Deps, mode: "promote" | "rollback", dep: Deployed, why: string): Promise<never> {
    const from = dep.liveColor;
    const name = d.stack.name;
    d.log(`rolling back: ${why}`);
    d.log(`      setting liveColor = ${from} and running pulumi up`);
    try {
        await d.stack.setConfig("liveColor", from);
        await runUp(d, from);
    } catch (e) {
        throw new OpsError("rollback-failed", `${mode} failed (${why}) and the automatic rollback to ${from} failed too (${e instanceof Error ? e.message : String(e)}): traffic may be on either slot; inspect \`pulumi stack output --stack ${name}\` and config ${NAMESPACE}:liveColor before retrying`);
    }
    const expect: Expect = { slot: from, release: dep.slots[from].label };
    const still = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expect, d.verifyTimeoutMs ?? 30_000));
    if (still.length) {
        throw new OpsError("rollback-failed", `${mode} failed (${why}); liveColor is back to ${from} but the live URL still fails on ${describeFailures(still)}`);
    }
    throw new OpsError("rolled-back", `${mode} failed: ${why}; rolled back, live is ${from} again`);
}

/** Makes the idle slot live (health-gated, previewed, verified, self-rolling-back). */
export function promote(d: Deps): Promise<SwapResult> {
    return swap(d, "promote");
}

/** Makes the previous slot (the current idle one) live again, with the same gate and checks. */
export function rollback(d: Deps): Promise<SwapResult> {
    return swap(d, "rollback");
}
