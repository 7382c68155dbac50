// The contract between the program and the operator scripts (infra/contract), checked on what the
// real index.ts makes under strict mocks for the local, dev and prod stacks and two stacks of the
// operator's own servers: every name and type token the scripts look for is on the resource the
// program really makes, each of the scripts' classifiers finds exactly those resources in
// engine-shaped URNs, and the outputs parse back, unchanged, through the scripts' one parser.
import * as assert from "assert";
import { CLOUDS, isCloud } from "../../infra/clouds";
import {
    APP_STACK_TYPE, CONTAINERS, LOCAL_COMMAND_TYPE, LOCAL_HOST_TYPE, PROXY_TYPE, SERVER_HOST_TYPE, SLOT_TYPE, appStackName, modelVolumeName,
    proxyName, routesName, serverIdentityName, slotName, vmName,
} from "../../infra/contract/names";
import { StackOutputs, isCloudHost } from "../../infra/contract/outputs";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { COLORS, Color, HostKind } from "../../infra/vocabulary";
import { vmHostOf } from "../../scripts/lib/capacity";
import { isRoutes, slotOf } from "../../scripts/lib/changes";
import { isServerIdentity, StackState } from "../../scripts/lib/recover";
import { machineOf } from "../../scripts/lib/status/cost";
import { expectedContainers, roleOf } from "../../scripts/lib/status/containers";
import { keptAdvice } from "../../scripts/lib/up";
import { Recorded } from "../helpers/mocks";
import { ProgramRun, engineUrn, runProgram, secret } from "../helpers/stack";

const OPERATOR_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123456789abcdef\n-----END OPENSSH PRIVATE KEY-----\n";
const SERVERS = { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false }] };
const STACKS: readonly { label: string; stack: string; overrides: Record<string, unknown> }[] = [
    { label: "local", stack: "local", overrides: {} },
    { label: "dev", stack: "dev", overrides: {} },
    { label: "prod", stack: "prod", overrides: {} },
    { label: "own servers, the stack's key, beside the local engine", stack: "dev", overrides: { clouds: ["local", "ssh"], ssh: SERVERS } },
    { label: "own servers, the operator's key, auth and TLS off", stack: "dev", overrides: { clouds: ["ssh"], ssh: SERVERS, sshPrivateKey: secret(OPERATOR_SSH_KEY), auth: { enabled: false }, tls: { mode: "off" } } },
];

/** The stack outputs as the engine keeps them: plain JSON, an undefined value's key dropped (@pulumi/pulumi runtime/rpc.ts serializeProperty). */
function rawOutputs(run: ProgramRun): Record<string, unknown> {
    return JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, v.value]))));
}

const names = (rs: readonly Recorded[]) => rs.map((r) => r.name).sort();
/** A host kind's component token: a cloud's is its driver's, the local engine's and a server's the contract's. */
const hostTypeOf = (k: HostKind) => (isCloud(k) ? CLOUDS[k].hostType : k === "local" ? LOCAL_HOST_TYPE : SERVER_HOST_TYPE);

