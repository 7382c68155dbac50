// Promotion and rollback: live traffic moves to the other slot on every host first, then the stack
// records it. The switch is the program's own health-gated route command, which the script runs on
// each host itself (routes.ts); the record is `pulumi up --target` of each host's routes, whose
// command then finds the slot routed already and only checks it. So traffic moves seconds after the
// command starts, before any run of the program, and the state still changes by one resource per
// host, as before. Refused before anything moves when the idle slot is unhealthy, when config and
// deployment disagree, or when the config has changes no update applied (pending.ts); verified after
// the switch and after the record; and put back by itself when either fails. Plain async functions
// over StackOps, a Checker and a route runner, so every branch is testable without Pulumi or a network.
//
// Why the engine's preview and refresh are not needed: a targeted update runs the whole program, but
// every resource outside the targets gets a same step with its old inputs and outputs, its provider's
// Check skipped (pulumi/pulumi pkg/resource/deploy/step_generator.go: isTargeted, "If not targeted,
// stub out the provider check and use the old inputs directly"); only providers and the stack itself
// are targeted implicitly, and the stack's outputs are written at the end from the program's values
// (step_executor.go stackOutputsEvent), so liveColor and the URLs follow. The engine cannot change
// anything else, which is what the preview used to prove before the update. The Automation API's up is
// `pulumi up --yes --skip-preview` (automation/stack.js), without --refresh.
import { Color, NAMESPACE } from "../../infra/vocabulary";
import { PROXY_TYPE, appStackName, proxyName, routesName } from "../../infra/contract/names";
import { ResourceChange, isRoutes, listChanges, nameOf } from "./changes";
import {
    Deployed, Deps, HostFailure, assertLiveColorInSync, assertLivePinInSync, describeFailures, eachHost, readDeployed, releaseOf, runUp,
} from "./deployed";
import { isOpsError, OpsError } from "./errors";
import { Expect } from "./health";
import { HISTORY_DEPTH, configSinceLastUpdate } from "./pending";
import { RouteHost, RouteRunner, RouteSettings } from "./routes";
import { readStackConfig } from "./stackConfig";
import { UpFailedError } from "./engineErrors";

export interface SwapResult {
    readonly liveColor: Color;
    readonly previousColor: Color;
    /** What the recording update changed (the routes of each host). */
    readonly changed: readonly ResourceChange[];
    /** Seconds from the start until every host had switched. */
    readonly switchedAfterS: number;
    /** Seconds from the start until the switch was recorded and verified. */
    readonly totalS: number;
}

/** What a swap needs beyond the other scripts' dependencies. */
export interface SwapDeps extends Deps {
    /** The route runner for the stack's settings (routes.ts hostRoutes; a fake in tests). */
    readonly routes: (settings: RouteSettings) => RouteRunner;
    /** The clock, in ms. Defaults to Date.now. */
    readonly now?: () => number;
}

type Mode = "promote" | "rollback";

/**
 * The `--target` of host `host`'s routes command: a URN glob (`*` within a URN part, `**` across them:
 * pulumi/pulumi pkg/resource/deploy/deployment.go UrnTargets) naming the Proxy's routes command, local
 * or remote, whatever the stack and project.
 */
export function routesTarget(host: string): string {
    return `**$${PROXY_TYPE}$command:*:Command::${routesName(proxyName(appStackName(host)))}`;
}

