// Runs the real index.ts under strict mocks with a stack's real YAML config:
// Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then per-test overrides (as `pulumi config set` would).
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { Recorded, StrictMocks } from "./mocks";

export const ROOT = path.resolve(__dirname, "..", "..");
const PROJECT = "gpu-hosts";

const encode = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** The config map the Pulumi CLI would hand the program for `stack`. */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const out: Record<string, string> = {};
    for (const [k, decl] of Object.entries<any>(project.config ?? {})) {
        if (decl && decl.default !== undefined) out[`${PROJECT}:${k}`] = encode(decl.default);
    }
    const stackFile = YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) ?? {};
    for (const [k, v] of Object.entries<unknown>(stackFile.config ?? {})) out[k.includes(":") ? k : `${PROJECT}:${k}`] = encode(v);
    for (const [k, v] of Object.entries(overrides)) {
        if (v === undefined) delete out[`${PROJECT}:${k}`];
        else out[`${PROJECT}:${k}`] = encode(v);
    }
    return out;
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

/** Loads index.ts afresh under mocks for `stack`; rejects with the program's error (e.g. ConfigError). */
export async function runProgram(stack: string, overrides: Record<string, unknown> = {}): Promise<ProgramRun> {
    const mocks = new StrictMocks();
    await pulumi.runtime.setMocks(mocks, PROJECT, stack, false);
    pulumi.runtime.setAllConfig(stackConfig(stack, overrides), []);
    for (const id of Object.keys(require.cache)) {
        if (id.startsWith(ROOT) && !id.includes(`${path.sep}node_modules${path.sep}`) && !id.includes(`${path.sep}test${path.sep}`)) {
            delete require.cache[id];
        }
    }
    const program = require(path.join(ROOT, "index.ts"));
    const outputs: Record<string, Resolved> = {};
    for (const [k, v] of Object.entries<unknown>(program)) outputs[k] = await resolve(v);
    await mocks.settle();
    return {
        mocks,
        resources: mocks.resources,
        outputs,
        byType: (type) => mocks.byType(type),
        get: (name) => mocks.get(name),
    };
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
