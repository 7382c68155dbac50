// Builds cloud host components alone under strict mocks, from a stack's real YAML config, and
// records what a reviewer checks: resources, their inputs and their dependency edges.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig, loadConfig, namespaced } from "../../infra/config";
import { CloudHostArgs, NEVER_EXPOSED_PORTS } from "../../infra/clouds/common";
import { cloudHostArgs } from "../../infra/inventory";
import { createStackKey } from "../../infra/hosts/ssh";
import * as YAML from "yaml";
import { MockWorld, Recorded, StrictMocks, fakeEd25519Public, fakeOpensshPrivate } from "./mocks";
import { isSecretInput, plain, plainStrings, unsecret } from "./secrets";
import { PINNED_SLOTS, resolve, stackConfig } from "./stack";

/** What a resource's registration told the engine besides its inputs. */
export interface Registration {
    readonly type: string;
    /** Names of the resources it depends on (dependsOn and inputs). */
    readonly deps: string[];
    readonly deleteBeforeReplace: boolean;
    readonly ignoreChanges: string[];
    readonly replaceOnChanges: string[];
    /** Name of the parent resource. */
    readonly parent: string;
}

export interface HostRun {
    readonly mocks: StrictMocks;
    readonly cfg: StackConfig;
    readonly args: CloudHostArgs;
    readonly privateKey: pulumi.Output<string>;
    /** Each resource's registration, by name. */
    readonly regs: Map<string, Registration>;
    /** Custom resources of a type. */
    byType(type: string): Recorded[];
    /** The one custom resource with this name. */
    get(name: string): Recorded;
}

/**
 * Sets strict mocks for `stack`, loads its real config (with overrides) and builds the stack's
 * SSH key the way index.ts does. Then `build` makes the host; resources settle before return.
 */
export async function buildHost<T>(
    stack: "dev" | "prod",
    build: (cfg: StackConfig, args: CloudHostArgs) => T,
    overrides: Record<string, unknown> = {},
    world: MockWorld = {},
): Promise<HostRun & { host: T }> {
    const mocks = new StrictMocks(world);
    await pulumi.runtime.setMocks(mocks, "gpu-hosts", stack, false);
    mocks.recordOptions("gpu-hosts", stack);
    const regs = new Map<string, Registration>();
    const monitor = pulumi.runtime.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    const nameOf = (urn: string) => urn.split("::").pop()!;
    monitor.registerResource = (req: any, cb: any) => {
        if (regs.has(req.getName())) throw new Error(`two resources named ${req.getName()}`);
        regs.set(req.getName(), {
            type: req.getType(),
            deps: [...new Set((req.getDependenciesList() as string[]).map(nameOf))],
            deleteBeforeReplace: req.getDeletebeforereplace(),
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            parent: req.getParent() ? nameOf(req.getParent()) : "",
        });
        return register(req, cb);
    };
    const cfg = loadConfig(stack, namespaced(stackConfig(stack, { slots: PINNED_SLOTS, ...overrides })));
    const key = createStackKey("ssh-key");
    const args = cloudHostArgs(cfg, { publicKey: key.publicKeyOpenssh, privateKey: key.privateKeyOpenssh });
    const host = build(cfg, args);
    await Promise.race([mocks.settle(), mocks.failure]);
    return {
        mocks, cfg, args, host, regs, privateKey: key.privateKeyOpenssh,
        byType: (type) => mocks.byType(type),
        get: (name) => mocks.get(name),
    };
}

/** Every public Output-or-value field of a component, resolved. */
export async function resolveFields(obj: object): Promise<Record<string, { value: unknown; secret: boolean }>> {
    const out: Record<string, { value: unknown; secret: boolean }> = {};
    // A host component holds its GpuHost (what connectRemote made) in `host`: its fields count as the component's.
    const { host, ...own } = obj as { host?: unknown };
    const fields = host && typeof host === "object" && !pulumi.Resource.isInstance(host) ? { ...host, ...own } : obj;
    for (const [k, v] of Object.entries(fields)) {
        // onHost holds resource options (the machine resource itself), not values.
        if (k.startsWith("__") || k === "urn" || k === "onHost" || typeof v === "function" || pulumi.Resource.isInstance(v)) continue;
        if (k === "host" && v && typeof v === "object") continue;
        if (k === "details" && v && typeof v === "object") {
            for (const [dk, dv] of Object.entries(v)) out[`details.${dk}`] = await resolve(dv);
            continue;
        }
        out[k] = await resolve(v);
    }
    return out;
}

