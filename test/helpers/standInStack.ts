// A deployed stack in memory, for the release/swap logic: config and outputs, and an engine that
// plans and applies exactly what the real program would change for a config change (the routes of
// every host for a liveColor flip; a slot's image, containers and image commands for a new pin,
// decided as the program decides it: infra/service/pin.ts decidePin against the pins it kept),
// with URNs shaped as the engine writes them. Plus a Checker scripted over the same model.
import { otherColor } from "../../infra/vocabulary";
import { PinRecord, decidePin } from "../../infra/service/pin";
import { ResourceChange } from "../../scripts/lib/changes";
import { Checker, CheckResult, Color, Expect } from "../../scripts/lib/health";
import { Deps } from "../../scripts/lib/deployed";
import { StackOps, UpSummary } from "../../scripts/lib/stackOps";

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

    constructor(live: Color = "blue", slots: Record<Color, Slot> = { blue: A1, green: B2 }) {
        this.deployed = { liveColor: live, slots: { ...slots } };
        this.kept = { blue: { ...slots.blue, configCommit: slots.blue.commit }, green: { ...slots.green, configCommit: slots.green.commit } };
        this.config = { liveColor: live, slots: JSON.stringify(slots) };
    }

    async allConfig() {
        this.calls.push("allConfig");
        return { values: Object.fromEntries(Object.entries(this.config).filter((e): e is [string, string] => e[1] !== undefined)), secrets: [] };
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

    async up(): Promise<UpSummary> {
        this.calls.push("up");
        this.ups++;
        const err = this.upErrors.shift();
        if (err) throw err;
        const resources = [...this.plan(), ...this.surprise];
        this.pending = [];
        this.surprise = [];
        if (this.config.liveColor) this.deployed.liveColor = this.config.liveColor as Color;
        const slots = this.configSlots();
        const next = this.nextCommits();
        for (const c of ["blue", "green"] as const) {
            this.deployed.slots[c] = { release: slots[c].release, commit: next[c] };
            this.kept[c] = { release: slots[c].release, commit: next[c], configCommit: slots[c].commit };
        }
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
            if (url.startsWith(h.live)) return { host, color: this.stuckLive ?? this.stack.deployed.liveColor };
            if (url.startsWith(h.idle)) return { host, color: otherColor(this.stack.deployed.liveColor) };
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

export function setup(live: Color = "blue") {
    const stack = new StandInStack(live);
    const checker = new ScriptedChecker(stack);
    const lines: string[] = [];
    const deps: Deps = { stack, checker, log: (l) => lines.push(l), verifyTimeoutMs: 0, healthTimeoutMs: 0 };
    return { stack, checker, lines, deps };
}
