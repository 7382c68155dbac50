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
import { MACHINE_TYPES, StackState, StateResource, diedWith, isGone, recover, serversIn } from "../../scripts/lib/recover";
import { destroy } from "../../scripts/lib/up";
import { StackOps } from "../../scripts/lib/stackOps";
import { ServerProbe, ServerToProbe, describeKey } from "../../infra/hosts/hostKeys";
import { rejects } from "../helpers/opsErrors";
import { plain } from "../helpers/secrets";
import { ProgramRun, runProgram } from "../helpers/stack";

/**
 * The state the engine would hold after an up of `run`: each resource's graph, and its inputs as its
 * inputs and (for the command provider, whose outputs embed its inputs) its outputs.
 */
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
        ...(r.custom ? { inputs: plain(r.inputs), outputs: plain(r.inputs) } : {}),
    }));
    return { version: 3, deployment: { manifest: { time: "2026-11-23T00:00:00Z" }, resources } };
}

/** The stack outputs as `pulumi stack output --show-secrets` gives them. */
const outputsOf = (run: ProgramRun): Record<string, unknown> => Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, v.value]));

class StandInEngine {
    readonly name = "dev";
    state: StackState;
    stackOutputs: Record<string, unknown> = {};
    async outputs(): Promise<Record<string, unknown>> { return this.stackOutputs; }
    log: string[] = [];
    /** Machines the cloud has deleted (spot interruption). */
    interrupted = new Set<string>();
    refreshed: string[][] = [];
    imported = 0;
    lastImported?: StackState;

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
        this.lastImported = JSON.parse(JSON.stringify(s));
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
        for (const n of ["aws-eip", "aws-eni", "aws-ssh-files", "aws-host-key", "ssh-key"]) {
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

describe("recover: two hosts of one cloud (gpu-hosts:aws.count 2)", () => {
    const TWO_AWS = { clouds: ["aws", "gcp"], aws: { region: "us-east-1", instanceType: "g4dn.xlarge", count: 2 } };
    let state: StackState;
    let next: StackState;
    before(async () => {
        state = stateOf(await runProgram("dev", TWO_AWS));
        next = stateOf(await runProgram("dev", TWO_AWS, { machineGeneration: 1 }));
    });
    const vm = (host: string) => state.deployment.resources!.find((r) => r.urn.endsWith(`::${host}-vm`))!.urn;
    const names = (s: StackState) => (s.deployment.resources ?? []).map((r) => r.urn.split("::").pop()!);

    it("finds every host's VM, refreshes them all, and rebuilds only the gone aws-2: aws, the same cloud's other host, is untouched", async () => {
        const engine = new StandInEngine(state, next);
        engine.interrupted.add(vm("aws-2"));
        const log: string[] = [];
        const r = await recover({ stack: engine, log: (l) => log.push(l) });
        assert.deepStrictEqual(r.recovered, ["aws-2-vm"]);
        assert.deepStrictEqual(engine.refreshed.map((t) => [...t].sort()), [["aws", "aws-2", "gcp"].map(vm).sort()]);
        const dead = [...diedWith(state.deployment.resources!, new Set([vm("aws-2")]))].map((u) => u.split("::").pop()!);
        assert.strictEqual(r.dropped, dead.length);
        assert.ok(dead.includes("aws-2-app-redis") && dead.includes("aws-2-docker") && dead.includes("aws-2-ready"), dead.join(", "));
        assert.deepStrictEqual(dead.filter((n) => !n.startsWith("aws-2-")), [], "only aws-2's resources died");
        assert.ok(log.some((l) => /aws-2-vm: GONE/.test(l)) && log.some((l) => /^ +aws-vm: present/.test(l)), log.join("\n"));
        assert.match(log[log.length - 1], /^done: rebuilt aws-2-vm and everything on it$/);
        // The state the up started from: aws's resources all there, aws-2's VM and what lived on it gone.
        assert.strictEqual(engine.imported, 1);
        const kept = names(engine.lastImported!);
        for (const n of ["aws-vm", "aws-docker", "aws-app-redis", "aws-app-proxy-routes"]) assert.ok(kept.includes(n), n);
        const deadUrns = diedWith(state.deployment.resources!, new Set([vm("aws-2")]));
        assert.deepStrictEqual(engine.lastImported!.deployment.resources!.filter((x) => deadUrns.has(x.urn)), []);
    });

    it("rebuilds both hosts of the cloud when both are gone, each by its own name", async () => {
        const engine = new StandInEngine(state, next);
        engine.interrupted.add(vm("aws"));
        engine.interrupted.add(vm("aws-2"));
        const r = await recover({ stack: engine, log: () => undefined });
        assert.deepStrictEqual([...r.recovered].sort(), ["aws-2-vm", "aws-vm"]);
        assert.strictEqual(r.dropped, diedWith(state.deployment.resources!, new Set([vm("aws"), vm("aws-2")])).size);
    });
});

describe("recover and destroy: the operator's servers, asked over SSH where they stand", () => {
    const SERVERS = { clouds: ["ssh"], ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "203.0.113.11", port: 2222, user: "ops", gpu: false }] } };
    const NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBszT9VXdGaRiWZzhoRya5djW1Qd/WIHvTMDI1vMRZkg";
    let run: ProgramRun;
    let state: StackState;
    before(async () => {
        run = await runProgram("dev", SERVERS);
        state = stateOf(run);
    });
    const urn = (name: string) => state.deployment.resources!.find((r) => r.urn.endsWith(`::${name}`))!.urn;
    const triggers = (s: StackState, name: string, where: "inputs" | "outputs") =>
        (s.deployment.resources!.find((r) => r.urn.endsWith(`::${name}`))![where] as { triggers: string[] }).triggers;

