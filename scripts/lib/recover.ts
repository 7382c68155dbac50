// Recovery of hosts whose machine is gone, as one command: `npm run recover -- --stack S`.
// - A cloud VM reclaimed as spot (AWS terminates a one-time spot instance; GCP and Azure spot VMs
//   are set to be deleted on preemption/eviction, see the host files): the cloud says so on refresh.
//   The new VM gets the same SSH host key from the same user data, so nothing about SSH changes.
// - One of the operator's own servers reinstalled: a new /etc/machine-id and, as with every real
//   reinstall, new SSH host keys, which the program refuses (infra/hosts/server.ts). Recover asks the
//   server itself over SSH (infra/hosts/hostKeys.ts probeServer): a new key is accepted only together
//   with a new machine id, and recorded in the state as the key every later connection requires; a
//   new key with the same machine id is refused. Servers recorded before the stack pinned host keys
//   are found by a preview, as before: a planned replacement of their identity record.
//
// Why not `pulumi up --refresh`: refreshing the Docker objects dials the dead machine's engine and
// fails. And after a plain refresh of the machines, an `up` replaces everything on the new machine
// (replacementTrigger: the machine id) and deletes the old copies through the provider first, which
// fails too: deletedWith skips a delete only when the machine is deleted in the same deployment
// (pulumi/pulumi pkg/resource/deploy/step.go, isDeletedWith), and kreuzwerker's container delete
// returns the ContainerStop error for a container that is not there.
//
// So: 1. export the state; 2. refresh the VMs only (cloud APIs, no SSH) and probe the servers; 3. drop
// from the state what died with each gone machine (everything deletedWith it or depending on it, such
// as the host's Docker provider and all it made), and record a reinstalled server's new host key, by
// exporting, editing and importing the state; 4. `pulumi up` builds the machine again (or sets the
// server up again) and everything on it, in order. What died is computed from the state exported BEFORE the refresh: the
// refresh removes a vanished VM and prunes every reference to it, blanking deletedWith and filtering
// dependencies (pulumi/pulumi pkg/resource/deploy/deployment_executor.go, rebuildBaseState), so the
// refreshed state no longer says what lived on it. Hosts that are still there are untouched.
import { CLOUDS, CLOUD_NAMES } from "../../infra/clouds";
import { LOCAL_COMMAND_TYPE, SERVER_HOST_TYPE, hostKeyName, serverIdentityName } from "../../infra/contract/names";
import { NAMESPACE } from "../../infra/vocabulary";
import { SSH_KEY_DIR } from "../../infra/config/fixed";
import { HostOutput, HostOutputOf } from "../../infra/contract/outputs";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { ServerProbe, ServerToProbe, describeKey, probeServer } from "../../infra/hosts/hostKeys";
import { keyFileName } from "../../infra/hosts/ssh";
import { OpsError } from "./errors";
import { ResourceChange, nameOf, typeChainOf } from "./changes";

/** The resource types of the VMs the stack makes, one per cloud host (each cloud's driver names its own). */
export const MACHINE_TYPES: readonly string[] = CLOUD_NAMES.map((c) => CLOUDS[c].machineType);

/**
 * An operator's server's identity record (infra/hosts/server.ts): the local command named
 * serverIdentityName(<host>) under an SshServerHost.
 */
export function isServerIdentity(r: { readonly urn: string; readonly type: string }): boolean {
    const chain = typeChainOf(r.urn);
    return r.type === LOCAL_COMMAND_TYPE && chain[chain.length - 2] === SERVER_HOST_TYPE && nameOf(r.urn).endsWith(serverIdentityName(""));
}

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
    /** The stack's outputs (a server's address, port and user). */
    outputs(): Promise<Record<string, unknown>>;
    exportState(): Promise<StackState>;
    importState(state: StackState): Promise<void>;
    /** `pulumi refresh` of exactly these URNs. */
    refresh(targets: readonly string[]): Promise<void>;
    /** `pulumi preview`: each resource an up would change. */
    preview(): Promise<readonly ResourceChange[]>;
    up(): Promise<{ readonly changes: Readonly<Record<string, number>> }>;
}

export interface RecoverDeps {
    readonly stack: RecoverOps;
    readonly log: (line: string) => void;
    /** Where a server stands now. Defaults to probeServer (infra/hosts/hostKeys.ts): ssh-keyscan and ssh from this machine. */
    readonly probe?: (s: ServerToProbe, readWithNewKey: boolean) => ServerProbe;
}

