// A deployed stack in memory, for the release/swap logic: config and outputs, a history of updates
// with the config each ran with, and an engine that plans and applies exactly what the real program
// would change for a config change (the routes of every host for a liveColor flip; a slot's image,
// containers and image commands for a new pin, decided as the program decides it:
// infra/service/pin.ts decidePin against the pins it kept), with URNs shaped as the engine writes
// them, limited to the targets of a targeted update as the engine limits it. Each host's proxy routes
// traffic by its own marker (`routes`), which an update's routes command or a swap's own route
// command sets. Plus a Checker and a route runner scripted over the same model.
import { otherColor } from "../../infra/vocabulary";
import { PinRecord, decidePin } from "../../infra/service/pin";
import { ResourceChange } from "../../scripts/lib/changes";
import { Checker, CheckResult, Color, Expect } from "../../scripts/lib/health";
import { Deps } from "../../scripts/lib/deployed";
import { RouteHost, RouteResult, RouteRunner, RouteSettings } from "../../scripts/lib/routes";
import { ConfigEntry, StackOps, UpOptions, UpSummary, UpdateRecord } from "../../scripts/lib/stackOps";
import { SwapDeps } from "../../scripts/lib/swap";

export const HOSTS = {
    local: { live: "http://127.0.0.1:8080", idle: "http://127.0.0.1:8081" },
    gcp: { live: "https://34.1.2.3:8080", idle: "https://34.1.2.3:8081" },
};

export const commit = (c: string) => c.repeat(40).slice(0, 40);
export const A1 = { release: "v1", commit: commit("a1") };
export const B2 = { release: "v2", commit: commit("b2") };
export const label = (s: { release: string; commit: string }) => `${s.release}@${s.commit.slice(0, 12)}`;

const urn = (chain: string, name: string) => `urn:pulumi:dev::gpu-hosts::${chain}::${name}`;
export const routesUrn = (host: string) => urn("gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:local:Command", `${host}-app-proxy-routes`);
export const slotUrns = (host: string, c: Color) => [
    urn("gpu-hosts:app:AppStack$gpu-hosts:app:Slot$docker:index/image:Image", `${host}-app-${c}-image`),
    urn("gpu-hosts:app:AppStack$gpu-hosts:app:Slot$docker:index/container:Container", `${host}-app-${c}-api`),
    urn("gpu-hosts:app:AppStack$gpu-hosts:app:Slot$docker:index/container:Container", `${host}-app-${c}-worker`),
];
export const sharedUrn = (host: string, what: string) => urn(`gpu-hosts:app:AppStack$docker:index/container:Container`, `${host}-app-${what}`);

type Slot = { release: string; commit: string };

export class StandInStack implements StackOps {
    readonly name = "dev";
    config: Record<string, string | undefined>;
    deployed: { liveColor: Color; slots: Record<Color, Slot> };
    /** The pins the stack kept (its `pins` output); a stack deployed with commits in its config to begin with. */
    kept: Record<Color, PinRecord>;
    /** What a release name resolves to now, for a slot the program pins itself (decidePin "new"). */
    refs: Record<string, string> = {};
    calls: string[] = [];
    ups = 0;
    previews = 0;
    /** Errors the next up() calls throw, in order. */
    upErrors: Error[] = [];
    /** Changes pending beyond what config implies (e.g. an edited key service), planned and applied once. */
    pending: ResourceChange[] = [];
    /** Changes the next up makes although its preview did not show them (an engine surprise). */
    surprise: ResourceChange[] = [];
    dropOutputs: string[] = [];
    /** The marker each host's proxy routes by: what its live port serves. */
    routes: Record<string, Color>;
    /** The operations so far, newest first, as `pulumi stack history` lists them. */
    history_: UpdateRecord[];
    /** The targets each up was limited to ([] for a whole update). */
    upTargets: string[][] = [];

    constructor(live: Color = "blue", slots: Record<Color, Slot> = { blue: A1, green: B2 }) {
        this.deployed = { liveColor: live, slots: { ...slots } };
        this.kept = { blue: { ...slots.blue, configCommit: slots.blue.commit }, green: { ...slots.green, configCommit: slots.green.commit } };
        this.config = { liveColor: live, slots: JSON.stringify(slots) };
        this.routes = Object.fromEntries(Object.keys(HOSTS).map((h) => [h, live]));
        this.history_ = [this.record("succeeded")];
    }

    /** Every key as the CLI gives it: namespaced, with its secret flag. */
    private configEntries(): Record<string, ConfigEntry> {
        return Object.fromEntries(Object.entries(this.config).filter((e): e is [string, string] => e[1] !== undefined)
            .map(([k, v]) => [`gpu-hosts:${k}`, { value: v, secret: false }]));
    }

    private record(result: string): UpdateRecord {
        return { kind: "update", result, startTime: new Date(Date.UTC(2026, 10, 1, this.ups)), config: this.configEntries() };
    }

