// Runs the real index.ts under strict mocks with a stack's real YAML config, merged by the engine's
// own rules: Pulumi.yaml declarations, then Pulumi.<stack>.yaml, then per-test overrides (as
// `pulumi config set` would).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { MockWorld, Recorded, StrictMocks } from "./mocks";

export const ROOT = path.resolve(__dirname, "..", "..");
const PROJECT = "gpu-hosts";

/** This checkout's HEAD: a commit that holds the app, for slots pinned the way `npm run up` pins them. */
export const HEAD_COMMIT = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();

/**
 * Both slots pinned to HEAD. The program refuses an unpinned slot (npm run up pins a new stack before
 * its first update), so a test run starts from pinned slots unless it sets `slots` itself.
 */
export const PINNED_SLOTS = { blue: { release: "main", commit: HEAD_COMMIT }, green: { release: "main", commit: HEAD_COMMIT } };

/** A config override set as a secret (`pulumi config set --secret`). */
export class SecretValue {
    constructor(readonly value: unknown) {}
}
export const secret = (value: unknown): SecretValue => new SecretValue(value);

const encode = (v: unknown): string => {
    const plainValue = v instanceof SecretValue ? v.value : v;
    return typeof plainValue === "string" ? plainValue : JSON.stringify(plainValue);
};

/** A config key as the engine names it: keys declared in Pulumi.yaml without a namespace get the project's. */
const fullKey = (k: string): string => (k.includes(":") ? k : `${PROJECT}:${k}`);

/** The type name the engine prints for a declared type (InferFullTypeName): "string", "array<string>"... */
function typeName(decl: { type?: string; items?: { type?: string } }): string {
    return decl.type === "array" ? `array<${decl.items?.type ?? "string"}>` : String(decl.type);
}

/** Whether a stack value has a declared type, as the engine checks it (ValidateConfigValue). */
function hasType(type: string | undefined, items: { type?: string } | undefined, given: unknown): boolean {
    const v = given instanceof SecretValue ? given.value : given;
    switch (type) {
        case "string":
            return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
        case "integer":
            return (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v));
        case "boolean":
            return typeof v === "boolean" || v === "true" || v === "false";
        case "array":
            return Array.isArray(v) && v.every((x) => hasType(items?.type ?? "string", undefined, x));
        default:
            return true;
    }
}

/**
 * The config map the Pulumi CLI would hand the program for `stack`, or the error the engine would
 * stop with before the program runs. It applies the engine's rules for project-declared config
 * (pulumi/pulumi sdk/go/common/workspace: ValidateStackConfigAndApplyProjectConfig):
 * - a declared key the stack does not set takes its default; with no default it is required, and
 *   the engine refuses the stack: "Stack 'local' is missing configuration value 'sshPublicKey'";
 * - a stack value of a typed key must have that type:
 *   "Stack 'dev' with configuration key 'apiPort' must be of type 'integer'";
 * and, beyond the engine, an undeclared `gpu-hosts:` key is an error, since the program would
 * refuse it anyway.
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}, files: StackFiles = {}): Record<string, string> {
    const project = YAML.parse(files.project ?? fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const stackFile = YAML.parse(files.stack ?? fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) ?? {};
    const values = new Map<string, unknown>();
    for (const [k, v] of Object.entries<unknown>(stackFile.config ?? {})) values.set(fullKey(k), v);
    for (const [k, v] of Object.entries(overrides)) {
        if (v === undefined) values.delete(fullKey(k));
        else values.set(fullKey(k), v);
    }

    const declared = new Map(Object.entries<any>(project.config ?? {}).map(([k, decl]) => [fullKey(k), { key: k, decl: decl ?? {} }]));
    const missing: string[] = [];
    const problems: string[] = [];
    const out: Record<string, string> = {};
    for (const [full, { key, decl }] of declared) {
        if (values.has(full)) {
            if (decl.type !== undefined && !hasType(decl.type, decl.items, values.get(full))) {
                problems.push(`Stack '${stack}' with configuration key '${key}' must be of type '${typeName(decl)}'`);
            }
        } else if (decl.default !== undefined) {
            out[full] = encode(decl.default);
        } else if (decl.value === undefined) {
            missing.push(key);
        }
    }
    if (missing.length > 0) {
        // formatMissingKeys: 'a', 'a' and 'b', 'a', 'b' and 'c'.
        const quoted = missing.sort().map((k) => `'${k}'`);
        const keys = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} and ${quoted[quoted.length - 1]}`;
        problems.unshift(`Stack '${stack}' is missing configuration ${missing.length === 1 ? "value" : "values"} ${keys}`);
    }
    for (const full of values.keys()) {
        if (full.startsWith(`${PROJECT}:`) && !declared.has(full)) problems.push(`Stack '${stack}' sets ${full}, which Pulumi.yaml does not declare`);
    }
    if (problems.length > 0) throw new EngineConfigError(problems);
    for (const [k, v] of values) out[k] = encode(v);
    return out;
}

/** Text to use instead of the project's real Pulumi.yaml / Pulumi.<stack>.yaml (for tests of the loader itself). */
export interface StackFiles {
    readonly project?: string;
    readonly stack?: string;
}

/** What the engine reports when it refuses a stack's config before running the program. */
export class EngineConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(problems.join("\n"));
        this.name = "EngineConfigError";
    }
}

export interface Resolved {
    readonly value: any;
    readonly secret: boolean;
}

/** An Output's value and whether it is secret. */
export async function resolve(o: unknown): Promise<Resolved> {
    if (!pulumi.Output.isInstance(o)) return { value: o, secret: false };
    const out = o as pulumi.Output<unknown>;
    const secret = await (out as any).isSecret;
    const value = await new Promise((res) => out.apply((v) => { res(v); return v; }));
    return { value, secret };
}