/** The `details.*` entries of resolveFields' result, keyed without the prefix. */
export function detailsOf(fields: Record<string, { value: unknown }>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(fields).filter(([k]) => k.startsWith("details.")).map(([k, v]) => [k.slice(8), v.value]));
}

/** One inbound allowance, whatever cloud it came from. */
export interface Ingress {
    readonly resource: string;
    readonly from: number;
    readonly to: number;
    readonly source: string;
}

const WORLD = new Set(["0.0.0.0/0", "::/0", "*", "Internet", "Any"]);
export const isWorld = (source: string): boolean => WORLD.has(source);

function portRange(spec: string | number | undefined): [number, number] {
    if (spec === undefined || spec === "*" || spec === "") return [0, 65535];
    const [a, b] = String(spec).split("-").map(Number);
    return [a, b ?? a];
}

/**
 * Every inbound allow rule in the recorded resources of all three clouds: AWS security group
 * rules (standalone and inline), GCP firewall allows, Azure NSG rules.
 */
export function ingressOf(resources: readonly Recorded[]): Ingress[] {
    const out: Ingress[] = [];
    for (const r of resources) {
        const i = r.inputs;
        switch (r.type) {
            case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
                const all = i.ipProtocol === "-1";
                out.push({ resource: r.name, from: all ? 0 : i.fromPort, to: all ? 65535 : i.toPort, source: i.cidrIpv4 ?? i.cidrIpv6 ?? i.prefixListId ?? i.referencedSecurityGroupId });
                break;
            }
            case "aws:ec2/securityGroup:SecurityGroup":
                for (const rule of i.ingress ?? []) {
                    for (const cidr of [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])]) {
                        out.push({ resource: r.name, from: rule.fromPort, to: rule.toPort, source: cidr });
                    }
                }
                break;
            case "gcp:compute/firewall:Firewall":
                if ((i.direction ?? "INGRESS") !== "INGRESS") break;
                for (const allow of i.allows ?? []) {
                    const ranges = allow.ports?.length ? allow.ports.map(portRange) : [[0, 65535]];
                    for (const [from, to] of ranges) {
                        for (const source of i.sourceRanges ?? []) out.push({ resource: r.name, from, to, source });
                    }
                }
                break;
            case "azure-native:network:NetworkSecurityGroup":
                for (const rule of i.securityRules ?? []) {
                    if (rule.direction !== "Inbound" || rule.access !== "Allow") continue;
                    const ports = rule.destinationPortRanges ?? [rule.destinationPortRange];
                    const sources = rule.sourceAddressPrefixes ?? [rule.sourceAddressPrefix];
                    for (const p of ports) {
                        const [from, to] = portRange(p);
                        for (const source of sources) out.push({ resource: `${r.name}/${rule.name}`, from, to, source });
                    }
                }
                break;
            case "azure-native:network:SecurityRule":
                throw new Error("standalone Azure security rules are not expected; extend ingressOf");
        }
    }
    return out;
}

/**
 * Asserts a host's ingress is exactly SSH and the idle port from operatorCidrs and the API port
 * from apiCidrs and operatorCidrs, never a port in NEVER_EXPOSED_PORTS, and nothing open to the
 * world in prod.
 */
export function assertExactIngress(run: HostRun, stack: "dev" | "prod"): void {
    const rules = ingressOf(run.mocks.resources);
    const got = rules.map((r) => `${r.from}-${r.to} ${r.source}`).sort();
    const want = [
        ...run.cfg.operatorCidrs.flatMap((c) => [`22-22 ${c}`, `${run.cfg.idlePort}-${run.cfg.idlePort} ${c}`]),
        // The live port: its clients and the operators, whose promote and rollback verify it.
        ...[...new Set([...run.cfg.apiCidrs, ...run.cfg.operatorCidrs])].map((c) => `${run.cfg.apiPort}-${run.cfg.apiPort} ${c}`),
    ].sort();
    assert.deepStrictEqual(got, want);
    for (const r of rules) {
        for (const p of NEVER_EXPOSED_PORTS) assert.ok(p < r.from || p > r.to, `${r.resource} opens ${p}`);
        if (stack === "prod") assert.ok(!isWorld(r.source), `${r.resource} is open to the world in prod`);
    }
}

