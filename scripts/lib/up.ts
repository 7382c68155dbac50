// `npm run up` / `preview` / `destroy` as library functions over StackOps. Up and preview first pin
// every slot that has no commit yet (a new stack: both slots to one snapshot of the app context, as
// it is on disk), so the program only ever builds pinned commits; then they run the engine and
// report what changed, per slot.
import { SlotConfig, StackConfig } from "../../infra/config";
import { COLORS, Color, otherColor } from "../../infra/vocabulary";
import { releaseLabel } from "../../infra/service/release";
import { isRemoteHost, parseStackOutputs } from "../../infra/contract/outputs";
import { appStackName, modelVolumeName } from "../../infra/contract/names";
import { ResourceChange, countChanges, groupChanges } from "./changes";
import { Pinner, appContextDir, readStackConfig } from "./stackConfig";
import { StackOps, UpSummary } from "./stackOps";
import { table } from "./table";

export interface UpDeps {
    readonly stack: StackOps;
    readonly log: (line: string) => void;
}

/**
 * Pins every slot of `cfg` whose commit is not set yet, and returns the slots it pinned. A release
 * name shared by both unpinned slots is pinned once, so a new stack's two slots run the same snapshot.
 */
export async function pinUnpinned(d: UpDeps, cfg: Pick<StackConfig, "slots" | "app">, pin: Pinner): Promise<Color[]> {
    const slots = cfg.slots;
    const unpinned = COLORS.filter((c) => slots[c].commit === "");
    if (unpinned.length === 0) return [];
    const contextDir = appContextDir(cfg);
    const byRelease = new Map<string, SlotConfig>();
    const next: Record<Color, SlotConfig> = { ...slots };
    for (const c of unpinned) {
        const r = slots[c].release;
        if (!byRelease.has(r)) byRelease.set(r, pin(contextDir, r));
        next[c] = byRelease.get(r)!;
        d.log(`      pinned slot ${c}: release ${r} -> ${releaseLabel(next[c])} (commit ${next[c].commit})`);
    }
    await d.stack.setConfig("slots", next);
    return unpinned;
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
    d.log(`[1/3] pinning the releases of stack ${name}`);
    const cfg = await readStackConfig(d.stack);
    const pinned = await pinUnpinned(d, cfg, pin);
    if (pinned.length === 0) d.log("      both slots are pinned already; nothing on disk reaches them");
    d.log(`[2/3] running pulumi up`);
    const r = await d.stack.up();
    d.log(`[3/3] done: ${r.resources.length} resource(s) changed (${changeLine(r.resources, cfg.liveColor)})`);
    d.log("");
    d.log(hostsTable(await d.stack.outputs()));
    return { ...r, pinned };
}

/** Pins new slots (config only), then previews: what an up would change, per slot. */
export async function preview(d: UpDeps, pin: Pinner): Promise<readonly ResourceChange[]> {
    const cfg = await readStackConfig(d.stack);
    await pinUnpinned(d, cfg, pin);
    const planned = await d.stack.preview();
    d.log(`preview of stack ${d.stack.name}: ${planned.length} resource(s) would change (${changeLine(planned, cfg.liveColor)})`);
    return planned;
}

/** The docker commands that remove what a destroy keeps on purpose: model volumes and images. */
export function keptAdvice(outputs: Readonly<Record<string, unknown>>): string[] {
    let images: string[] = [];
    let hosts: { name: string; ssh?: string }[] = [];
    try {
        const o = parseStackOutputs(outputs);
        images = [...o.hostImages];
        // A cloud VM's volumes go with its disk; the local engine and an operator's servers keep theirs.
        hosts = Object.entries(o.hosts).filter(([, h]) => h.kind === "local" || h.kind === "ssh")
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

/** Destroys the stack's resources and says what it kept and how to remove it. */
export async function destroy(d: UpDeps): Promise<UpSummary> {
    // Read before the outputs are gone.
    const outputs = await d.stack.outputs().catch(() => ({}));
    const r = await d.stack.destroy();
    d.log(`done: stack ${d.stack.name} destroyed (${r.changes.delete ?? 0} deleted); its config and history stay (\`pulumi stack rm ${d.stack.name}\` removes them)`);
    for (const line of keptAdvice(outputs)) d.log(line);
    return r;
}

