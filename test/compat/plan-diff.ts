// What the program plans, compared with another commit's, under the same strict mocks: every
// resource (URN, inputs, options, provider) and every stack output, for each stack and a few
// variations of it. No difference means an existing stack deployed by that commit plans no change
// here (the engine diffs exactly these). A tool for refactors and upgrades, not a suite:
//   node -r ts-node/register/transpile-only -r ./test/helpers/setup.ts test/compat/plan-diff.ts <git ref>
// It checks the ref out in a temporary worktree that shares this checkout's node_modules.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ProgramRun, ROOT, runProgramFresh, secret } from "../helpers/stack";

const SSH_HOSTS = { hosts: [{ name: "box1", address: "203.0.113.20" }, { name: "box2", address: "gpu2.example.com", port: 2222, user: "ops", gpu: false }] };
const API_KEYS = secret("k".repeat(40) + ",j".repeat(1) + "j".repeat(39));

/** Each stack with the variations worth comparing; `overrides` as `pulumi config set` would. */
export const CASES: readonly { readonly name: string; readonly stack: string; readonly overrides: Record<string, unknown> }[] = [
    { name: "local", stack: "local", overrides: {} },
    { name: "local, auth off", stack: "local", overrides: { auth: { enabled: false } } },
    { name: "local, own API keys", stack: "local", overrides: { apiKeys: API_KEYS } },
    { name: "dev", stack: "dev", overrides: {} },
    { name: "dev, placements recorded", stack: "dev", overrides: { placements: { aws: { region: "us-east-2", zone: "", instanceType: "g4dn.xlarge", spot: true, tried: ["us-east-1 (any zone) g4dn.xlarge spot: InsufficientInstanceCapacity"] }, skipped: [] } } },
    { name: "prod", stack: "prod", overrides: {} },
    { name: "prod, tls acme", stack: "prod", overrides: { tls: { mode: "acme", domains: { aws: "aws.example.com", gcp: "gcp.example.com", azure: "azure.example.com" }, email: "ops@example.com" } } },
    { name: "prod, tls off", stack: "prod", overrides: { tls: { mode: "off", domains: { aws: "", gcp: "", azure: "" }, email: "" } } },
    { name: "dev + own servers", stack: "dev", overrides: { clouds: ["aws", "ssh"], ssh: SSH_HOSTS } },
    // operatorCidrs: own servers need them (config rules.ts); main ignores them on a local stack.
    { name: "local + own servers", stack: "local", overrides: { clouds: ["local", "ssh"], ssh: SSH_HOSTS, operatorCidrs: ["198.51.100.0/24"] } },
];

type Plan = Map<string, string>;

/** Every resource and output of a run, as comparable text. */
function planOf(run: ProgramRun): Plan {
    const plan: Plan = new Map();
    for (const r of run.resources) {
        plan.set(r.urn, JSON.stringify({ custom: r.custom, inputs: r.inputs, provider: r.provider ?? null, options: r.options }));
    }
    for (const [k, v] of Object.entries(run.outputs)) plan.set(`output ${k}`, JSON.stringify(v));
    return plan;
}

function diff(a: Plan, b: Plan): string[] {
    const out: string[] = [];
    for (const [k, v] of a) {
        if (!b.has(k)) out.push(`only in base: ${k}`);
        else if (b.get(k) !== v) out.push(`differs: ${k}\n    base: ${v.slice(0, 600)}\n    here: ${b.get(k)!.slice(0, 600)}`);
    }
    for (const k of b.keys()) if (!a.has(k)) out.push(`only here: ${k}`);
    return out;
}

async function main(): Promise<void> {
    const ref = process.argv[2];
    if (!ref) throw new Error("usage: plan-diff.ts <git ref>");
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-plan-diff-"));
    execFileSync("git", ["worktree", "add", "--detach", base, ref], { cwd: ROOT, stdio: "ignore" });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(base, "node_modules"));
    let total = 0;
    try {
        for (const c of CASES) {
            const before = planOf(await runProgramFresh(c.stack, c.overrides, {}, base));
            const after = planOf(await runProgramFresh(c.stack, c.overrides, {}, ROOT));
            const d = diff(before, after);
            total += d.length;
            console.log(`${c.name}: ${before.size} resources and outputs in the base, ${after.size} here, ${d.length} difference(s)`);
            for (const line of d) console.log(`  ${line}`);
        }
    } finally {
        execFileSync("git", ["worktree", "remove", "--force", base], { cwd: ROOT, stdio: "ignore" });
    }
    console.log(total === 0 ? `no difference from ${ref}` : `${total} difference(s) from ${ref}`);
    process.exit(total === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error(e);
    process.exit(2);
});
