// The containers of a host's app, as Docker reports them, against the ones the program creates.
// Names follow the components: AppStack `<host>-app` (index.ts) makes `-redis` and `-ollama`
// (infra/service/appStack.ts), each Slot `-<color>-api` and `-<color>-worker` (slot.ts), the Proxy
// `-proxy` and, with API keys on, its key service `-proxy-auth` (proxy.ts).
import { COLORS, Color } from "../../../infra/vocabulary";
import type { ContainerRole, ContainerStatus } from "./types";

/** The prefix every container of host `host` carries. */
export const containerPrefix = (host: string): string => `${host}-app-`;

/** The containers the program runs on host `host`; `auth` when the stack has API keys. */
export function expectedContainers(host: string, auth: boolean): string[] {
    const p = containerPrefix(host);
    return [
        `${p}proxy`,
        ...(auth ? [`${p}proxy-auth`] : []),
        `${p}redis`,
        `${p}ollama`,
        ...COLORS.flatMap((c) => [`${p}${c}-api`, `${p}${c}-worker`]),
    ];
}

/** Role and slot of a container from its name. */
export function roleOf(host: string, name: string): { role: ContainerRole; slot: Color | null } {
    const rest = name.startsWith(containerPrefix(host)) ? name.slice(containerPrefix(host).length) : name;
    const m = /^(blue|green)-(api|worker)$/.exec(rest);
    if (m) return { role: m[2] as ContainerRole, slot: m[1] as Color };
    const shared: Record<string, ContainerRole> = { proxy: "proxy", "proxy-auth": "auth", redis: "redis", ollama: "ollama" };
    return { role: shared[rest] ?? "other", slot: null };
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

/** Every container found, then every expected one not found ("missing"), each judged. */
export function containerStatuses(host: string, found: readonly Inspected[], expected: readonly string[]): ContainerStatus[] {
    const seen = new Map(found.map((c) => [c.name, c]));
    const order = [...expected, ...found.map((c) => c.name).filter((n) => !expected.includes(n)).sort()];
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
