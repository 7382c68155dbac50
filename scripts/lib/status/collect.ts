// Collects one status report: reads the outputs (the typed contract), then looks at every host at
// once: its machine (containers and GPUs, over SSH for remote hosts), /health and /metrics of both
// slots through the proxy, and, for cloud VMs, the price and the machine's age from the state. Every
// probe has its own timeout and each host a deadline, so a dead host is DOWN with its reason while
// the others are still reported. The probes are injected, so the assembly is tested without a host.
import type { StackConfig } from "../../../infra/config";
import type { Color, HostKind } from "../../../infra/vocabulary";
import { HostOutput, StackOutputs, isCloudHost, isRemoteHost } from "../../../infra/contract/outputs";
import { readDeployed } from "../deployed";
import { OpsError } from "../errors";
import { Access, HttpAnswer, httpGet, joinUrl, judgeHealth, transportReason } from "../health";
import type { StackState } from "../recover";
import { readStackConfig } from "../stackConfig";
import type { StackOps } from "../stackOps";
import { FleetPart, containerPrefix, containerStatuses, expectedContainers, parseInspect } from "./containers";
import { isCloud } from "../../../infra/clouds";
import { costOf, machineOf } from "./cost";
import { gpuStatus } from "./gpu";
import { slotMetrics } from "./metrics";
import { COMMAND_TIMEOUT_S, HOST_RUN_TIMEOUT_MS, HostLook, hostScript, lookFrom, runWithInput, sshArgv } from "./probe";
import { SCHEMA_VERSION } from "./types";
import type { CostStatus, GpuStatus, HostStatus, SlotHealth, SlotStatus, StatusReport, Totals } from "./types";
import { judgeHost, judgeStack } from "./verdict";

/** Each HTTP probe (/health, /metrics). */
export const HTTP_TIMEOUT_MS = 5000;
/** A host that has not been fully looked at by then is reported DOWN with what is missing. */
export const HOST_DEADLINE_MS = HOST_RUN_TIMEOUT_MS + 5000;
/** Reading outputs, config or state through the Pulumi CLI. */
export const STACK_READ_TIMEOUT_MS = 30_000;

/** The slice of a stack status reads. */
export type StatusStack = Pick<StackOps, "name" | "outputs" | "allConfig" | "exportState">;

/** A host as the probes need it. */
export interface ProbeTarget {
    readonly name: string;
    readonly kind: HostKind;
    /** The host's `ssh` output; undefined for local. */
    readonly ssh?: string;
    /** DOCKER_HOST for a local host whose stack names an engine; undefined for the CLI's own. */
    readonly dockerHost?: string;
}

/** What status does to the outside world, injectable for tests. */
export interface StatusProbes {
    /** GET a URL through the proxy (with the stack's ops key and pinned CAs); rejects on a transport failure. */
    get(url: string, timeoutMs: number, accept: string): Promise<HttpAnswer>;
    /** One look at the host's machine: its containers and GPUs. */
    look(host: ProbeTarget): Promise<HostLook>;
    now(): Date;
}

/** The real probes: HTTP with `access`, the host script locally or over the host's `ssh` output. */
export function realProbes(access: Access): StatusProbes {
    return {
        get: (url, timeoutMs, accept) => httpGet(url, timeoutMs, access, accept),
        async look(h) {
            const script = hostScript(containerPrefix(h.name));
            if (h.kind === "local") {
                const env = h.dockerHost ? { ...process.env, DOCKER_HOST: h.dockerHost } : process.env;
                return lookFrom(await runWithInput(["sh", "-s"], script, HOST_RUN_TIMEOUT_MS, env), "local", HOST_RUN_TIMEOUT_MS);
            }
            if (!h.ssh) return { ok: false, reason: "the outputs give no ssh command for this host" };
            return lookFrom(await runWithInput(sshArgv(h.ssh), script, HOST_RUN_TIMEOUT_MS), "ssh", HOST_RUN_TIMEOUT_MS);
        },
        now: () => new Date(),
    };
}

