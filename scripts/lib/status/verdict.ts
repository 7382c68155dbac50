// The verdict rules of `npm run status`, pure, in one place (test/unit/statusVerdict.test.ts).
//
// A host is
//   DOWN      when its live slot does not serve: /health on the live URL gives no answer, or not a
//             healthy one (Redis down included: the api answers 503 without it). A host whose engine
//             or SSH cannot be reached is DOWN too unless its live URL still answers healthy: then it
//             serves traffic and is DEGRADED ("cannot inspect"), so a laptop outside operatorCidrs does
//             not page anyone for a host that works.
//   DEGRADED  when anything else is wrong while it serves: the engine or SSH cannot be reached; the
//             idle slot is unhealthy; a URL answers from another slot or release than the outputs say;
//             a container of the app is missing, not running, unhealthy or still starting (a stopped
//             worker: jobs wait); a slot's Ollama breaker is open; a slot's api cannot read Redis; a
//             slot has no worker reporting; the outputs say the host has a GPU and nvidia-smi sees none.
//   OK        otherwise.
// What does not change a verdict is a note: /metrics unavailable (an app before it), no price.
// The stack is DOWN when no host serves live traffic (every host DOWN), DEGRADED when any host is
// not OK, OK otherwise. Exit codes: OK 0, DEGRADED 1, DOWN 2; a status that cannot answer at all (no
// stack, no outputs, no CLI) exits 2 too, with its one-line error on stderr and nothing on stdout.
import { containerProblem } from "./containers";
import type { HostStatus, SlotStatus, Verdict } from "./types";

export const EXIT_CODES: Readonly<Record<Verdict, number>> = { OK: 0, DEGRADED: 1, DOWN: 2 };

/** What the host verdict is decided on: the host's report, less what it says about itself. */
export type HostFacts = Pick<HostStatus, "reachable" | "unreachableReason" | "slots" | "containers" | "gpu"> & {
    /** The GPU model the outputs name for the host, or null when it has none ("none"). */
    readonly gpuExpected: string | null;
};

export interface Judgement {
    readonly verdict: Verdict;
    readonly reasons: readonly string[];
}

/** Answered 200 "healthy", so only its slot or release differ from the outputs. */
const servesOtherSlot = (s: SlotStatus) => s.health.httpStatus === 200 && s.health.status === "healthy";

export function judgeHost(f: HostFacts): Judgement {
    const down: string[] = [];
    const degraded: string[] = [];
    const [live, ...others] = f.slots;
    if (live && !live.health.ok) {
        const why = `live slot ${live.color}: ${live.health.error ?? "unhealthy"}`;
        (servesOtherSlot(live) ? degraded : down).push(why);
    }
    if (!f.reachable) {
        const why = `cannot inspect the host: ${f.unreachableReason ?? "no answer"}`;
        (live?.health.ok ? degraded : down).push(why);
    }
    for (const s of others) {
        if (!s.health.ok) degraded.push(`${s.role} slot ${s.color}: ${s.health.error ?? "unhealthy"}`);
    }
    if (f.reachable) for (const c of f.containers) if (!c.ok) degraded.push(containerProblem(c));
    for (const s of f.slots) {
        const m = s.metrics;
        if (!m) continue;
        if (m.breakerOpen === true) degraded.push(`slot ${s.color}: the Ollama circuit breaker is open (generation failing; jobs wait)`);
        if (m.redisUp === false) degraded.push(`slot ${s.color}: the api cannot read Redis`);
        if (m.workers === 0) degraded.push(`slot ${s.color}: no worker reports (jobs of this slot are not processed)`);
    }
    if (f.gpuExpected !== null && f.gpu.state === "none") degraded.push(`no GPU visible (the host should have ${f.gpuExpected}): ${f.gpu.note ?? "nvidia-smi lists none"}`);
    if (down.length) return { verdict: "DOWN", reasons: [...down, ...degraded] };
    if (degraded.length) return { verdict: "DEGRADED", reasons: degraded };
    return { verdict: "OK", reasons: [] };
}

/** The stack's verdict from its hosts'; reasons are prefixed with the host's name. */
export function judgeStack(hosts: readonly ({ readonly name: string } & Judgement)[]): Judgement {
    const reasons = hosts.flatMap((h) => h.reasons.map((r) => `host ${h.name}: ${r}`));
    if (hosts.length === 0 || hosts.every((h) => h.verdict === "DOWN")) {
        return { verdict: "DOWN", reasons: hosts.length ? ["no host serves live traffic", ...reasons] : ["the stack has no host"] };
    }
    if (hosts.some((h) => h.verdict !== "OK")) return { verdict: "DEGRADED", reasons };
    return { verdict: "OK", reasons: [] };
}
