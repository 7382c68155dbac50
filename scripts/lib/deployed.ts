// What the release, swap and status scripts share: their dependencies, what the stack says is
// deployed (read through the outputs' one parser), per-host checks, and the checks that config
// (read through readStackConfig) agrees with the deployment before an update may run.
import { StackConfig } from "../../infra/config";
import { decidePin } from "../../infra/service/pin";
import { Color, NAMESPACE, otherColor } from "../../infra/vocabulary";
import { SlotsOutput, StackOutputs } from "../../infra/contract/outputs";
import { OutputsError, parseStackOutputs } from "../../infra/contract/parseOutputs";
import { countChanges, groupChanges, listChanges } from "./changes";
import { OpsError } from "./errors";
import { Checker, CheckResult } from "./health";
import { StackOps, UpOptions, UpSummary } from "./stackOps";

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

/** One host's endpoints. */
export interface HostTarget {
    readonly name: string;
    readonly liveUrl: string;
    readonly idleUrl: string;
    readonly liveHealthUrl: string;
    readonly idleHealthUrl: string;
}

/** What the stack says is deployed. */
export interface Deployed {
    readonly outputs: StackOutputs;
    readonly liveColor: Color;
    readonly idleColor: Color;
    readonly slots: SlotsOutput;
    /** The hosts that serve the slots' URLs: every host, or a fleet's hub alone (its worker hosts serve none). */
    readonly hosts: readonly HostTarget[];
}

/** The stack's outputs as the scripts use them; every missing or malformed output at once. */
export function readDeployed(raw: Readonly<Record<string, unknown>>, stackName: string): Deployed {
    let outputs: StackOutputs;
    try {
        outputs = parseStackOutputs(raw);
    } catch (e) {
        if (!(e instanceof OutputsError)) throw e;
        if (e.missing.length) {
            throw new OpsError("missing-output", `stack ${stackName} has no output ${e.missing.map((k) => `"${k}"`).join(", ")}: deploy it with this version of gpu-hosts (\`npm run up -- --stack ${stackName}\`) first`);
        }
        throw new OpsError("bad-output", `stack ${stackName} has unexpected outputs: ${e.problems.join("; ")}`);
    }
    // A fleet's worker hosts report the hub's URLs: checking them again would only ask the hub twice.
    const hosts = Object.entries(outputs.hosts).filter(([, h]) => h.role !== "worker").map(([name, h]) => ({
        name, liveUrl: h.liveUrl, idleUrl: h.idleUrl, liveHealthUrl: h.healthUrl, idleHealthUrl: h.idleHealthUrl,
    }));
    return { outputs, liveColor: outputs.liveColor, idleColor: outputs.idleColor, slots: outputs.slots, hosts };
}

export interface HostFailure {
    readonly host: string;
    readonly check: string;
    readonly reason: string;
}

export const describeFailures = (fails: readonly HostFailure[]) =>
    fails.map((f) => `host ${f.host} (check "${f.check}": ${f.reason})`).join("; ");

/** " (release workdir@3f2a9c1b0d4e)" for messages. */
export const releaseOf = (d: Deployed, c: Color) => ` (release ${d.slots[c].label})`;

/** Runs one check per host in parallel, logs each verdict in host order, returns the failures. */
export async function eachHost(d: Deps, hosts: readonly HostTarget[], check: (h: HostTarget) => Promise<CheckResult>): Promise<HostFailure[]> {
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

/** Runs `pulumi up` (of `opts.targets` only, when given) and logs what it changed, per slot and shared. */
export async function runUp(d: Deps, live: Color, opts?: UpOptions): Promise<UpSummary> {
    const r = await d.stack.up(opts);
    const g = groupChanges(r.resources, live);
    d.log(`      pulumi up done: live slot ${live}: ${countChanges(g.live)}; idle slot ${otherColor(live)}: ${countChanges(g.idle)}; shared: ${countChanges(g.shared)}`);
    for (const [what, list] of [["live", g.live], ["idle", g.idle], ["shared", g.shared]] as const) {
        if (list.length) d.log(`        ${what}: ${listChanges(list)}`);
    }
    return r;
}

/** Refuses when config already disagrees with what is deployed: up would apply that change too. */
export function assertLiveColorInSync(stackName: string, cfg: Pick<StackConfig, "liveColor">, dep: Deployed): void {
    if (cfg.liveColor !== dep.liveColor) {
        throw new OpsError("config", `config ${NAMESPACE}:liveColor is "${cfg.liveColor}" but stack ${stackName} serves "${dep.liveColor}" live: an earlier change was never applied; run \`npm run up -- --stack ${stackName}\` or set liveColor back to "${dep.liveColor}" first`);
    }
}

/**
 * Refuses when the live slot would not keep what it runs: its config names another commit, or a
 * release name the next up would pin anew (infra/service/pin.ts decidePin against the stack's kept
 * pins). An update would deploy that change to live traffic.
 */
export function assertLivePinInSync(cfg: Pick<StackConfig, "slots">, dep: Deployed): void {
    const live = dep.liveColor;
    const runs = dep.slots[live];
    const d = decidePin(cfg.slots[live], dep.outputs.pins?.[live]);
    if (d.kind === "new") {
        throw new OpsError("config", `config ${NAMESPACE}:slots.${live}.release is ${JSON.stringify(cfg.slots[live].release)} but live slot ${live} runs ${runs.commit} (${runs.label}): an update would pin that release and change the live slot; set it back first`);
    }
    if (d.commit !== runs.commit) {
        throw new OpsError("config", `config ${NAMESPACE}:slots.${live}.commit is ${JSON.stringify(cfg.slots[live].commit)} but live slot ${live} runs ${runs.commit} (${runs.label}): an update would change the live slot; set it back first`);
    }
}