/** Resolves to `fallback()` when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, fallback: () => T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<T>((resolve) => {
        timer = setTimeout(() => resolve(fallback()), ms);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A stack read through the CLI, bounded: a hung CLI is a failure to answer, not a hang. */
async function bounded<T>(what: string, p: Promise<T>, stackName: string): Promise<T> {
    return within(p, STACK_READ_TIMEOUT_MS, () => {
        throw new OpsError("command", `${what} of stack ${stackName} took longer than ${STACK_READ_TIMEOUT_MS / 1000} s`);
    });
}

const text = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

/** GET /health of a slot, judged against the slot and release the outputs name. */
async function probeHealth(probes: StatusProbes, url: string, color: Color, label: string): Promise<SlotHealth> {
    let a: HttpAnswer;
    try {
        a = await probes.get(url, HTTP_TIMEOUT_MS, "application/json");
    } catch (e) {
        const error = `GET ${url}: ${transportReason(e as NodeJS.ErrnoException, HTTP_TIMEOUT_MS)}`;
        return { ok: false, httpStatus: null, status: null, slot: null, release: null, redis: null, ollama: null, error };
    }
    const verdict = judgeHealth(url, a, { slot: color, release: label });
    const body = a.json && typeof a.json === "object" ? (a.json as Record<string, unknown>) : {};
    return {
        ok: verdict.ok,
        httpStatus: a.status,
        status: text(body.status),
        slot: text(body.slot),
        release: text(body.release),
        redis: text(body.redis),
        ollama: text(body.ollama),
        error: verdict.ok ? null : verdict.reason,
    };
}

/** GET /metrics of a slot, read for that slot. */
async function probeMetrics(probes: StatusProbes, baseUrl: string, color: Color): Promise<Pick<SlotStatus, "metrics" | "metricsError">> {
    const url = joinUrl(baseUrl, "/metrics");
    try {
        const a = await probes.get(url, HTTP_TIMEOUT_MS, "text/plain;version=0.0.4;q=1,*/*;q=0.1");
        if (a.status !== 200) return { metrics: null, metricsError: `GET ${url} -> HTTP ${a.status}` };
        return { metrics: slotMetrics(a.text, color), metricsError: null };
    } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code ? transportReason(err, HTTP_TIMEOUT_MS) : err.message;
        return { metrics: null, metricsError: `GET ${url}: ${why}` };
    }
}

async function probeSlot(probes: StatusProbes, h: HostOutput, color: Color, role: "live" | "idle"): Promise<SlotStatus> {
    const slot = h.slots[color];
    const url = role === "live" ? h.liveUrl : h.idleUrl;
    const [health, metrics] = await Promise.all([
        probeHealth(probes, role === "live" ? h.healthUrl : h.idleHealthUrl, color, slot.label),
        probeMetrics(probes, url, color),
    ]);
    return { color, role, release: slot.release, label: slot.label, commit: slot.commit, url, health, ...metrics };
}

/** What the stack knows beyond the outputs, read once for all hosts. */
interface StackFacts {
    readonly state?: StackState;
    readonly stateError?: string;
    readonly dockerHost?: string;
    /** The stack's config, when a host needed it (the local engine; a cloud's section for its cost). */
    readonly cfg?: StackConfig;
    /** Why the config could not be read, when a host needed it. */
    readonly configError?: string;
}

/** The host's part of a fleet, from its outputs (a hub runs workers only with a GPU); undefined when the stack is none. */
const fleetPart = (h: HostOutput): FleetPart | undefined =>
    h.role === undefined ? undefined : { role: h.role, workers: h.role === "worker" || h.gpu !== "none" };

