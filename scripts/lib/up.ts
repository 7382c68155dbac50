// `npm run up` / `preview` / `destroy` as library functions over StackOps. Up first pins, into the
// config, every slot the program would pin itself (a new stack: both slots to one snapshot of the app
// context as it is on disk; a release name set by hand), with the Pinner the command gives (pin.ts
// pinnerFor also pushes a shared stack's workdir pin before anything is deployed); a slot that keeps
// its pin is left alone, so nothing on disk reaches it. Up and preview first check the login to each
// of the operator's servers (logins.ts), so a key not yet authorised stops them in seconds, before
// the engine. Then up runs the engine and reports what changed, per slot. Preview changes no
// config: the program pins what is new for the preview only (infra/service/pin.ts).
// Destroy first asks each of the operator's servers where it stands, and drops from the state what
// lived on one that was reinstalled or is gone, as recover does.
import { SlotConfig, StackConfig } from "../../infra/config";
import { COLORS, Color, otherColor } from "../../infra/vocabulary";
import { releaseLabel } from "../../infra/service/release";
import { configFor, decidePin } from "../../infra/service/pin";
import { readPins } from "../../infra/contract/pins";
import { isRemoteHost } from "../../infra/contract/outputs";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { appStackName, modelVolumeName } from "../../infra/contract/names";
import { ServerProbe, ServerToProbe, describeKey, probeServer } from "../../infra/hosts/hostKeys";
import { ResourceChange, countChanges, groupChanges } from "./changes";
import { LoginResult, LoginToCheck, checkLogins } from "./logins";
import { OpsError } from "./errors";
import { diedWith, editedState, serversIn } from "./recover";
import { Pinner, appContextDir, readStackConfig } from "./stackConfig";
import { StackOps, UpSummary } from "./stackOps";
import { table } from "./table";

export interface UpDeps {
    readonly stack: StackOps;
    readonly log: (line: string) => void;
    /** Where a server stands now (destroy). Defaults to probeServer (infra/hosts/hostKeys.ts): ssh-keyscan and ssh from this machine. */
    readonly probe?: (s: ServerToProbe, readWithNewKey: boolean) => ServerProbe;
    /** Checks the login to one server before the engine runs (up, preview, deploy). Defaults to checkLogin (scripts/lib/logins.ts). */
    readonly login?: (c: LoginToCheck) => LoginResult;
}

/**
 * Pins, into the config, every slot of `cfg` the program would pin on the next up (decidePin against
 * the pins the stack kept: a new stack, a release name set by hand), and returns those slots. A
 * release name shared by both is pinned once, so a new stack's two slots run the same snapshot. A pin
 * that fails (pin.ts pinnerFor: a refused push) writes nothing.
 */
export async function pinUnpinned(d: UpDeps, cfg: Pick<StackConfig, "slots" | "app">, pin: Pinner): Promise<Color[]> {
    const slots = cfg.slots;
    const { kept, fresh } = await unpinnedSlots(d, slots);
    if (fresh.length === 0) return [];
    const contextDir = appContextDir(cfg);
    const byRelease = new Map<string, SlotConfig>();
    const next: Record<Color, SlotConfig> = { ...slots };
    for (const c of fresh) {
        const r = slots[c].release;
        if (!byRelease.has(r)) byRelease.set(r, pin(contextDir, r));
        const pinned = byRelease.get(r)!;
        next[c] = configFor(pinned, kept[c]);
        d.log(`      pinned slot ${c}: release ${r} -> ${releaseLabel(pinned)} (commit ${pinned.commit})`);
    }
    await d.stack.setConfig("slots", next);
    return fresh;
}

/** The pins the stack kept, and the slots the next up pins (decidePin: "new"). */
async function unpinnedSlots(d: UpDeps, slots: StackConfig["slots"]): Promise<{ kept: ReturnType<typeof readPins>; fresh: Color[] }> {
    const kept = readPins(await d.stack.outputs());
    return { kept, fresh: COLORS.filter((c) => decidePin(slots[c], kept[c]).kind === "new") };
}

/** "blue: 2 replace; green: none; shared: 1 update" for a run's changes, with the live slot named. */
export function changeLine(changes: readonly ResourceChange[], live: Color): string {
    const g = groupChanges(changes, live);
    return `live ${live}: ${countChanges(g.live)}; idle ${otherColor(live)}: ${countChanges(g.idle)}; shared: ${countChanges(g.shared)}`;
}

/** The final table of an up: each host's URLs and slots. */
export function hostsTable(outputs: Readonly<Record<string, unknown>>): string {
    const o = parseStackOutputs(outputs);
    const rows = [["host", "kind", "live", "idle", "live URL", "idle URL"]];
    for (const [name, h] of Object.entries(o.hosts)) {
        rows.push([name, h.kind, `${h.liveColor} ${h.slots[h.liveColor].label}`, `${h.idleColor} ${h.slots[h.idleColor].label}`, h.liveUrl, h.idleUrl]);
    }
    return table(rows);
}

export interface UpResult extends UpSummary {
    readonly pinned: readonly Color[];
}

/** Pins new slots, runs `pulumi up`, prints what changed per slot and every host's URLs. */
export async function up(d: UpDeps, pin: Pinner): Promise<UpResult> {
    const name = d.stack.name;
    const cfg = await readStackConfig(d.stack);
    // A server that refuses the login stops the up here, in seconds, with nothing pinned or run.
    await checkLogins(d, cfg);
    d.log(`[1/3] pinning the releases of stack ${name}`);
    const pinned = await pinUnpinned(d, cfg, pin);
    if (pinned.length === 0) d.log("      both slots keep their pins; nothing on disk reaches them");
    d.log(`[2/3] running pulumi up`);
    const r = await d.stack.up();
    d.log(`[3/3] done: ${r.resources.length} resource(s) changed (${changeLine(r.resources, cfg.liveColor)})`);
    d.log("");
    d.log(hostsTable(await d.stack.outputs()));
    return { ...r, pinned };
}