    /** Engine stand-in for the servers' stack: up replays the next state; destroy deletes through each server's engine. */
    class ServerEngine extends StandInEngine {
        /** Servers whose engine cannot be dialled (reinstalled with new keys, or gone). */
        readonly unreachable = new Set<string>();
        destroyed: string[] = [];
        constructor(s: StackState) {
            super(s, s);
            this.stackOutputs = outputsOf(run);
        }
        async preview(): Promise<readonly ResourceChange[]> {
            throw new Error("the servers are probed over SSH, not found by a preview");
        }
        async destroy(): Promise<{ changes: Record<string, number>; resources: never[] }> {
            for (const r of this.state.deployment.resources ?? []) {
                const host = /pulumi:providers:docker::(\w+)-docker::/.exec(r.provider ?? "")?.[1];
                if (host && this.unreachable.has(host)) throw new Error(`deleting ${r.urn}: error during connect: Get "http://docker.example.com/v1.47/containers/json": command [ssh ...] has exited with exit status 255`);
            }
            this.destroyed = (this.state.deployment.resources ?? []).map((r) => r.urn);
            this.state = { ...this.state, deployment: { ...this.state.deployment, resources: [] } };
            return { changes: { delete: this.destroyed.length }, resources: [] };
        }
    }
    const probing = (answers: Record<string, ServerProbe>, asked: [string, boolean][] = []) => (s: ServerToProbe, withNewKey: boolean): ServerProbe => {
        asked.push([s.name, withNewKey]);
        return answers[s.name];
    };

    it("finds each server with what a probe needs: the recorded host key and machine id, the address, port, user and this machine's key file", () => {
        const servers = serversIn(state.deployment.resources!, outputsOf(run), "org/gpu-hosts/dev");
        assert.deepStrictEqual(servers.map((s) => s.probe), [
            { name: "box1", address: "203.0.113.10", port: 22, user: "ubuntu", pinnedKey: triggers(state, "box1-host-key", "outputs")[0],
                machineId: triggers(state, "box1-machine", "outputs")[0], keyPath: "~/.ssh/gpu-hosts/gpu-hosts-dev-box1", authorizedKey: run.outputs.hosts.value.box1.authorizedKey },
            { name: "box2", address: "203.0.113.11", port: 2222, user: "ops", pinnedKey: triggers(state, "box2-host-key", "outputs")[0],
                machineId: triggers(state, "box2-machine", "outputs")[0], keyPath: "~/.ssh/gpu-hosts/gpu-hosts-dev-box2", authorizedKey: run.outputs.hosts.value.box2.authorizedKey },
        ]);
        assert.match(servers[0].probe!.pinnedKey, /^ssh-ed25519 /);
    });