/**
 * Asserts the stack's SSH private key is secret where the `<prefix>-ready` gate gets it, reaches
 * no command's stdin or argv, appears in no plain input, and in none of the host's fields.
 */
export async function assertPrivateKeyKeptSecret(run: HostRun & { host: object }, prefix: string): Promise<void> {
    const key = ((await resolve(run.privateKey)).value as string).trim();
    assert.ok(isSecretInput(run.get(`${prefix}-ready`).inputs.connection));
    for (const r of run.mocks.resources) assert.ok(!JSON.stringify(r.inputs.stdin ?? "").includes("PRIVATE KEY"), `${r.name} gets the key on stdin`);
    for (const r of run.mocks.resources) assert.ok(!plainStrings(r.inputs).some((s) => s.includes(key)), `${r.name} leaks the key`);
    for (const [k, v] of Object.entries(await resolveFields(run.host))) {
        // The user data carries the VM's private host key: a field may hold a private key only as a secret.
        assert.ok(v.secret || !JSON.stringify(v.value ?? "").includes("PRIVATE KEY"), `${k} exposes a private key`);
    }
}

/**
 * Asserts a cloud VM's SSH host key: the stack generates it (`<prefix>-host-key`, ED25519, a child
 * of the host), cloud-init gets both halves in ssh_keys (the image's keys deleted), the user data is
 * a secret input and the private half is in no plain input or host field, and every connection
 * requires the public half: each remote command's `hostKey`, and the known_hosts the gate and the
 * Docker provider trust. `input` is the VM's input that carries the user data, as recorded: the SDK
 * makes the whole of it secret (AWS userData; GCP metadata and Azure osProfile, which their SDKs turn
 * into one Output); `userDataOf` takes the cloud-config text out of its plain value.
 */
export async function assertHostKeyPinned(run: HostRun & { host: object }, prefix: string, input: unknown, userDataOf: (plainInput: any) => string): Promise<void> {
    const key = run.get(`${prefix}-host-key`);
    assert.strictEqual(key.type, "tls:index/privateKey:PrivateKey");
    assert.strictEqual(key.inputs.algorithm, "ED25519");
    assert.match(run.regs.get(`${prefix}-host-key`)!.parent, new RegExp(`^${prefix}$`), "a child of the host");
    const privateKey = fakeOpensshPrivate(`${prefix}-host-key`);
    const publicKey = fakeEd25519Public(`${prefix}-host-key`).trim();
    assert.ok(isSecretInput(input), "the user data carries a private key: secret");
    const config = YAML.parse(userDataOf(plain(input)));
    assert.strictEqual(config.ssh_deletekeys, true);
    assert.deepStrictEqual(config.ssh_keys, { ed25519_private: privateKey, ed25519_public: publicKey });
    const body = privateKey.split("\n")[1];
    for (const r of run.mocks.resources) assert.ok(!plainStrings(r.inputs).some((s) => s.includes(body)), `${r.name} has the host key in plain text`);
    for (const [k, v] of Object.entries(await resolveFields(run.host))) {
        assert.ok(v.secret || !JSON.stringify(v.value ?? "").includes(body), `${k} exposes the host key`);
    }
    const remotes = run.byType("command:remote:Command");
    assert.ok(remotes.length > 0);
    for (const r of remotes) assert.strictEqual(unsecret(r.inputs.connection).hostKey, publicKey, `${r.name} requires the host key`);
    assert.match(run.get(`${prefix}-docker`).inputs.sshOpts, /"StrictHostKeyChecking=yes"/);
    assert.match(run.get(`${prefix}-ssh-gate`).inputs.create, /StrictHostKeyChecking=yes/);
}