/** One of the operator's servers in the state: its identity record, its host key record, and what a probe needs. */
export interface ServerInState {
    /** The host's name. */
    readonly name: string;
    readonly identity: StateResource;
    /** Absent in a state written before the stack pinned host keys. */
    readonly hostKey?: StateResource;
    /** What probeServer needs; undefined when the state or the outputs do not say (such a server is found by a preview). */
    readonly probe?: ServerToProbe;
}

/** A state record's first trigger: a local.Command record's value (a host key, a machine id). */
export const firstTrigger = (r: StateResource | undefined): string | undefined => {
    const t = (r?.outputs as { triggers?: unknown } | undefined)?.triggers;
    return Array.isArray(t) && typeof t[0] === "string" ? t[0] : undefined;
};

/**
 * The operator's servers in `resources`, with what a probe of each needs: the host key and machine
 * id in the state, the address, port and user in the stack outputs, and the key file the program
 * writes for stack `stackName` on this machine.
 */
export function serversIn(resources: readonly StateResource[], outputs: Readonly<Record<string, unknown>>, stackName: string): ServerInState[] {
    let hosts: Readonly<Record<string, HostOutput>> = {};
    try {
        hosts = parseStackOutputs(outputs).hosts;
    } catch {
        // A stack whose outputs say nothing (never deployed, or from an older program): no probe.
    }
    // The program names the key file after its own stack name: a backend's "org/project/stack" ends with it.
    const stack = stackName.split("/").pop() ?? stackName;
    return resources.filter(isServerIdentity).map((identity) => {
        const name = nameOf(identity.parent ?? "");
        const hostKey = resources.find((r) => r.type === LOCAL_COMMAND_TYPE && r.parent === identity.parent && nameOf(r.urn) === hostKeyName(name));
        const h = hosts[name] as HostOutput | undefined;
        const server = h?.kind === "ssh" ? h as HostOutputOf<"ssh"> : undefined;
        const pinnedKey = firstTrigger(hostKey);
        const machineId = firstTrigger(identity);
        const probe: ServerToProbe | undefined = server && pinnedKey && machineId
            ? {
                name, address: server.address, port: server.port, user: server.user, pinnedKey, machineId,
                keyPath: `${SSH_KEY_DIR}/${keyFileName(name, NAMESPACE, stack)}`,
                ...(server.authorizedKey ? { authorizedKey: server.authorizedKey } : {}),
            }
            : undefined;
        return { name, identity, ...(hostKey ? { hostKey } : {}), ...(probe ? { probe } : {}) };
    });
}

/** `state` with `urns` dropped and each host key record in `keys` rewritten to its new key (inputs and outputs alike). */
export function editedState(state: StackState, urns: ReadonlySet<string>, keys: ReadonlyMap<string, string> = new Map()): StackState {
    const resources = (state.deployment.resources ?? []).filter((r) => !urns.has(r.urn)).map((r) => {
        const key = keys.get(r.urn);
        if (key === undefined) return r;
        const with_ = (o: unknown) => ({ ...(o as Record<string, unknown> ?? {}), triggers: [key] });
        return { ...r, inputs: with_(r.inputs), outputs: with_(r.outputs) };
    });
    return { ...state, deployment: { ...state.deployment, resources } };
}

/**
 * Whether a VM is gone after the refresh: its cloud's rule (infra/clouds/<cloud>/index.ts isGone),
 * from the VM as it was (its type) and as the refresh left it (undefined: dropped from the state).
 */
export function isGone(machine: StateResource, refreshed: StateResource | undefined): boolean {
    const cloud = CLOUD_NAMES.find((c) => CLOUDS[c].machineType === machine.type);
    return cloud === undefined ? refreshed === undefined : CLOUDS[cloud].isGone(refreshed);
}

/** A provider reference "urn::id" -> urn. */
const providerUrn = (ref: string | undefined) => (ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined);

/**
 * The URNs that died with `gone` machines: the machines themselves, every resource deletedWith one of
 * them, plus, transitively, every resource that depends on, is parented by, or is served by
 * (provider) one of those. Pure; give it the state as it was before any refresh.
 */
export function diedWith(resources: readonly StateResource[], gone: ReadonlySet<string>): Set<string> {
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
                // A component whose children died stays: it holds nothing on the machine.
                if (r.custom === false && !(r.dependencies ?? []).some((u) => dead.has(u))) continue;
                dead.add(r.urn);
                grew = true;
            }
        }
    }
    return dead;
}

