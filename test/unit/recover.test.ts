// `npm run recover` for cloud VMs: refresh the machines only, drop what died with a gone one, then
// up. Run against a stand-in stack whose state is the real program's resource graph (urns,
// dependencies, providers, deletedWith, as the strict mocks recorded them from index.ts for the dev
// stack), and whose engine behaves as the real one does where recovery depends on it:
// - a refresh of a machine the cloud no longer has removes it from the state, and prunes every
//   reference to it: deletedWith is blanked and dependencies are filtered (pulumi/pulumi
//   pkg/resource/deploy/deployment_executor.go, rebuildBaseState);
// - an up replaces whatever follows a new machine id, and deletes the old copy through its
//   provider, unless its deletedWith machine is deleted in the same update (pulumi/pulumi
//   pkg/resource/deploy/step.go isDeletedWith); a delete through a dead VM's engine fails.
import * as assert from "assert";
import { ResourceChange } from "../../scripts/lib/changes";
import { MACHINE_TYPES, StackState, StateResource, diedWith, isGone, recover } from "../../scripts/lib/recover";
import { rejects } from "../helpers/opsErrors";
import { ProgramRun, runProgram } from "../helpers/stack";

function stateOf(run: ProgramRun): StackState {
    const resources: StateResource[] = run.resources.map((r) => ({
        urn: r.urn,
        type: r.type,
        custom: r.custom,
        ...(r.custom ? { id: r.id } : {}),
        ...(r.provider ? { provider: r.provider } : {}),
        ...(r.options.parent ? { parent: r.options.parent } : {}),
        dependencies: [...r.options.dependencies],
        ...(r.options.deletedWith ? { deletedWith: r.options.deletedWith } : {}),
    }));
    return { version: 3, deployment: { manifest: { time: "2026-11-23T00:00:00Z" }, resources } };
}

class StandInEngine {
    readonly name = "dev";
    state: StackState;
    log: string[] = [];
    /** Machines the cloud has deleted (spot interruption). */
    interrupted = new Set<string>();
    refreshed: string[][] = [];
    imported = 0;

    constructor(state: StackState, private readonly next: StackState) {
        this.state = JSON.parse(JSON.stringify(state));
    }

    async exportState(): Promise<StackState> { return JSON.parse(JSON.stringify(this.state)); }

    async importState(s: StackState): Promise<void> {
        // The engine checks a snapshot's integrity on import: every reference must resolve.
        const urns = new Set((s.deployment.resources ?? []).map((r) => r.urn));
        for (const r of s.deployment.resources ?? []) {
            for (const d of [...(r.dependencies ?? []), ...(r.parent ? [r.parent] : []), ...(r.provider ? [r.provider.slice(0, r.provider.lastIndexOf("::"))] : [])]) {
                if (!urns.has(d) && !this.interrupted.has(d)) throw new Error(`snapshot integrity failure: ${r.urn} refers to unknown ${d}`);
            }
        }
        this.imported++;
        this.state = JSON.parse(JSON.stringify(s));
    }

    async refresh(targets: readonly string[]): Promise<void> {
        this.refreshed.push([...targets]);
        const deleted = new Set((this.state.deployment.resources ?? []).filter((r) => targets.includes(r.urn) && this.interrupted.has(r.urn)).map((r) => r.urn));
        // rebuildBaseState: a dependency or deletedWith naming a deleted resource is dropped.
        const res = (this.state.deployment.resources ?? []).filter((r) => !deleted.has(r.urn)).map((r) => ({
            ...r,
            ...(r.dependencies ? { dependencies: r.dependencies.filter((u) => !deleted.has(u)) } : {}),
            ...(r.deletedWith && deleted.has(r.deletedWith) ? { deletedWith: undefined } : {}),
        }));
        this.state = { ...this.state, deployment: { ...this.state.deployment, resources: res } };
    }

    // The cloud stacks have no server: nothing for recover's preview to find.
    async preview(): Promise<readonly ResourceChange[]> {
        this.previews++;
        return [];
    }
    previews = 0;

    async up(): Promise<{ changes: Record<string, number> }> {
        const have = new Map((this.state.deployment.resources ?? []).map((r) => [r.urn, r]));
        const machines = new Set([...have.values()].filter((r) => MACHINE_TYPES.includes(r.type)).map((r) => r.urn));
        let create = 0;
        let same = 0;
        for (const r of this.next.deployment.resources ?? []) {
            const old = have.get(r.urn);
            if (!old) { create++; continue; }
            // Its machine is being created again: the old copy is replaced and deleted through its
            // provider, whose engine died with the old VM (deletedWith no longer spares it: the
            // machine is not deleted in this update, and a refresh has blanked the link anyway).
            if (old.custom && r.deletedWith && !machines.has(r.deletedWith)) {
                throw new Error(`deleting ${old.urn}: Error pinging Docker server: ssh: connect to host 198.51.100.7 port 22: Connection refused`);
            }
            same++;
        }
        this.state = JSON.parse(JSON.stringify(this.next));
        return { changes: { create, same } };
    }
}

