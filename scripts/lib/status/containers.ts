// The containers of a host's app, as Docker reports them, against the ones the program creates.
// Their names come from the components' own naming (infra/contract/names.ts): the AppStack of the
// host makes redis and ollama, each Slot an api and a worker, the Proxy its Caddy and, with API keys
// on, its key service.
import { COLORS, Color } from "../../../infra/vocabulary";
import { CONTAINERS, appStackName, containerNameMatches, proxyName, slotName } from "../../../infra/contract/names";
import type { ContainerRole, ContainerStatus } from "./types";
import type { HostRole } from "../../../infra/config/sections/fleet";

/** The prefix every container of host `host` carries: its AppStack's name. */
export const containerPrefix = (host: string): string => `${appStackName(host)}-`;

interface Expected {
    readonly name: string;
    readonly role: ContainerRole;
    readonly slot: Color | null;
}

/** Every container the program may run on host `host`, in the order status lists them. */
function containersOf(host: string): Expected[] {
    const app = appStackName(host);
    const proxy = proxyName(app);
    return [
        { name: CONTAINERS.proxy(proxy), role: "proxy", slot: null },
        { name: CONTAINERS.auth(proxy), role: "auth", slot: null },
        { name: CONTAINERS.redis(app), role: "redis", slot: null },
        { name: CONTAINERS.ollama(app), role: "ollama", slot: null },
        ...COLORS.flatMap((c): Expected[] => [
            { name: CONTAINERS.api(slotName(app, c)), role: "api", slot: c },
            { name: CONTAINERS.worker(slotName(app, c)), role: "worker", slot: c },
        ]),
    ];
}

/** What a host runs in a fleet (infra/service/fleet.ts): the hub's workers only with a GPU; a worker host only Ollama and workers. */
export interface FleetPart {
    readonly role: HostRole;
    /** Whether it runs workers (and Ollama): every worker host, a hub with a GPU. */
    readonly workers: boolean;
}

const API_SIDE: readonly ContainerRole[] = ["proxy", "auth", "redis", "api"];
const WORKER_SIDE: readonly ContainerRole[] = ["ollama", "worker"];

/**
 * The containers the program runs on host `host`, by the names the program gives their resources
 * (the key service's container adds a generated suffix: containerNameMatches); `auth` when the stack
 * has API keys; in a fleet, only the host's part.
 */
export function expectedContainers(host: string, auth: boolean, fleet?: FleetPart): string[] {
    return containersOf(host)
        .filter((c) => auth || c.role !== "auth")
        .filter((c) => !fleet || (API_SIDE.includes(c.role) ? fleet.role === "hub" : !WORKER_SIDE.includes(c.role) || fleet.workers))
        .map((c) => c.name);
}

/** Role and slot of a container from its name ("other" for one the program does not make). */
export function roleOf(host: string, name: string): { role: ContainerRole; slot: Color | null } {
    const c = containersOf(host).find((x) => containerNameMatches(x.name, name));
    return c ? { role: c.role, slot: c.slot } : { role: "other", slot: null };
}

/**
 * The Go template for `docker inspect --format`: one JSON object per container, only the fields
 * status needs (not .State.Health.Log, which holds the probes' output).
 */
export const INSPECT_FORMAT =
    '{"name":{{json .Name}},"state":{{json .State.Status}},"health":{{if .State.Health}}{{json .State.Health.Status}}{{else}}null{{end}},' +
    '"exitCode":{{json .State.ExitCode}},"restarts":{{json .RestartCount}}}';

interface Inspected {
    readonly name: string;
    readonly state: string;
    readonly health: string | null;
    readonly exitCode: number | null;
    readonly restarts: number | null;
}

/** The lines INSPECT_FORMAT printed; lines that are not its JSON are ignored. */
export function parseInspect(text: string): Inspected[] {
    const out: Inspected[] = [];
    for (const line of text.split(/\r?\n/)) {
        if (!line.trim().startsWith("{")) continue;
        try {
            const o = JSON.parse(line) as Record<string, unknown>;
            if (typeof o.name !== "string" || typeof o.state !== "string") continue;
            out.push({
                name: o.name.replace(/^\//, ""),
                state: o.state,
                health: typeof o.health === "string" ? o.health : null,
                exitCode: typeof o.exitCode === "number" ? o.exitCode : null,
                restarts: typeof o.restarts === "number" ? o.restarts : null,
            });
        } catch {
            // not one of ours
        }
    }
    return out;
}

/**
 * Every expected container, under the name it was found by ("missing" under the expected name when
 * not found), then every other container found, each judged. A key service being replaced shows twice
 * for a moment: the second is listed among the others, with its role.
 */
export function containerStatuses(host: string, found: readonly Inspected[], expected: readonly string[]): ContainerStatus[] {
    const seen = new Map(found.map((c) => [c.name, c]));
    const taken = new Set<string>();
    const named = expected.map((e) => {
        const match = found.find((c) => !taken.has(c.name) && containerNameMatches(e, c.name));
        if (match) taken.add(match.name);
        return match ? match.name : e;
    });
    const order = [...named, ...found.map((c) => c.name).filter((n) => !taken.has(n)).sort()];
    return order.map((name) => {
        const c = seen.get(name);
        const { role, slot } = roleOf(host, name);
        if (!c) return { name, role, slot, state: "missing", health: null, exitCode: null, restarts: null, ok: false };
        const ok = c.state === "running" && (c.health === null || c.health === "healthy");
        return { name, role, slot, state: c.state, health: c.health, exitCode: c.exitCode, restarts: c.restarts, ok };
    });
}

/** "local-app-blue-worker exited (code 0)", "... unhealthy", "... missing": why a container is not ok. */
export function containerProblem(c: ContainerStatus): string {
    if (c.state === "missing") return `container ${c.name} is missing`;
    if (c.state !== "running") return `container ${c.name} is ${c.state}${c.exitCode !== null && c.state === "exited" ? ` (exit code ${c.exitCode})` : ""}`;
    return `container ${c.name} is ${c.health === "starting" ? "starting (health check not passed yet)" : c.health}`;
}