async function collectHost(probes: StatusProbes, name: string, h: HostOutput, o: StackOutputs, stackFacts: Promise<StackFacts>, auth: boolean): Promise<HostStatus> {
    const live = o.liveColor;
    const idle = o.idleColor;
    // The slots' HTTP probes need nothing more than the outputs: they start while the config and
    // state are still being read.
    const lookAtHost = async (): Promise<HostLook> => {
        const target: ProbeTarget = { name, kind: h.kind, ssh: isRemoteHost(h) ? h.ssh : undefined, dockerHost: (await stackFacts).dockerHost };
        return probes.look(target);
    };
    const [look, liveSlot, idleSlot, facts] = await Promise.all([
        lookAtHost().catch((e: unknown): HostLook => ({ ok: false, reason: e instanceof Error ? e.message : String(e) })),
        probeSlot(probes, h, live, "live"),
        probeSlot(probes, h, idle, "idle"),
        stackFacts,
    ]);
    const slots = [liveSlot, idleSlot];
    const containers = look.ok ? containerStatuses(name, parseInspect(look.docker.output), expectedContainers(name, auth, fleetPart(h))) : [];
    const gpu: GpuStatus = look.ok ? gpuStatus(look.gpu.exitCode, look.gpu.output, COMMAND_TIMEOUT_S) : { state: "unknown", note: "the host was not reached", devices: [] };
    const gpuExpected = h.gpu && h.gpu !== "none" ? h.gpu : null;
    const judged = judgeHost({ reachable: look.ok, unreachableReason: look.ok ? null : look.reason, slots, containers, gpu, gpuExpected });

    let cost: CostStatus | null = null;
    if (isCloudHost(h)) {
        const vm = machineOf(facts.state, name);
        cost = costOf(h, vm, facts.cfg?.[h.kind], probes.now());
        if (facts.stateError && cost) cost = { ...cost, note: [cost.note, `the state could not be read: ${facts.stateError}`].filter(Boolean).join("; ") };
    }
    const notes = [
        ...slots.filter((s) => s.health.ok && s.metricsError).map((s) => `slot ${s.color}: metrics unavailable (${s.metricsError})`),
        ...(cost?.note ? [`cost: ${cost.note}`] : []),
        ...(h.kind === "local" && facts.configError ? [`the config could not be read (${facts.configError}): looked at the docker CLI's own engine`] : []),
    ];
    const cloud = isCloudHost(h) ? h : undefined;
    return {
        name,
        kind: h.kind,
        verdict: judged.verdict,
        reasons: judged.reasons,
        notes,
        address: h.address,
        region: cloud ? cloud.region : null,
        zone: cloud && cloud.zone !== "none" ? cloud.zone : null,
        instanceType: cloud ? cloud.instanceType : null,
        market: cloud ? (cloud.spot ? "spot" : "on-demand") : null,
        ssh: isRemoteHost(h) ? h.ssh : null,
        reachable: look.ok,
        unreachableReason: look.ok ? null : look.reason,
        slots,
        containers,
        gpu,
        cost,
    };
}

/** A host past its deadline: DOWN, saying so. */
function lateHost(name: string, h: HostOutput, o: StackOutputs, deadlineMs: number): HostStatus {
    const reason = `no complete answer within ${deadlineMs / 1000} s`;
    const slot = (color: Color, role: "live" | "idle"): SlotStatus => ({
        color, role, release: h.slots[color].release, label: h.slots[color].label, commit: h.slots[color].commit,
        url: role === "live" ? h.liveUrl : h.idleUrl,
        health: { ok: false, httpStatus: null, status: null, slot: null, release: null, redis: null, ollama: null, error: reason },
        metrics: null, metricsError: reason,
    });
    return {
        name, kind: h.kind, verdict: "DOWN", reasons: [reason], notes: [], address: h.address,
        region: null, zone: null, instanceType: null, market: null, ssh: isRemoteHost(h) ? h.ssh : null,
        reachable: false, unreachableReason: reason,
        slots: [slot(o.liveColor, "live"), slot(o.idleColor, "idle")],
        containers: [], gpu: { state: "unknown", note: reason, devices: [] }, cost: null,
    };
}

/** Sum of the known values (rounded to 4 places, as prices are); null when none is known. */
function sum(values: readonly (number | null | undefined)[]): number | null {
    const known = values.filter((v): v is number => typeof v === "number");
    return known.length ? Math.round(known.reduce((a, b) => a + b, 0) * 10_000) / 10_000 : null;
}