export interface RecoverResult {
    /** Names of the machines that were gone (VMs) or reinstalled (servers) and were rebuilt. */
    readonly recovered: readonly string[];
    /** How many resources were dropped from the state with them. */
    readonly dropped: number;
}

/** Find gone machines, drop what died with them, then `up`. */
export async function recover(d: RecoverDeps): Promise<RecoverResult> {
    const name = d.stack.name;
    d.log(`[1/4] reading the state of stack ${name}`);
    const before = await d.stack.exportState();
    const resources = before.deployment.resources ?? [];
    const vms = resources.filter((r) => MACHINE_TYPES.includes(r.type));
    const servers = resources.filter(isServerIdentity);
    if (vms.length + servers.length === 0) {
        throw new OpsError("no-machines", `stack ${name} has no machine to recover (its only host is the local Docker engine, or it was never deployed); nothing was changed`);
    }
    d.log(`      machines: ${[...vms.map((m) => `${nameOf(m.urn)} (${m.id ?? "no id"})`), ...servers.map((s) => nameOf(s.urn))].join(", ")}`);

    d.log(`[2/4] asking where the machines are: ${[vms.length ? "refreshing the cloud VMs only (cloud APIs; no host is dialled)" : "", servers.length ? "asking the servers for their SSH host key and machine id" : ""].filter(Boolean).join("; ")}`);
    const gone = new Set<string>();
    // The servers first: a refusal must come before the refresh writes anything.
    const newKeys = new Map<string, string>();
    const probed = serversIn(resources, await d.stack.outputs().catch(() => ({})), name);
    const refused: string[] = [];
    const probe = d.probe ?? probeServer;
    for (const s of probed.filter((x) => x.probe)) {
        const r = probe(s.probe!, true);
        const id = nameOf(s.identity.urn);
        if (r.state === "same") d.log(`      ${id}: the same machine`);
        else if (r.state === "reinstalled") {
            gone.add(s.identity.urn);
            if (r.keyChanged && s.hostKey) newKeys.set(s.hostKey.urn, r.hostKey);
            d.log(`      ${id}: REINSTALLED (a new machine id${r.keyChanged ? `, and a new SSH host key ${describeKey(r.hostKey)}, pinned from now on` : ""})`);
        } else if (r.state === "key-changed") {
            refused.push(`${s.name}: its SSH host key changed (it now presents ${describeKey(r.hostKey)}) but its machine id did not, ` +
                "and a reinstall changes both, so recover does not accept the key. If you changed the host keys yourself, check the new key on the server " +
                `(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), set it as hostKey of ${s.name} in gpu-hosts:ssh and run npm run up; otherwise someone may be intercepting SSH`);
        } else refused.push(r.why);
    }
    if (refused.length) throw new OpsError("host-key", `${refused.join("; ")}; nothing was changed`);
    let base = before;
    if (vms.length) {
        await d.stack.refresh(vms.map((m) => m.urn));
        base = await d.stack.exportState();
        const after = new Map((base.deployment.resources ?? []).map((r) => [r.urn, r]));
        for (const m of vms) {
            const g = isGone(m, after.get(m.urn));
            if (g) gone.add(m.urn);
            const state = after.get(m.urn)?.outputs?.instanceState;
            d.log(`      ${nameOf(m.urn)}: ${g ? "GONE (interrupted or deleted)" : `present${state ? ` (${String(state)})` : ""}`}`);
        }
    }
    const unprobed = probed.filter((x) => !x.probe);
    if (unprobed.length) {
        const replaced = new Set((await d.stack.preview()).filter((c) => c.change === "replace").map((c) => c.urn));
        for (const s of unprobed) {
            if (replaced.has(s.identity.urn)) gone.add(s.identity.urn);
            d.log(`      ${nameOf(s.identity.urn)}: ${replaced.has(s.identity.urn) ? "REINSTALLED (a new machine id)" : "the same machine"}`);
        }
    }

    let dropped = 0;
    if (gone.size > 0) {
        const dead = diedWith(resources, gone);
        dropped = dead.size;
        d.log(`[3/4] dropping ${dead.size} resource(s) that lived on ${[...gone].map(nameOf).join(", ")} from the state${newKeys.size ? `; recording the new host key of ${[...newKeys.keys()].map(nameOf).join(", ")}` : ""}`);
        await d.stack.importState(editedState(base, dead, newKeys));
    } else {
        d.log("[3/4] every machine is where it was: nothing to drop");
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