export interface ProgramRun {
    readonly mocks: StrictMocks;
    readonly resources: readonly Recorded[];
    readonly outputs: Record<string, Resolved>;
    /** Custom resources of a type, by name. */
    byType(type: string): Recorded[];
    /** The one custom resource with this name; throws if missing. */
    get(name: string): Recorded;
}

/**
 * Loads index.ts afresh under mocks for `stack`; rejects with the engine's config error
 * (EngineConfigError) or the program's (e.g. ConfigError). `world` varies what the mocked clouds and
 * engines answer (a VM's new id, the local engine's platform).
 */
export async function runProgram(stack: string, overrides: Record<string, unknown> = {}, world: MockWorld = {}): Promise<ProgramRun> {
    // A run is 1-5 s; suites that only read a run share it. Runs are frozen so no test can change
    // what another sees; tests that compare two runs of the same config use runProgramFresh.
    const key = JSON.stringify([stack, Object.entries(overrides).map(([k, v]) => [k, v instanceof SecretValue ? { secret: v.value } : v]), world,
        process.env.DOCKER_HOST, process.env.DOCKER_CONTEXT]);
    let run = runs.get(key);
    if (!run) {
        run = runProgramFresh(stack, overrides, world);
        runs.set(key, run);
        run.catch(() => runs.delete(key));
    }
    return run;
}

const runs = new Map<string, Promise<ProgramRun>>();

/** Like runProgram, but always runs the program again (for "the same config twice" comparisons). */
export async function runProgramFresh(stack: string, overrides: Record<string, unknown> = {}, world: MockWorld = {}, root = ROOT): Promise<ProgramRun> {
    const config = stackConfig(stack, { slots: PINNED_SLOTS, ...overrides }, {
        project: fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"),
        stack: fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8"),
    });
    const mocks = new StrictMocks(world);
    // The organization a diy (file) backend gives every stack (pulumi/pulumi pkg/backend/diy/store.go).
    await pulumi.runtime.setMocks(mocks, PROJECT, stack, false, "organization");
    mocks.recordOptions(PROJECT, stack);
    // Values given as secret(...) are marked secret, as `pulumi config set --secret` does.
    pulumi.runtime.setAllConfig(config, Object.entries(overrides).filter(([, v]) => v instanceof SecretValue).map(([k]) => fullKey(k)));
    for (const id of Object.keys(require.cache)) {
        if (id.startsWith(root) && !id.includes(`${path.sep}node_modules${path.sep}`) && !id.includes(`${path.sep}test${path.sep}`)) {
            delete require.cache[id];
        }
    }
    // The program resolves paths from its own directory, as `pulumi up` runs it there; a server's
    // machine id follows the world's machine generation (the stub ssh of test/helpers/setup.ts).
    const cwd = process.cwd();
    process.chdir(root);
    process.env.GPU_HOSTS_TEST_MACHINE_GENERATION = String(world.machineGeneration ?? 0);
    const outputs: Record<string, Resolved> = {};
    try {
        await Promise.race([(async () => {
            // An async program exports a function the engine calls and awaits (@pulumi/pulumi
            // cmd/run/run.ts), still in the project directory.
            const exported: unknown = require(path.join(root, "index.ts"));
            const program = (typeof exported === "function" ? await exported() : exported) as Record<string, unknown>;
            process.chdir(cwd);
            for (const [k, v] of Object.entries<unknown>(program)) outputs[k] = await resolve(v);
            await mocks.settle();
        })(), mocks.failure]);
    } finally {
        process.chdir(cwd);
        delete process.env.GPU_HOSTS_TEST_MACHINE_GENERATION;
    }
    deepFreeze(mocks.resources);
    deepFreeze(outputs);
    return {
        mocks,
        resources: mocks.resources,
        outputs,
        byType: (type) => mocks.byType(type),
        get: (name) => mocks.get(name),
    };
}

/**
 * The URN the engine gives resource `r`: its parent's URN without the name, "$", its own type, "::",
 * its name (@pulumi/pulumi sdk/nodejs/resource.ts createUrn; the stack itself is no prefix), so its
 * type part chains the types of all its ancestors. The mock monitor's URNs name the parent's type
 * only (recordOptions); the operator scripts read the engine's.
 */
export function engineUrn(run: Pick<ProgramRun, "resources">, r: Recorded): string {
    const byUrn = new Map(run.resources.map((x) => [x.urn, x]));
    const types: string[] = [r.type];
    for (let p = byUrn.get(r.options.parent); p; p = byUrn.get(p.options.parent)) types.unshift(p.type);
    return `urn:pulumi:${r.urn.split("::")[0].slice("urn:pulumi:".length)}::${PROJECT}::${types.join("$")}::${r.name}`;
}

function deepFreeze(v: unknown): void {
    if (v && typeof v === "object" && !Object.isFrozen(v)) {
        Object.freeze(v);
        for (const x of Object.values(v)) deepFreeze(x);
    }
}

/** Custom resources ("type::name") whose inputs differ between two runs; both runs must create the same set. */
export function changedInputs(a: ProgramRun, b: ProgramRun): string[] {
    const inputs = (r: ProgramRun) => new Map(r.resources.filter((x) => x.custom).map((x) => [`${x.type}::${x.name}`, JSON.stringify(x.inputs)]));
    const x = inputs(a);
    const y = inputs(b);
    const names = [...x.keys()].sort();
    if (JSON.stringify(names) !== JSON.stringify([...y.keys()].sort())) {
        throw new Error(`the two runs create different resources:\n${names.join(", ")}\nvs\n${[...y.keys()].sort().join(", ")}`);
    }
    return names.filter((k) => x.get(k) !== y.get(k));
}