    async allConfig() {
        this.calls.push("allConfig");
        const values = Object.fromEntries(Object.entries(this.config).filter((e): e is [string, string] => e[1] !== undefined));
        return { values, secrets: [], all: this.configEntries() };
    }

    async history(pageSize: number): Promise<readonly UpdateRecord[]> {
        this.calls.push("history");
        return this.history_.slice(0, pageSize);
    }

    async outputs(): Promise<Record<string, unknown>> {
        this.calls.push("outputs");
        const { liveColor, slots } = this.deployed;
        const slotsOut = Object.fromEntries((["blue", "green"] as const).map((c) => [c, { ...slots[c], label: label(slots[c]), image: `x-${c}:${slots[c].commit.slice(0, 8)}` }]));
        const common = (h: { live: string; idle: string }) => ({
            gpu: "none", address: new URL(h.live).hostname, liveUrl: h.live, idleUrl: h.idle,
            healthUrl: `${h.live}/health`, idleHealthUrl: `${h.idle}/health`, docsUrl: `${h.live}/docs`, apiUrl: h.live,
            liveColor, idleColor: otherColor(liveColor), slots: slotsOut,
        });
        const hosts = {
            local: { kind: "local", ...common(HOSTS.local) },
            gcp: {
                kind: "gcp", ...common(HOSTS.gcp), gpu: "NVIDIA T4", region: "us-central1", zone: "us-central1-a", instanceType: "n1-standard-4", spot: true,
                ssh: "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-gcp -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-dev-gcp.known_hosts ubuntu@34.1.2.3",
            },
        };
        const out: Record<string, unknown> = {
            liveColor, idleColor: otherColor(liveColor), liveUrl: HOSTS.local.live, idleUrl: HOSTS.local.idle, apiUrl: HOSTS.local.live,
            docsUrl: `${HOSTS.local.live}/docs`, healthUrl: `${HOSTS.local.live}/health`, model: "qwen2.5:0.5b", image: slotsOut[liveColor].image,
            slots: slotsOut, pins: this.kept, hosts, hostImages: Object.values(slotsOut).map((s) => s.image), caRootCert: null,
        };
        for (const k of this.dropOutputs) delete out[k];
        return out;
    }

    async setConfig(key: string, value: string | object): Promise<void> {
        const v = typeof value === "string" ? value : JSON.stringify(value);
        this.calls.push(`setConfig ${key} ${v}`);
        this.config[key] = v;
    }

    /** The config's slots, a commit left out read as "" (as the program's loader reads it). */
    private configSlots(): Record<Color, Slot> {
        if (!this.config.slots) return this.deployed.slots;
        const s = JSON.parse(this.config.slots);
        return { blue: { release: s.blue.release, commit: s.blue.commit ?? "" }, green: { release: s.green.release, commit: s.green.commit ?? "" } };
    }

    /** Each slot's commit on the next update, as the program decides it. */
    private nextCommits(): Record<Color, string> {
        const slots = this.configSlots();
        const next = (c: Color): string => {
            const d = decidePin(slots[c], this.kept[c]);
            if (d.kind !== "new") return d.commit;
            const commit = this.refs[slots[c].release];
            if (!commit) throw new Error(`stand-in: the program would pin release ${slots[c].release} of slot ${c}, which no test resolves`);
            return commit;
        };
        return { blue: next("blue"), green: next("green") };
    }

    /** What the program would change for the current config. */
    private plan(): ResourceChange[] {
        const changes: ResourceChange[] = [...this.pending];
        if (this.config.liveColor && this.config.liveColor !== this.deployed.liveColor) {
            for (const h of Object.keys(HOSTS)) changes.push({ urn: routesUrn(h), change: "update" });
        }
        const next = this.nextCommits();
        for (const c of ["blue", "green"] as const) {
            if (next[c] !== this.deployed.slots[c].commit) {
                for (const h of Object.keys(HOSTS)) for (const u of slotUrns(h, c)) changes.push({ urn: u, change: "replace" });
            }
        }
        return changes;
    }

    async preview(): Promise<readonly ResourceChange[]> {
        this.calls.push("preview");
        this.previews++;
        return this.plan();
    }

    async up(opts: UpOptions = {}): Promise<UpSummary> {
        const targets = opts.targets ?? [];
        this.calls.push(targets.length ? `up --target ${targets.map((t) => t.slice(t.lastIndexOf("::") + 2)).join(" ")}` : "up");
        this.upTargets.push([...targets]);
        this.ups++;
        const err = this.upErrors.shift();
        if (err) {
            this.history_.unshift(this.record("failed"));
            throw err;
        }
        // A targeted update changes its targets only (the engine gives every other resource its old
        // state): the routes of the targeted hosts, and nothing that is pending elsewhere.
        const targeted = (urn: string) => targets.length === 0 || targets.some((t) => urn.endsWith(t.slice(t.lastIndexOf("::"))));
        const resources = [...this.plan(), ...this.surprise].filter((c) => targeted(c.urn));
        this.pending = this.pending.filter((c) => !targeted(c.urn));
        this.surprise = [];
        const live = (this.config.liveColor ?? this.deployed.liveColor) as Color;
        for (const h of Object.keys(HOSTS)) if (targeted(routesUrn(h))) this.routes[h] = live;
        this.deployed.liveColor = live;
        // The slots change only in a whole update: a targeted one gives them their old state.
        const slots = this.configSlots();
        const next = this.nextCommits();
        for (const c of targets.length === 0 ? (["blue", "green"] as const) : []) {
            this.deployed.slots[c] = { release: slots[c].release, commit: next[c] };
            this.kept[c] = { release: slots[c].release, commit: next[c], configCommit: slots[c].commit };
        }
        this.history_.unshift(this.record("succeeded"));
        return { changes: { update: resources.length, same: 30 }, resources };
    }