/** Points live traffic at the idle slot on every host, then records it; put back by itself on failure. */
async function swap(d: SwapDeps, mode: Mode): Promise<SwapResult> {
    const now = d.now ?? Date.now;
    const started = now();
    const at = () => `+${((now() - started) / 1000).toFixed(1)} s`;
    const name = d.stack.name;
    const step = (n: number, text: string) => d.log(`[${n}/4] ${text}`);
    const verb = mode === "promote" ? "promote" : "roll back";

    step(1, `reading stack ${name}: outputs, config, the config of its last update`);
    const [rawOutputs, rawConfig, history] = await Promise.all([d.stack.outputs(), d.stack.allConfig(), d.stack.history(HISTORY_DEPTH)]);
    const dep = readDeployed(rawOutputs, name);
    const cfg = await readStackConfig({ name, allConfig: async () => rawConfig });
    assertLiveColorInSync(name, cfg, dep);
    assertLivePinInSync(cfg, dep);
    const from = dep.liveColor;
    const to = dep.idleColor;
    d.log(`      live ${from}${releaseOf(dep, from)}, idle ${to}${releaseOf(dep, to)}; hosts: ${dep.hosts.map((h) => h.name).join(", ")}`);
    const config = configSinceLastUpdate(history, rawConfig.all ?? {});
    if (!config.ok) {
        throw new OpsError("pending-changes", `refusing to ${verb}: stack ${name} may have changes pending beyond the swap: ${config.why}. A swap changes nothing but the routes; apply them first with \`npm run up -- --stack ${name}\` (or a release), then ${verb} again; nothing was changed`);
    }
    d.log(`      config as the last update (${config.since.startTime.toISOString()}) applied it`);

    const n = dep.hosts.length;
    step(2, mode === "promote" ? `checking idle slot ${to} on ${n} host(s)` : `checking previous slot ${to} (now idle) on ${n} host(s)`);
    const expectTo: Expect = { slot: to, release: dep.slots[to].label };
    const unhealthy = await eachHost(d, dep.hosts, (h) => d.checker.health(h.idleHealthUrl, expectTo));
    if (unhealthy.length) {
        throw new OpsError("unhealthy", `refusing to ${verb}: slot ${to} is unhealthy on ${describeFailures(unhealthy)}; live traffic stays on ${from}, nothing was changed`);
    }

    const hosts = routeHosts(dep);
    const run = d.routes({ port: cfg.app.port, healthPath: cfg.app.healthPath, dockerHost: cfg.local.dockerHost });
    step(3, `switching live traffic to ${to} on ${n} host(s): the routes command, run on each host (${at()})`);
    const failed = await switchHosts(d, hosts, run, to);
    if (failed.length) {
        const switched = hosts.filter((h) => !failed.some((f) => f.host === h.name));
        if (switched.length === 0) {
            throw new OpsError("unhealthy", `refusing to ${verb}: the switch to ${to} failed on ${describeFailures(failed)}; live traffic stays on ${from}, nothing was changed`);
        }
        return switchBack(d, mode, dep, run, `the switch to ${to} failed on ${describeFailures(failed)}`, { configSet: false });
    }
    const switchedAfterS = (now() - started) / 1000;
    d.log(`      verifying the live URL serves ${to} on ${n} host(s) (${at()})`);
    const wrong = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expectTo, d.verifyTimeoutMs ?? 30_000));
    if (wrong.length) return switchBack(d, mode, dep, run, `the live URL does not serve ${to} on ${describeFailures(wrong)}`, { configSet: false });

    step(4, `recording it: liveColor = ${to}, pulumi up --target each host's routes (${at()})`);
    await d.stack.setConfig("liveColor", to);
    let changed: readonly ResourceChange[];
    try {
        changed = (await runUp(d, from, { targets: hosts.map((h) => routesTarget(h.name)) })).resources;
    } catch (e) {
        if (d.signal?.aborted) {
            throw new OpsError("up-failed", `interrupted while recording the switch: live traffic is on ${to} on every host and config liveColor is ${to}, but the stack may not say so yet; run \`npm run up -- --stack ${name}\` to finish recording it`);
        }
        const why = `recording the switch failed: ${e instanceof Error ? e.message : String(e)}`;
        // An update that never started (another one holds the lock) recorded nothing; any other
        // failure may have recorded some hosts' routes, which the rollback's own record puts back.
        const recorded = e instanceof UpFailedError && e.resources.length > 0;
        const busy = isOpsError(e, "concurrent-update");
        if (busy || !recorded) return switchBack(d, mode, dep, run, why, { configSet: true, ...(busy ? { kind: "concurrent-update" as const } : {}) });
        return rollBack(d, mode, dep, run, why);
    }
    const extra = changed.filter((c) => !(isRoutes(c.urn) && c.change === "update"));
    const missing = hosts.filter((h) => !changed.some((c) => isRoutes(c.urn) && nameOf(c.urn) === routesName(proxyName(appStackName(h.name)))));
    if (missing.length) return rollBack(d, mode, dep, run, `the update recorded no routes change on host(s) ${missing.map((h) => h.name).join(", ")}`);
    if (extra.length) d.log(`      note: the update also changed ${listChanges(extra)} (providers are always part of an update)`);

    const still = await eachHost(d, dep.hosts, (h) => d.checker.health(h.liveHealthUrl, expectTo));
    if (still.length) return rollBack(d, mode, dep, run, `after the record, the live URL does not serve ${to} on ${describeFailures(still)}`);
    const totalS = (now() - started) / 1000;
    d.log(`done: stack ${name} serves ${to}${releaseOf(dep, to)} live on every host (switched after ${switchedAfterS.toFixed(1)} s, recorded after ${totalS.toFixed(1)} s); ${from} stays idle for \`npm run rollback -- --stack ${name}\``);
    return { liveColor: to, previousColor: from, changed, switchedAfterS, totalS };
}