export function totalsOf(hosts: readonly HostStatus[]): Totals {
    const slots = hosts.flatMap((h) => h.slots);
    const m = <K extends keyof NonNullable<SlotStatus["metrics"]>>(k: K) => sum(slots.map((s) => s.metrics?.[k] as number | null | undefined));
    return {
        hosts: hosts.length,
        ok: hosts.filter((h) => h.verdict === "OK").length,
        degraded: hosts.filter((h) => h.verdict === "DEGRADED").length,
        down: hosts.filter((h) => h.verdict === "DOWN").length,
        queueDepth: m("queueDepth"),
        completed5m: m("completed5m"),
        failed5m: m("failed5m"),
        completed60m: m("completed60m"),
        failed60m: m("failed60m"),
        usdPerHour: sum(hosts.map((h) => h.cost?.usdPerHour)),
        usdSinceCreated: sum(hosts.map((h) => h.cost?.usdSinceCreated)),
    };
}

/**
 * One status report of `stack`, probing with `probesFor(its outputs)` (the real ones take the ops
 * key and the hosts' CAs from them). Throws OpsError only when there is nothing to report on (no
 * stack, no outputs).
 */
export async function collectStatus(
    stack: StatusStack,
    probesFor: (outputs: StackOutputs) => StatusProbes,
    hostDeadlineMs = HOST_DEADLINE_MS,
): Promise<StatusReport> {
    const clockStart = Date.now();
    const raw = await bounded("reading the outputs", stack.outputs(), stack.name);
    const { outputs } = readDeployed(raw, stack.name);
    const probes = probesFor(outputs);
    const started = new Date(probes.now().getTime() - (Date.now() - clockStart));
    const auth = outputs.opsApiKey !== undefined || outputs.apiKey !== undefined;
    const hosts = Object.entries(outputs.hosts);

    const kinds = new Set(hosts.map(([, h]) => h.kind));
    const facts = readFacts(stack, kinds);
    const statuses = await Promise.all(hosts.map(([name, h]) =>
        within(collectHost(probes, name, h, outputs, facts, auth), hostDeadlineMs, () => lateHost(name, h, outputs, hostDeadlineMs))));
    const stackVerdict = judgeStack(statuses);
    return {
        schemaVersion: SCHEMA_VERSION,
        stack: stack.name,
        checkedAt: started.toISOString(),
        durationMs: Date.now() - clockStart,
        verdict: stackVerdict.verdict,
        reasons: stackVerdict.reasons,
        liveColor: outputs.liveColor,
        idleColor: outputs.idleColor,
        hosts: statuses,
        totals: totalsOf(statuses),
    };
}

/** What the hosts need beyond the outputs: the state (cloud VMs) and the config (the local engine, the clouds' sections); never throws. */
async function readFacts(stack: StatusStack, kinds: ReadonlySet<HostKind>): Promise<StackFacts> {
    const why = (e: unknown) => (e instanceof Error ? e.message : String(e));
    const stateRead: Promise<Pick<StackFacts, "state" | "stateError">> = [...kinds].some(isCloud)
        ? bounded("exporting the state", stack.exportState(), stack.name).then((state) => ({ state }), (e: unknown) => ({ stateError: why(e) }))
        : Promise.resolve({});
    const configRead: Promise<{ cfg?: StackConfig; configError?: string }> = kinds.has("local") || [...kinds].some(isCloud)
        ? bounded("reading the config", readStackConfig(stack), stack.name).then((cfg) => ({ cfg }), (e: unknown) => ({ configError: why(e) }))
        : Promise.resolve({});
    const [state, { cfg, configError }] = await Promise.all([stateRead, configRead]);
    return {
        ...state,
        ...(configError ? { configError } : {}),
        // "" is the docker CLI's own engine (infra/hosts/local.ts dockerCliEndpoint).
        dockerHost: cfg?.local.dockerHost || undefined,
        ...(cfg ? { cfg } : {}),
    };
}