    // Release and swap never touch the state, refresh or destroy; recover's tests cover those.
    async exportState(): Promise<never> { throw new Error("must not export the state"); }
    async importState(): Promise<never> { throw new Error("must not import a state"); }
    async refresh(): Promise<never> { throw new Error("must not refresh"); }
    async destroy(): Promise<never> { throw new Error("must not destroy"); }

    get setConfigCalls(): string[] {
        return this.calls.filter((c) => c.startsWith("setConfig"));
    }
}

/** Scripted Checker: answers from the stand-in's deployed state, with injectable faults. */
export class ScriptedChecker implements Checker {
    /** Slot colors whose api reports a failing check. */
    unhealthy: Partial<Record<Color, { check: string; reason: string; hosts?: string[] }>> = {};
    /** After a flip the proxy keeps serving this color on the live port (a broken route). */
    stuckLive?: Color;
    /** Smoke job outcome per host. */
    smokeFails: Record<string, { check: string; reason: string }> = {};
    probes: string[] = [];
    smokes: string[] = [];
    smokeExpects: (Expect | undefined)[] = [];

    constructor(private readonly stack: StandInStack) {}

    private served(url: string): { host: string; color: Color } {
        for (const [host, h] of Object.entries(HOSTS)) {
            if (url.startsWith(h.live)) return { host, color: this.stuckLive ?? this.stack.routes[host] };
            if (url.startsWith(h.idle)) return { host, color: otherColor(this.stack.routes[host]) };
        }
        throw new Error(`stand-in has no host for ${url}`);
    }

    async health(url: string, expect: Expect): Promise<CheckResult> {
        this.probes.push(url);
        const { host, color } = this.served(url);
        const bad = this.unhealthy[color];
        if (bad && (!bad.hosts || bad.hosts.includes(host))) return { ok: false, check: bad.check, reason: bad.reason };
        if (expect.slot && expect.slot !== color) return { ok: false, check: "slot", reason: `answered from slot "${color}", expected "${expect.slot}"` };
        const rel = label(this.stack.deployed.slots[color]);
        if (expect.release !== undefined && expect.release !== rel) return { ok: false, check: "release", reason: `answered release "${rel}", expected "${expect.release}"` };
        return { ok: true, summary: `healthy, slot ${color}, release ${rel}` };
    }

    waitHealthy(url: string, expect: Expect): Promise<CheckResult> {
        return this.health(url, expect);
    }

    async smoke(baseUrl: string, expect?: Expect): Promise<CheckResult> {
        this.smokes.push(baseUrl);
        this.smokeExpects.push(expect);
        const { host } = this.served(baseUrl);
        const f = this.smokeFails[host];
        return f ? { ok: false, ...f } : { ok: true, summary: "job j-1 completed in 3.2 s" };
    }
}

/** The swap's route command on each host, scripted: it sets the host's marker, or fails as told. */
export class ScriptedRoutes {
    /** "local green" per run, in order. */
    calls: string[] = [];
    /** The settings the swap handed the runner. */
    settings?: RouteSettings;
    /** Why the command fails on a host when switching to a color, if it does. */
    fails: Partial<Record<string, Partial<Record<Color, string>>>> = {};

    constructor(private readonly stack: StandInStack) {}

    runner(settings: RouteSettings): RouteRunner {
        this.settings = settings;
        return async (host: RouteHost, color: Color): Promise<RouteResult> => {
            this.calls.push(`${host.name} ${color}`);
            this.stack.calls.push(`routes ${host.name} ${color}`);
            const why = this.fails[host.name]?.[color];
            if (why) return { ok: false, reason: why };
            this.stack.routes[host.name] = color;
            return { ok: true, summary: `live traffic now served by ${color} (api-${color}:8000)` };
        };
    }
}

export function setup(live: Color = "blue") {
    const stack = new StandInStack(live);
    const checker = new ScriptedChecker(stack);
    const routes = new ScriptedRoutes(stack);
    const lines: string[] = [];
    const deps: SwapDeps & Deps = { stack, checker, log: (l) => lines.push(l), verifyTimeoutMs: 0, healthTimeoutMs: 0, routes: (s) => routes.runner(s) };
    return { stack, checker, routes, lines, deps };
}