for (const { label, stack, overrides } of STACKS) {
    describe(`the program/scripts contract: ${label}`, () => {
        let run: ProgramRun;
        let raw: Record<string, unknown>;
        let outputs: StackOutputs;
        let hosts: [string, HostKind][];
        const urn = (r: Recorded) => engineUrn(run, r);
        before(async () => {
            run = await runProgram(stack, overrides);
            raw = rawOutputs(run);
            outputs = parseStackOutputs(raw);
            hosts = Object.entries(outputs.hosts).map(([name, h]) => [name, h.kind]);
        });

        it("outputs: parse through the scripts' parser, nothing dropped and nothing changed", () => {
            assert.deepStrictEqual(outputs, raw);
            assert.ok(hosts.length > 0);
        });

        it("hosts: one component per host, its kind's type token, named as the outputs name it", () => {
            const components = run.resources.filter((r) => r.type.startsWith("gpu-hosts:hosts:"));
            assert.deepStrictEqual(components.map((r) => `${r.type} ${r.name}`).sort(), hosts.map(([n, k]) => `${hostTypeOf(k)} ${n}`).sort());
        });

        it("app stacks, slots and proxies: the type tokens and names the scripts derive from the host's name", () => {
            const of = (type: string) => run.resources.filter((r) => r.type === type);
            assert.deepStrictEqual(names(of(APP_STACK_TYPE)), hosts.map(([h]) => appStackName(h)).sort());
            assert.deepStrictEqual(names(of(SLOT_TYPE)), hosts.flatMap(([h]) => COLORS.map((c) => slotName(appStackName(h), c))).sort());
            assert.deepStrictEqual(names(of(PROXY_TYPE)), hosts.map(([h]) => proxyName(appStackName(h))).sort());
        });

        it("slotOf: every resource under a Slot is that slot's, every other resource is shared", () => {
            const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
            const slotAbove = (r: Recorded): Recorded | undefined => {
                for (let x: Recorded | undefined = r; x; x = byUrn.get(x.options.parent)) if (x.type === SLOT_TYPE) return x;
                return undefined;
            };
            let inSlots = 0;
            for (const r of run.resources) {
                const slot = slotAbove(r);
                const expected: Color | undefined = slot && COLORS.find((c) => hosts.some(([h]) => slot.name === slotName(appStackName(h), c)));
                if (slot) inSlots++;
                assert.strictEqual(slotOf(urn(r)), expected, urn(r));
            }
            assert.ok(inSlots >= hosts.length * 2 * 5, `${inSlots} resources in slots`);
        });

        it("isRoutes: exactly each host's routes command, the one resource a swap changes", () => {
            assert.deepStrictEqual(names(run.resources.filter((r) => isRoutes(urn(r)))), hosts.map(([h]) => routesName(proxyName(appStackName(h)))).sort());
        });

        it("isServerIdentity: exactly each own server's identity record, under its SshServerHost", () => {
            const identities = run.resources.filter((r) => isServerIdentity({ urn: urn(r), type: r.type }));
            assert.deepStrictEqual(names(identities), hosts.filter(([, k]) => k === "ssh").map(([h]) => serverIdentityName(h)).sort());
            for (const r of identities) assert.strictEqual(r.type, LOCAL_COMMAND_TYPE);
        });

        it("vmHostOf and machineOf: exactly each cloud host's VM, of its cloud", () => {
            const vms = run.resources.filter((r) => vmHostOf(urn(r))?.cloud !== undefined);
            const clouds = Object.entries(outputs.hosts).filter(([, h]) => isCloudHost(h));
            assert.deepStrictEqual(vms.map((r) => `${vmHostOf(urn(r))?.cloud} ${r.name}`).sort(), clouds.map(([n, h]) => `${h.kind} ${vmName(n)}`).sort());
            const state: StackState = { version: 3, deployment: { resources: run.resources.map((r) => ({ urn: urn(r), type: r.type, custom: r.custom, id: r.id })) } };
            for (const [n] of clouds) assert.strictEqual(machineOf(state, n)?.urn, urn(vms.find((r) => r.name === vmName(n))!), n);
            for (const [n] of hosts.filter(([, k]) => k === "local" || k === "ssh")) assert.strictEqual(machineOf(state, n), undefined, n);
        });

        it("status: the containers it expects are the ones the program runs, each with its role", () => {
            const containers = run.resources.filter((r) => r.type === "docker:index/container:Container");
            const auth = outputs.apiKey !== undefined;
            for (const [h] of hosts) {
                const mine = containers.filter((c) => c.name.startsWith(`${appStackName(h)}-`));
                // Every container is named as its resource, but the key service's: it has no name of its
                // own, so the Docker provider names it "<resource name>-<7 random hex>" and the new one can
                // start before the old one stops (pulumi-docker provider/resources.go SetAutonaming(255, "-")).
                const named = mine.filter((c) => c.inputs.name !== undefined);
                assert.deepStrictEqual(named.map((c) => c.inputs.name).sort(), named.map((c) => c.name).sort(), `${h}: each named container's resource has its name`);
                const unnamed = mine.filter((c) => c.inputs.name === undefined).map((c) => c.name);
                assert.deepStrictEqual(unnamed, auth ? [CONTAINERS.auth(`${appStackName(h)}-proxy`)] : [], `${h}: only the key service is named by the provider`);
                assert.deepStrictEqual(mine.map((c) => c.name).sort(), expectedContainers(h, auth).sort(), h);
                for (const c of unnamed) assert.strictEqual(roleOf(h, `${c}-a1b2c3d`).role, "auth", "status knows the provider's name for it");
                for (const c of mine) assert.notStrictEqual(roleOf(h, c.name).role, "other", c.name);
                assert.strictEqual(roleOf(h, CONTAINERS.worker(slotName(appStackName(h), "green"))).slot, "green");
            }
        });

        it("destroy: the model volume it says it kept is the one the program keeps", () => {
            const kept = keptAdvice(raw).join("\n");
            for (const [h, kind] of hosts) {
                const volume = run.get(modelVolumeName(appStackName(h)));
                assert.strictEqual(volume.inputs.name, modelVolumeName(appStackName(h)));
                assert.strictEqual(volume.options.retainOnDelete, true);
                // A cloud VM's volumes go with its disk; the local engine and own servers keep theirs.
                assert.strictEqual(kept.includes(`docker volume rm ${volume.inputs.name}`), kind === "local" || kind === "ssh", h);
            }
        });
    });
}