    it("recover: a reinstalled server (new machine id, new host key) loses what lived on it and gets its new key pinned; the other is untouched", async () => {
        const engine = new ServerEngine(state);
        const asked: [string, boolean][] = [];
        const log: string[] = [];
        const r = await recover({ stack: engine, log: (l) => log.push(l), probe: probing({ box1: { state: "reinstalled", machineId: "f".repeat(32), hostKey: NEW_KEY, keyChanged: true }, box2: { state: "same" } }, asked) });
        assert.deepStrictEqual(asked, [["box1", true], ["box2", true]], "recover may read the id with a new key");
        assert.deepStrictEqual(r.recovered, ["box1-machine"]);
        assert.strictEqual(r.dropped, diedWith(state.deployment.resources!, new Set([urn("box1-machine")])).size);
        assert.ok(r.dropped > 20, `${r.dropped}`);
        assert.strictEqual(engine.imported, 1);
        assert.deepStrictEqual(engine.refreshed, [], "no VM to refresh");
        assert.ok(log.includes(`      box1-machine: REINSTALLED (a new machine id, and a new SSH host key ${describeKey(NEW_KEY)}, pinned from now on)`), log.join("\n"));
        assert.ok(log.includes("      box2-machine: the same machine"));
    });

    it("recover: the new key goes into the state as the recorded one (inputs and outputs), before the up", async () => {
        const engine = new ServerEngine(state);
        let seen: StackState | undefined;
        engine.up = async () => { seen = JSON.parse(JSON.stringify(engine.state)); return { changes: {} }; };
        await recover({ stack: engine, log: () => undefined, probe: probing({ box1: { state: "reinstalled", machineId: "f".repeat(32), hostKey: NEW_KEY, keyChanged: true }, box2: { state: "same" } }) });
        assert.deepStrictEqual(triggers(seen!, "box1-host-key", "inputs"), [NEW_KEY]);
        assert.deepStrictEqual(triggers(seen!, "box1-host-key", "outputs"), [NEW_KEY]);
        assert.deepStrictEqual(triggers(seen!, "box2-host-key", "outputs"), triggers(state, "box2-host-key", "outputs"));
        assert.ok(!seen!.deployment.resources!.some((r) => r.urn === urn("box1-machine") || r.urn === urn("box1-app-redis")), "what lived on box1 is gone");
        assert.ok(seen!.deployment.resources!.some((r) => r.urn === urn("box2-app-redis")));
    });

    it("recover: a new host key with the same machine id is refused, in one line, before anything changes", async () => {
        const engine = new ServerEngine(state);
        let upped = false;
        engine.up = async () => { upped = true; return { changes: {} }; };
        const e = await rejects(recover({ stack: engine, log: () => undefined, probe: probing({ box1: { state: "key-changed", hostKey: NEW_KEY, machineId: "a".repeat(32) }, box2: { state: "same" } }) }), "host-key");
        assert.match(e.message, /^box1: its SSH host key changed \(it now presents ssh-ed25519 SHA256:\S+\) but its machine id did not, and a reinstall changes both, so recover does not accept the key\. .*; nothing was changed$/);
        assert.doesNotMatch(e.message, /\n/);
        assert.deepStrictEqual([engine.imported, upped], [0, false]);
    });

