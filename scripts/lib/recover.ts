// Recovery of hosts whose VM is gone (a spot interruption: AWS terminates a one-time spot
// instance; GCP and Azure spot VMs are set to be deleted on preemption/eviction, see the host
// files), as one command: `npm run recover -- --stack S`.
//
// Why not `pulumi up --refresh`: refreshing the Docker objects dials the dead VM's engine over SSH
// and fails (the Docker provider pings its engine). And after a plain refresh of the machines, an
// `up` would replace everything on the new VM (replacementTrigger: the machine id) and try to
// delete the old copies through the provider, which fails too: deletedWith skips a delete only
// when the machine is deleted in the same deployment (pulumi/pulumi pkg/resource/deploy/step.go,
// isDeletedWith), and a refreshed-away machine is not.
//
// So: 1. refresh the machines only (cloud APIs, no SSH); 2. for each machine the refresh found gone,
// drop from the state what died with it (every resource deletedWith that machine, and whatever
// depends on those, such as the host's Docker provider) by exporting, editing and importing the
// state; 3. `pulumi up` builds the VM again and everything on it, in order. Nothing is deleted
// through a dead engine, and hosts that are still running are untouched.
import { OpsError } from "./errors";

/** The resource types of the VMs the stack makes, one per cloud host. */
export const MACHINE_TYPES: readonly string[] = [
    "aws:ec2/instance:Instance",
    "gcp:compute/instance:Instance",
    "azure-native:compute:VirtualMachine",
];

/** A resource in an exported deployment (Pulumi's apitype.ResourceV3), as far as recovery reads it. */
export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly custom?: boolean;
    readonly id?: string;
    readonly provider?: string;
    readonly parent?: string;
    readonly dependencies?: readonly string[];
    readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
    readonly deletedWith?: string;
    readonly outputs?: Readonly<Record<string, unknown>>;
    readonly [k: string]: unknown;
}

/** An exported stack (`pulumi stack export`), version 3. */
export interface StackState {
    readonly version: number;
    readonly deployment: { readonly resources?: readonly StateResource[]; readonly [k: string]: unknown };
}

/** What recovery needs from a stack. */
export interface RecoverOps {
    readonly name: string;
    exportState(): Promise<StackState>;
    importState(state: StackState): Promise<void>;
    /** `pulumi refresh` of exactly these URNs. */
    refresh(targets: readonly string[]): Promise<void>;
    up(): Promise<{ readonly changes: Readonly<Record<string, number>> }>;
}

export interface RecoverDeps {
    readonly stack: RecoverOps;
    readonly log: (line: string) => void;
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/**
 * Whether a refreshed machine is gone: dropped from the state by the refresh (the cloud no longer has
 * it), or still there with a state it never comes back from (an EC2 instance's "terminated").
 */
export function isGone(refreshed: StateResource | undefined): boolean {
    if (!refreshed) return true;
    const state = refreshed.outputs?.instanceState;
    return state === "terminated" || state === "shutting-down";
}

/** A provider reference "urn::id" -> urn. */
const providerUrn = (ref: string | undefined) => (ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined);

/**
 * The URNs that died with `gone` machines: every resource deletedWith one of them, plus,
 * transitively, every resource that depends on, is parented by, or is served by (provider) one of
 * those. Pure.
 */
export function diedWith(resources: readonly StateResource[], gone: ReadonlySet<string>): Set<string> {
    // A gone machine still in the state (terminated) goes too, and with it what depends on it.
    const dead = new Set(resources.filter((r) => gone.has(r.urn) || (r.deletedWith && gone.has(r.deletedWith))).map((r) => r.urn));
    const refs = (r: StateResource): string[] => [
        ...(r.dependencies ?? []),
        ...Object.values(r.propertyDependencies ?? {}).flat(),
        ...(r.parent ? [r.parent] : []),
        ...(providerUrn(r.provider) ? [providerUrn(r.provider)!] : []),
    ];
    for (let grew = true; grew;) {
        grew = false;
        for (const r of resources) {
            if (!dead.has(r.urn) && refs(r).some((u) => dead.has(u))) {
                // A component whose children died stays: it holds nothing on the VM.
                if (r.custom === false && !(r.dependencies ?? []).some((u) => dead.has(u))) continue;
                dead.add(r.urn);
                grew = true;
            }
        }
    }
    return dead;
}

export interface RecoverResult {
    /** Names of the machines that were gone and were rebuilt. */
    readonly recovered: readonly string[];
    /** How many resources were dropped from the state with them. */
    readonly dropped: number;
}

/** Refresh the machines, drop what died with the gone ones, then `up`. */
export async function recover(d: RecoverDeps): Promise<RecoverResult> {
    const name = d.stack.name;
    d.log(`[1/4] reading the state of stack ${name}`);
    const before = await d.stack.exportState();
    const machines = (before.deployment.resources ?? []).filter((r) => MACHINE_TYPES.includes(r.type));
    if (machines.length === 0) {
        throw new OpsError("no-machines", `stack ${name} has no machine to recover (its only host is the local Docker engine, or it was never deployed); nothing was changed`);
    }
    d.log(`      machines: ${machines.map((m) => `${nameOf(m.urn)} (${m.id ?? "no id"})`).join(", ")}`);

    d.log(`[2/4] refreshing the machines only (cloud APIs; no host is dialled)`);
    await d.stack.refresh(machines.map((m) => m.urn));
    const refreshed = await d.stack.exportState();
    const after = new Map((refreshed.deployment.resources ?? []).map((r) => [r.urn, r]));
    const gone = new Set(machines.filter((m) => isGone(after.get(m.urn))).map((m) => m.urn));
    for (const m of machines) d.log(`      ${nameOf(m.urn)}: ${gone.has(m.urn) ? "GONE (interrupted or deleted)" : "present"}`);

    let dropped = 0;
    if (gone.size > 0) {
        const resources = refreshed.deployment.resources ?? [];
        const dead = diedWith(resources, gone);
        dropped = dead.size;
        d.log(`[3/4] dropping ${dead.size} resource(s) that lived on ${[...gone].map(nameOf).join(", ")} from the state`);
        await d.stack.importState({
            ...refreshed,
            deployment: { ...refreshed.deployment, resources: resources.filter((r) => !dead.has(r.urn)) },
        });
    } else {
        d.log("[3/4] every machine is present: nothing to drop");
    }

    d.log("[4/4] running pulumi up to bring every host back");
    const r = await d.stack.up();
    const counts = Object.entries(r.changes).map(([op, n]) => `${n} ${op}`).join(", ");
    d.log(`      pulumi up done${counts ? `: ${counts}` : ""}`);
    const recovered = [...gone].map(nameOf);
    d.log(recovered.length
        ? `done: rebuilt ${recovered.join(", ")} and everything on ${recovered.length === 1 ? "it" : "them"}`
        : "done: no machine was gone; up brought the stack in line with its config");
    return { recovered, dropped };
}