/** Previews what an up would change, per slot; says which slots the next up pins. Writes no config. */
export async function preview(d: UpDeps): Promise<readonly ResourceChange[]> {
    const cfg = await readStackConfig(d.stack);
    await checkLogins(d, cfg);
    for (const c of (await unpinnedSlots(d, cfg.slots)).fresh) {
        d.log(`note: slot ${c} has no pin for release ${cfg.slots[c].release} yet: the preview builds it from what it names now; the next up pins it`);
    }
    const planned = await d.stack.preview();
    d.log(`preview of stack ${d.stack.name}: ${planned.length} resource(s) would change (${changeLine(planned, cfg.liveColor)})`);
    return planned;
}

/**
 * The docker commands that remove what a destroy keeps on purpose: model volumes and images, except
 * on the servers in `lost` (reinstalled or gone: their volumes went with them, or cannot be reached).
 */
export function keptAdvice(outputs: Readonly<Record<string, unknown>>, lost: readonly string[] = []): string[] {
    let images: string[] = [];
    let hosts: { name: string; ssh?: string }[] = [];
    try {
        const o = parseStackOutputs(outputs);
        images = [...o.hostImages];
        // A cloud VM's volumes go with its disk; the local engine and an operator's servers keep theirs.
        hosts = Object.entries(o.hosts).filter(([n, h]) => (h.kind === "local" || h.kind === "ssh") && !lost.includes(n))
            .map(([n, h]) => ({ name: n, ssh: isRemoteHost(h) ? h.ssh : undefined }));
    } catch {
        // A stack with no (or older) outputs: nothing to advise.
    }
    const lines: string[] = [];
    for (const h of hosts) {
        const volume = modelVolumeName(appStackName(h.name));
        lines.push(`Kept: the Docker volume ${volume}${h.ssh ? ` on ${h.name}` : ""} (downloaded models, kept so the next up skips the download).`);
        lines.push(`Remove it with: ${h.ssh ? `${h.ssh} ` : ""}docker volume rm ${volume}`);
    }
    if (images.length) {
        lines.push("Kept: the images this stack pulled and built. Remove exactly those with:");
        lines.push(`  docker image rm ${images.join(" ")}`);
    }
    return lines;
}

/**
 * Drops from the state what lived on each of the operator's servers that was reinstalled or is gone,
 * so the destroy never dials it: those containers died with the old system (a reinstall), or cannot
 * be reached (gone), as recover assumes. A server that presents a new host key is never logged in
 * to (outside recover a changed key is refused): it is taken as reinstalled, and the line says how to
 * clean it up if it was not. Returns how many resources were dropped.
 */
export async function dropLostServers(d: UpDeps, outputs: Readonly<Record<string, unknown>>): Promise<{ readonly dropped: number; readonly lost: readonly string[] }> {
    let state;
    try {
        state = await d.stack.exportState();
    } catch {
        return { dropped: 0, lost: [] }; // nothing to read: the destroy says what is wrong
    }
    const resources = state.deployment.resources ?? [];
    const servers = serversIn(resources, outputs, d.stack.name).filter((s) => s.probe);
    if (servers.length === 0) return { dropped: 0, lost: [] };
    d.log(`checking ${servers.map((s) => s.name).join(", ")} over SSH (host key and machine id) before the destroy dials ${servers.length === 1 ? "it" : "them"}`);
    const lost = new Map<string, string>();
    const probe = d.probe ?? probeServer;
    for (const s of servers) {
        const r = probe(s.probe!, false);
        const cleanUp = `if it still runs the stack's containers, remove them there: docker rm -f $(docker ps -aq --filter name=^${s.name}-app-)`;
        if (r.state === "same") {
            d.log(`      ${s.name}: the same machine; its containers, networks and volumes are removed`);
            continue;
        }
        if (r.state === "refused") throw new OpsError("host-key", `${r.why}; nothing was destroyed`);
        lost.set(s.identity.urn, s.name);
        d.log(`      ${s.name}: ${r.state === "reinstalled" ? "REINSTALLED (a new machine id): what lived on it went with the old system"
            : r.state === "gone" ? `GONE (${r.why}); ${cleanUp}`
                : `presents a new SSH host key (${describeKey(r.hostKey)}), so it is not dialled and is taken as reinstalled; ${cleanUp}`}`);
    }
    if (lost.size === 0) return { dropped: 0, lost: [] };
    const dead = diedWith(resources, new Set(lost.keys()));
    d.log(`      dropping ${dead.size} resource(s) that lived on ${[...lost.values()].join(", ")} from the state`);
    await d.stack.importState(editedState(state, dead));
    return { dropped: dead.size, lost: [...lost.values()] };
}

/** Destroys the stack's resources and says what it kept and how to remove it. */
export async function destroy(d: UpDeps): Promise<UpSummary> {
    // Read before the outputs are gone.
    const outputs = await d.stack.outputs().catch(() => ({}));
    const { dropped, lost } = await dropLostServers(d, outputs);
    const r = await d.stack.destroy();
    d.log(`done: stack ${d.stack.name} destroyed (${r.changes.delete ?? 0} deleted${dropped ? `, ${dropped} dropped with ${lost.join(", ")}` : ""}); its config and history stay (\`pulumi stack rm ${d.stack.name}\` removes them)`);
    for (const line of keptAdvice(outputs, lost)) d.log(line);
    return r;
}