describe("recover: bringing back hosts whose VM is gone", () => {
    let state: StackState;
    let next: StackState;
    before(async () => {
        state = stateOf(await runProgram("dev"));
        next = stateOf(await runProgram("dev", {}, { machineGeneration: 1 }));
    });
    const vm = (cloud: string) => state.deployment.resources!.find((r) => r.urn.endsWith(`::${cloud}-vm`))!.urn;
    const onHost = (s: StackState, cloud: string) => (s.deployment.resources ?? []).filter((r) => r.deletedWith === vm(cloud)).map((r) => r.urn);

    it("drops exactly what lived on the gone VM, and what depends on it, and nothing of the other hosts", () => {
        const dead = diedWith(state.deployment.resources!, new Set([vm("aws")]));
        const names = [...dead].map((u) => u.split("::").pop());
        for (const n of ["aws-app-redis", "aws-app-blue-api", "aws-app-proxy-routes", "aws-app-model-pull", "aws-ready", "aws-app-net", "aws-app-blue-image", "aws-docker"]) {
            assert.ok(names.includes(n), `${n} died with aws-vm`);
        }
        assert.ok(!names.some((n) => /^(gcp|azure)-/.test(n!)), `other hosts untouched: ${names.join(", ")}`);
        assert.ok(names.includes("aws-vm") && names.includes("aws-ssh-gate"), "the VM itself (if still listed) and the gate that waited for it");
        for (const n of ["aws-eip", "aws-eni", "aws-ssh-files", "aws-known-hosts", "ssh-key"]) {
            assert.ok(!names.includes(n), `${n} stays (it is not on the VM)`);
        }
    });

    it("computes what died from the state before the refresh, which prunes every reference to the gone VM", async () => {
        const engine = new StandInEngine(state, next);
        engine.interrupted.add(vm("aws"));
        await engine.refresh([vm("aws")]);
        const refreshed = engine.state.deployment.resources!;
        assert.deepStrictEqual(refreshed.filter((r) => r.deletedWith === vm("aws")), [], "the refresh blanked deletedWith");
        assert.strictEqual(diedWith(refreshed, new Set([vm("aws")])).size, 0, "nothing can be found from the refreshed state");
        const fresh = new StandInEngine(state, next);
        fresh.interrupted.add(vm("aws"));
        const r = await recover({ stack: fresh, log: () => undefined });
        assert.strictEqual(r.dropped, diedWith(state.deployment.resources!, new Set([vm("aws")])).size);
        assert.ok(r.dropped > 20, `${r.dropped} resources lived on aws-vm`);
        assert.strictEqual(fresh.previews, 0, "no server, no preview");
    });

    it("counts an AWS instance as gone only once it is terminated: shutting-down still holds the ENI its replacement needs", () => {
        const vm = { urn: "u", type: "aws:ec2/instance:Instance" };
        assert.strictEqual(isGone(vm, undefined), true);
        assert.strictEqual(isGone(vm, { ...vm, outputs: { instanceState: "terminated" } }), true);
        for (const st of ["shutting-down", "running", "stopped", "stopping", "pending"]) {
            assert.strictEqual(isGone(vm, { ...vm, outputs: { instanceState: st } }), false, st);
        }
    });

    it("refreshes the machines only, drops the dead host's resources, then ups: the host comes back", async () => {
        const engine = new StandInEngine(state, next);
        engine.interrupted.add(vm("aws"));
        const log: string[] = [];
        const r = await recover({ stack: engine, log: (l) => log.push(l) });
        assert.deepStrictEqual(r.recovered, ["aws-vm"]);
        assert.deepStrictEqual(engine.refreshed.map((t) => [...t].sort()), [["aws", "gcp", "azure"].map(vm).sort()], "one refresh, of the three machines only");
        assert.strictEqual(engine.imported, 1);
        assert.strictEqual(r.dropped, diedWith(state.deployment.resources!, new Set([vm("aws")])).size);
        assert.deepStrictEqual(onHost(engine.state, "aws"), onHost(next, "aws"), "everything on the new VM is in the state again");
        assert.ok(log.some((l) => /aws-vm: GONE/.test(l)) && log.some((l) => /gcp-vm: present/.test(l)), log.join("\n"));
        assert.match(log[log.length - 1], /^done: rebuilt aws-vm and everything on it$/);
    });

    it("without dropping the dead host's resources the up fails dialling the dead engine (what `up --refresh` would hit)", async () => {
        const engine = new StandInEngine(state, next);
        engine.interrupted.add(vm("gcp"));
        await engine.refresh([vm("gcp")]);
        await assert.rejects(engine.up(), /Error pinging Docker server/);
    });

    it("treats a machine the refresh still shows as terminated as gone, and drops it too", async () => {
        const engine = new StandInEngine(state, next);
        await engine.importState({
            ...state,
            deployment: { ...state.deployment, resources: state.deployment.resources!.map((r) => (r.urn === vm("aws") ? { ...r, outputs: { instanceState: "terminated" } } : r)) },
        });
        const r = await recover({ stack: engine, log: () => undefined });
        assert.deepStrictEqual(r.recovered, ["aws-vm"]);
        const dropped = [...diedWith(state.deployment.resources!, new Set([vm("aws")]))].map((u) => u.split("::").pop());
        assert.strictEqual(r.dropped, dropped.length);
        assert.ok(dropped.includes("aws-vm") && dropped.includes("aws-ssh-gate") && dropped.includes("aws-app-redis"), dropped.join(", "));
        assert.ok(!dropped.some((n) => /^(gcp|azure)-/.test(n!)));
    });

    it("with every machine present, drops nothing and ups", async () => {
        const engine = new StandInEngine(state, state);
        const r = await recover({ stack: engine, log: () => undefined });
        assert.deepStrictEqual(r, { recovered: [], dropped: 0 });
        assert.strictEqual(engine.imported, 0);
    });

    it("says so when the stack has no machine", async () => {
        const local = stateOf(await runProgram("local"));
        await rejects(recover({ stack: new StandInEngine(local, local), log: () => undefined }), "no-machines");
    });
});