    it("recover: a server that does not answer, or refuses the key, is named with its own line", async () => {
        const engine = new ServerEngine(state);
        const e = await rejects(recover({ stack: engine, log: () => undefined, probe: probing({
            box1: { state: "gone", why: "box1: no SSH answer from 203.0.113.10 port 22 within 10 s (Connection refused); check that the server is up" },
            box2: { state: "refused", why: "box2: ops@203.0.113.11 port 2222 refuses the stack's SSH key; authorise it (...), then run again: ssh-ed25519 AAAA" },
        }) }), "host-key");
        assert.match(e.message, /^box1: no SSH answer .*; box2: ops@203\.0\.113\.11 port 2222 refuses the stack's SSH key.*; nothing was changed$/);
        assert.strictEqual(engine.imported, 0);
    });

    it("recover: a server recorded before host keys were pinned is found by a preview, as before", async () => {
        const old = (u: string) => u.endsWith("-host-key");
        const legacy: StackState = { ...state, deployment: { ...state.deployment, resources: state.deployment.resources!.filter((r) => !old(r.urn))
            .map((r) => ({ ...r, dependencies: (r.dependencies ?? []).filter((u) => !old(u)) })) } };
        const engine = new ServerEngine(legacy);
        engine.preview = async () => [{ urn: urn("box2-machine"), change: "replace" } as ResourceChange];
        const r = await recover({ stack: engine, log: () => undefined, probe: () => { throw new Error("no probe without a recorded key"); } });
        assert.deepStrictEqual(r.recovered, ["box2-machine"]);
    });

    it("destroy: a reinstalled or gone server is not dialled; what lived on it is dropped, the rest destroyed (a plain destroy fails)", async () => {
        const plainEngine = new ServerEngine(state);
        plainEngine.unreachable.add("box1");
        await assert.rejects(plainEngine.destroy(), /error during connect/, "what `pulumi destroy` alone hits");

        for (const box1 of [
            { state: "key-changed", hostKey: NEW_KEY },
            { state: "reinstalled", machineId: "f".repeat(32), hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIold", keyChanged: false },
            { state: "gone", why: "box1: no SSH answer from 203.0.113.10 port 22 within 10 s (Connection timed out); check that the server is up" },
        ] as ServerProbe[]) {
            const engine = new ServerEngine(state);
            engine.unreachable.add("box1");
            const asked: [string, boolean][] = [];
            const log: string[] = [];
            await destroy({ stack: engine as unknown as StackOps, log: (l) => log.push(l), probe: probing({ box1, box2: { state: "same" } }, asked) });
            assert.deepStrictEqual(asked, [["box1", false], ["box2", false]], "destroy never logs in with a key it has not pinned");
            assert.ok(engine.destroyed.includes(urn("box2-app-redis")), "box2's containers are removed through its engine");
            assert.ok(!engine.destroyed.includes(urn("box1-app-redis")));
            assert.ok(engine.destroyed.includes(urn("box1-ssh-files")), "the key files on this machine are still removed");
            assert.ok(log.some((l) => /^      box1: (REINSTALLED|GONE|presents a new SSH host key)/.test(l)), log.join("\n"));
            assert.ok(!log.some((l) => l.includes("box1-app-ollama-models")), "no advice to remove a volume that went with the server");
            assert.ok(log.some((l) => l.includes("box2-app-ollama-models")));
            assert.match(log.find((l) => l.startsWith("done:"))!, /dropped with box1/);
        }
    });

    it("destroy: a server that refuses the key stops the destroy with its line; one that is the same machine is destroyed as ever", async () => {
        const engine = new ServerEngine(state);
        await rejects(destroy({ stack: engine as unknown as StackOps, log: () => undefined, probe: probing({ box1: { state: "refused", why: "box1: refuses" }, box2: { state: "same" } }) }), "host-key");
        assert.deepStrictEqual(engine.destroyed, []);
        const fine = new ServerEngine(state);
        await destroy({ stack: fine as unknown as StackOps, log: () => undefined, probe: probing({ box1: { state: "same" }, box2: { state: "same" } }) });
        assert.strictEqual(fine.imported, 0, "nothing dropped");
        assert.ok(fine.destroyed.includes(urn("box1-app-redis")));
    });
});
