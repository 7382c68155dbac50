// The real Pulumi engine (../shared/engine: the CLI v3.259.0 and its Node.js language host) against
// throwaway file backends: its own config validation of each stack file, and the real program run
// until its first provider plugin (PULUMI_HOME is a fresh one here, so no plugin is found: previews of
// the real stacks need no Docker engine and no cloud). Broken copies are refused with the engine's
// own messages. Under CI=true a missing engine fails; elsewhere these tests are skipped.
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { PINNED_SLOTS } from "../helpers/stack";
import { CliResult, Engine, engineEnv, REPO, report, requireEngine, runCli, tempEngineDir } from "./engine";

const STACKS = ["local", "dev", "prod"] as const;
/** What a stack's program needs beside Pulumi.yaml and the stack file (linked, never copied). */
const PROGRAM_FILES = ["index.ts", "components", "cloud-init", "app", "package.json", "tsconfig.json", "tsconfig.pulumi.json", "node_modules"];

const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
const trackedStackFiles = () => ["Pulumi.yaml", ...STACKS.map((s) => `Pulumi.${s}.yaml`)].map((f) => path.join(REPO, f));

/**
 * A project dir in `tmp`: copies of Pulumi.yaml and the stack files, links to the program. The slots
 * are pinned to HEAD, as `npm run up` pins a new stack before its first update.
 */
function projectCopy(tmp: string, edit?: { project?: (doc: any) => void; stack?: [string, (doc: any) => void] }): string {
    const dir = path.join(tmp, "project");
    fs.mkdirSync(dir);
    for (const f of PROGRAM_FILES) fs.symlinkSync(path.join(REPO, f), path.join(dir, f));
    const project = YAML.parse(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8"));
    edit?.project?.(project);
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), YAML.stringify(project));
    for (const s of STACKS) {
        const doc = YAML.parse(fs.readFileSync(path.join(REPO, `Pulumi.${s}.yaml`), "utf8"));
        doc.config["gpu-hosts:slots"] = PINNED_SLOTS;
        if (edit?.stack?.[0] === s) edit.stack[1](doc);
        fs.writeFileSync(path.join(dir, `Pulumi.${s}.yaml`), YAML.stringify(doc));
    }
    return dir;
}

const CONFIG_REFUSAL = /missing configuration value|must be of type|must be encrypted/;
/** The first provider whose plugin could not be loaded, from a preview's output. */
const missingPlugin = (out: string) => /no resource plugin 'pulumi-resource-([\w-]+)' found/.exec(out)?.[1];

describe("the real Pulumi engine", function () {
    this.timeout(180_000);
    let engine: Engine;
    before(function () {
        engine = requireEngine(this);
        console.log(`      engine: ${engine.bin} (${engine.version}) with its Node.js language host`);
    });

    describe("accepts each stack file (config validation, then into the program)", () => {
        let tmp: string;
        let dir: string;
        let hashesBefore: string[];
        const results = new Map<string, CliResult>();

        // One temp project and backend for the three stacks; their previews run in parallel.
        async function preview(stack: string): Promise<CliResult> {
            const env = engineEnv(engine, tmp);
            const init = await runCli(engine, ["stack", "init", stack, "--secrets-provider", "passphrase", "--non-interactive"], { cwd: dir, env });
            assert.equal(init.code, 0, report(init));
            return runCli(engine, ["preview", "--stack", stack, "--non-interactive", "--color", "never"], { cwd: dir, env });
        }

        before(async () => {
            hashesBefore = trackedStackFiles().map(sha);
            tmp = tempEngineDir("gpu-hosts-engine-stacks-");
            dir = projectCopy(tmp);
            const all = await Promise.all(STACKS.map(async (s) => [s, await preview(s)] as const));
            for (const [s, r] of all) results.set(s, r);
        });
        after(() => {
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        });

        it("wrote nothing into the tracked Pulumi.yaml and stack files", () => {
            assert.deepEqual(trackedStackFiles().map(sha), hashesBefore);
        });

        for (const stack of STACKS) {
            it(`${stack}: the engine's config validation accepts it and the program runs until a provider plugin is needed`, () => {
                const r = results.get(stack)!;
                assert.doesNotMatch(r.output, CONFIG_REFUSAL, report(r));
                // The program ran: the engine registered the stack and the program's own components.
                assert.match(r.output, new RegExp(`pulumi:pulumi:Stack\\s+gpu-hosts-${stack}`), report(r));
                // How far it gets: provider plugins cannot be installed here (no downloads, and PULUMI_HOME is
                // a fresh one), so the first resource the program registers needs a plugin that is missing.
                // A provider is only requested by a resource the program registered: the program ran.
                // Limit: the engine stops at that plugin error, so a program error raised after that point
                // is not reported by this preview (tried: a throw appended to index.ts went unseen).
                if (r.code === 0) {
                    console.log(`      ${stack}: config accepted, preview completed in ${r.ms} ms (provider plugins were on PATH)`);
                    return;
                }
                const plugin = missingPlugin(r.output);
                assert.ok(plugin, `expected the preview to stop at a missing provider plugin; ${report(r)}`);
                console.log(`      ${stack}: config accepted, program ran; preview stopped loading provider plugin "${plugin}" after ${r.ms} ms (transpile-only)`);
            });
        }
    });

    describe("refuses a broken copy with its own message, before running the program", () => {
        let tmp: string;
        afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

        async function previewBroken(edit: Parameters<typeof projectCopy>[1]): Promise<CliResult> {
            tmp = tempEngineDir("gpu-hosts-engine-broken-");
            const dir = projectCopy(tmp, edit);
            const env = engineEnv(engine, tmp);
            const init = await runCli(engine, ["stack", "init", "local", "--secrets-provider", "passphrase", "--non-interactive"], { cwd: dir, env });
            assert.equal(init.code, 0, report(init));
            const r = await runCli(engine, ["preview", "--stack", "local", "--non-interactive", "--color", "never"], { cwd: dir, env });
            assert.notEqual(r.code, 0, report(r));
            assert.doesNotMatch(r.output, /gpu-hosts:hosts:/, `the program must not have run; ${report(r)}`);
            return r;
        }

        it("a required key (declared without a default) that the stack does not set", async () => {
            const r = await previewBroken({ project: (p) => delete p.config.model.default });
            assert.match(r.output, /Stack 'local' is missing configuration value 'model'/, report(r));
        });

        it("a wrongly typed value (apiPort: notanumber)", async () => {
            const r = await previewBroken({ stack: ["local", (d) => (d.config["gpu-hosts:apiPort"] = "notanumber")] });
            assert.match(r.output, /Stack 'local' with configuration key 'apiPort' must be of type 'integer'/, report(r));
        });

        it("a scalar where the project declares an array (clouds: local)", async () => {
            const r = await previewBroken({ stack: ["local", (d) => (d.config["gpu-hosts:clouds"] = "local")] });
            assert.match(r.output, /Stack 'local' with configuration key 'clouds' must be of type 'array<string>'/, report(r));
        });
    });
});