/** Each host's name, kind and ssh command, from the parsed outputs. */
function routeHosts(dep: Deployed): RouteHost[] {
    return dep.hosts.map((h) => {
        const out = dep.outputs.hosts[h.name];
        return { name: h.name, kind: out.kind, ...("ssh" in out ? { ssh: out.ssh } : {}) };
    });
}

/** Runs the route command for `color` on every host at once; logs each, returns the failures. */
async function switchHosts(d: Deps, hosts: readonly RouteHost[], run: RouteRunner, color: Color): Promise<HostFailure[]> {
    const results = await Promise.all(hosts.map(async (h) => {
        try {
            return await run(h, color);
        } catch (e) {
            return { ok: false as const, reason: e instanceof Error ? e.message : String(e) };
        }
    }));
    const fails: HostFailure[] = [];
    results.forEach((r, i) => {
        const host = hosts[i].name;
        if (r.ok) {
            d.log(`      ${host}: ${r.summary}`);
        } else {
            d.log(`      ${host}: FAILED routes: ${r.reason}`);
            fails.push({ host, check: "routes", reason: r.reason });
        }
    });
    return fails;
}

/**
 * Puts live traffic back on the previous slot on every host when nothing was recorded: the route
 * command for it, run on each host again, then the live URL checked, and liveColor set back if it had
 * been set. Always throws: rolled-back (or `o.kind`), or rollback-failed.
 */
async function switchBack(d: SwapDeps, mode: Mode, dep: Deployed, run: RouteRunner, why: string, o: { readonly configSet: boolean; readonly kind?: "concurrent-update" }): Promise<never> {
    const from = dep.liveColor;
    const name = d.stack.name;
    d.log(`switching back: ${why}`);
    const failed = await switchHosts(d, routeHosts(dep), run, from);
    const expect: Expect = { slot: from, release: dep.slots[from].label };
    const still = failed.length ? failed : await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.liveHealthUrl, expect, d.verifyTimeoutMs ?? 30_000));
    if (o.configSet) await d.stack.setConfig("liveColor", from);
    if (still.length) {
        throw new OpsError("rollback-failed", `${mode} failed (${why}) and switching back to ${from} failed too on ${describeFailures(still)}: traffic may be on either slot; the stack still says ${from}: run \`npm run up -- --stack ${name}\` to route every host as it says`);
    }
    throw new OpsError(o.kind ?? "rolled-back", `${mode} failed: ${why}; switched back, live is ${from} again on every host and nothing was recorded`);
}

/**
 * Restores the previous slot after the record started: the route command for it on every host, then
 * liveColor set back and recorded as the switch was (some hosts' routes may have been), then the live
 * URL checked. Always throws: rolled-back, or rollback-failed.
 */
async function rollBack(d: SwapDeps, mode: Mode, dep: Deployed, run: RouteRunner, why: string): Promise<never> {
    const from = dep.liveColor;
    const name = d.stack.name;
    d.log(`rolling back: ${why}`);
    try {
        const failed = await switchHosts(d, routeHosts(dep), run, from);
        if (failed.length) throw new Error(`switching back failed on ${describeFailures(failed)}`);
        d.log(`      setting liveColor = ${from} and recording it`);
        await d.stack.setConfig("liveColor", from);
        await runUp(d, from, { targets: dep.hosts.map((h) => routesTarget(h.name)) });
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

/** Makes the idle slot live (health-gated, switched on each host, verified, recorded, self-rolling-back). */
export function promote(d: SwapDeps): Promise<SwapResult> {
    return swap(d, "promote");
}

/** Makes the previous slot (the current idle one) live again, with the same gate, switch, checks and record. */
export function rollback(d: SwapDeps): Promise<SwapResult> {
    return swap(d, "rollback");
}
