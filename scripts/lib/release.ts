// A release: pin it, deploy it into the idle slot only, prove it healthy with one real job. The
// live slot is never touched: a preview first refuses any update that would change the live slot or
// anything both slots share, and the update's own step events are checked again afterwards.
import { SlotConfig } from "../../infra/config";
import { Color, NAMESPACE } from "../../infra/vocabulary";
import { releaseLabel } from "../../infra/service/release";
import { configFor } from "../../infra/service/pin";
import { ResourceChange, countChanges, groupChanges, listChanges } from "./changes";
import {
    Deps, assertLiveColorInSync, assertLivePinInSync, describeFailures, eachHost, readDeployed, releaseOf, runUp,
} from "./deployed";
import { isOpsError, OpsError } from "./errors";
import { Expect } from "./health";
import { Pinner, appContextDir, readStackConfig } from "./stackConfig";
import { checkLogins } from "./logins";

export interface ReleaseOptions {
    /** The release's name: "workdir" or a git ref of the app context. */
    readonly release: string;
    /** Pins a release name to a commit in the stack's app context (scripts/lib/pin.ts pinnerFor: pins, and shares a shared stack's workdir pin). */
    readonly pin: Pinner;
    /** A note for the operator about the app context, logged before pinning (pin.ts dirtyNote). Defaults to none. */
    readonly note?: (contextDir: string) => string | undefined;
}

export interface ReleaseResult {
    readonly color: Color;
    readonly pinned: SlotConfig;
    /** What the update changed in the idle slot (nothing else may change). */
    readonly changed: readonly ResourceChange[];
}

/** Deploys a release into the idle slot only, waits for it to be healthy, then smoke-tests it. */
export async function release(d: Deps, o: ReleaseOptions): Promise<ReleaseResult> {
    const name = d.stack.name;
    const step = (n: number, text: string) => d.log(`[${n}/6] ${text}`);

    step(1, `reading outputs of stack ${name}`);
    const dep = readDeployed(await d.stack.outputs(), name);
    const cfg = await readStackConfig(d.stack);
    // A server that refuses the login stops the release here, in seconds, before the preview (logins.ts).
    await checkLogins(d, cfg);
    assertLiveColorInSync(name, cfg, dep);
    assertLivePinInSync(cfg, dep);
    const slots = cfg.slots;
    const contextDir = appContextDir(cfg);
    const live = dep.liveColor;
    const idle = dep.idleColor;
    d.log(`      live ${live}${releaseOf(dep, live)}, idle ${idle}${releaseOf(dep, idle)}; hosts: ${dep.hosts.map((h) => h.name).join(", ")}`);

    const note = o.note?.(contextDir);
    if (note) d.log(`note: ${note}`);
    const pinned = o.pin(contextDir, o.release);
    const label = releaseLabel(pinned);
    step(2, `pinning release ${o.release} to commit ${pinned.commit} and setting it on idle slot ${idle} (live ${live} stays on ${dep.slots[live].label})`);
    const previous = slots[idle];
    // The pin as the program will build it (decidePin): normally {release, commit}.
    const next = configFor(pinned, dep.outputs.pins?.[idle]);
    if (next.commit === "") d.log(`      (commit ${pinned.commit} is the config's earlier commit, set aside when the release name changed; the config names release ${o.release} alone, which the up pins to it again)`);
    await d.stack.setConfig("slots", { ...slots, [idle]: next });
    const restore = () => d.stack.setConfig("slots", { ...slots, [idle]: previous });

    step(3, "previewing: only the idle slot may change");
    let planned: readonly ResourceChange[];
    try {
        planned = await d.stack.preview();
    } catch (e) {
        await restore();
        throw new OpsError(isOpsError(e) ? e.kind : "command", `${e instanceof Error ? e.message : String(e)} (config ${NAMESPACE}:slots.${idle} set back; nothing was deployed)`);
    }
    const plan = groupChanges(planned, live);
    if (plan.live.length || plan.shared.length) {
        await restore();
        const what = [plan.live.length ? `the live slot ${live} (${listChanges(plan.live)})` : "", plan.shared.length ? `what both slots share (${listChanges(plan.shared)})` : ""]
            .filter(Boolean).join(" and ");
        throw new OpsError("pending-changes", `refusing to release: the update would also change ${what}. A release changes only the idle slot; ` +
            `apply other changes first with \`npm run up -- --stack ${name}\`. Config ${NAMESPACE}:slots.${idle} set back; nothing was deployed`);
    }
    d.log(`      idle slot ${idle}: ${countChanges(plan.idle)}${plan.idle.length ? ` (${listChanges(plan.idle)})` : " (already deployed)"}`);

    step(4, "running pulumi up");
    let changed: readonly ResourceChange[];
    try {
        changed = (await runUp(d, live)).resources;
    } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new OpsError(isOpsError(e) ? e.kind : "up-failed", `${msg} (config ${NAMESPACE}:slots.${idle} is now ${label}; fix and re-run the release, or set it back to ${previous.commit || "its previous value"})`);
    }
    const done = groupChanges(changed, live);
    if (done.live.length) {
        // The preview said otherwise; never claim the live slot was spared.
        throw new OpsError("live-changed", `the update changed the LIVE slot ${live}: ${listChanges(done.live)}. Check live traffic now (\`npm run status -- --stack ${name}\`)`);
    }

    const n = dep.hosts.length;
    const expect: Expect = { slot: idle, release: label };
    step(5, `waiting for idle slot ${idle} to be healthy with release ${label} on ${n} host(s)`);
    const unhealthy = await eachHost(d, dep.hosts, (h) => d.checker.waitHealthy(h.idleHealthUrl, expect, d.healthTimeoutMs ?? 300_000));
    if (unhealthy.length) {
        throw new OpsError("unhealthy", `release ${label} in idle slot ${idle} is unhealthy on ${describeFailures(unhealthy)}; the live slot ${live} was not changed`);
    }

    step(6, `smoke-testing idle slot ${idle} on ${n} host(s): one job through to completed, processed by ${idle} release ${label}`);
    const failed = await eachHost(d, dep.hosts, (h) => d.checker.smoke(h.idleUrl, expect));
    if (failed.length) {
        throw new OpsError("smoke-failed", `smoke test of release ${label} in idle slot ${idle} failed on ${describeFailures(failed)}; the live slot ${live} was not changed`);
    }

    d.log(`done: release ${label} is healthy in idle slot ${idle} on every host (changed: ${countChanges(done.idle)} in ${idle}, none in live ${live}, ${countChanges(done.shared)} shared); make it live with \`npm run promote -- --stack ${name}\``);
    return { color: idle, pinned, changed };
}
