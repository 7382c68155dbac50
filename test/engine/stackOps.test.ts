// StackOps (scripts/lib/stackOps.ts), the scripts' one door to Pulumi, on the real engine and the real
// command provider with the test program: outputs, config (objects as YAML objects of strings),
// preview and up reporting each resource the engine changed, and one-line errors.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { nameOf } from "../../scripts/lib/changes";
import { readStackConfig } from "../../scripts/lib/stackConfig";
import { installedCli, openStack, stackEnv } from "../../scripts/lib/stackOps";
import { UpFailedError } from "../../scripts/lib/engineErrors";
import { rejects } from "../helpers/opsErrors";
import { Engine, engineEnv, REPO, report, requireEngine, runCli, setProcessEnv, tempEngineDir } from "./engine";

const commit = (c: string) => c.repeat(40).slice(0, 40);

describe("StackOps on the real engine", function () {
    this.timeout(120_000);
    let engine: Engine;
    let tmp: string;
    let workDir: string;
    let restoreEnv = () => {};

    before(async function () {
        engine = requireEngine(this);
        tmp = tempEngineDir("gpu-hosts-engine-stackops-");
        workDir = path.join(tmp, "program");
        fs.cpSync(path.join(__dirname, "program"), workDir, { recursive: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(workDir, "node_modules"));
        restoreEnv = setProcessEnv(engineEnv(engine, tmp, { plugins: true }));
        const config = {
            "gpu-hosts:slots": { blue: { release: "v1", commit: commit("a1") }, green: { release: "v2", commit: commit("b2") } },
            "scriptsTest:standIn": { hosts: { h: { liveUrl: "http://127.0.0.1:1", idleUrl: "http://127.0.0.1:2", routeFile: path.join(tmp, "routes") } } },
        };
        fs.writeFileSync(path.join(workDir, "Pulumi.dev.yaml"), YAML.stringify({ config }));
        const init = await runCli(engine, ["stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"], { cwd: workDir, env: engineEnv(engine, tmp, { plugins: true }) });
        assert.equal(init.code, 0, report(init));
    });
    after(() => {
        restoreEnv();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });
    const open = (output?: (t: string) => void) => openStack({ stackName: "dev", workDir, pulumiRoot: engine.root, onOutput: output ?? (() => undefined) });

    it("previews each resource an up would create, then up creates them and says so, streaming its output", async () => {
        const s = await open();
        const planned = await s.preview();
        assert.deepEqual(planned.map((c) => `${c.change} ${nameOf(c.urn)}`).sort(), [
            "create default_1_2_1", "create gpu-hosts-dev", "create h-app", "create h-app-blue", "create h-app-blue-image", "create h-app-green",
            "create h-app-green-image", "create h-app-proxy", "create h-app-proxy-routes",
        ], "the stack, the command provider, the components and their commands");
        let streamed = "";
        const r = await (await open((t) => (streamed += t))).up();
        assert.deepEqual(r.resources, planned, "up reports what the preview planned");
        assert.equal(r.changes.create, 8, "the engine's own count leaves out the provider");
        assert.match(streamed, /Updating \(dev\)/);
        assert.deepEqual(await s.preview(), [], "a second preview plans nothing");
    });

    it("reads outputs as plain values, secrets unmasked", async () => {
        const out = await (await open()).outputs();
        assert.equal(out.liveColor, "blue");
        assert.equal(out.apiKey, "test-client-key-0123456789abcdefghijklmnopqrstuv");
    });

    it("reads and writes namespaced config; an object becomes a YAML object whose leaves stay strings", async () => {
        const s = await open();
        const before = await s.allConfig();
        assert.deepEqual(Object.keys(before.values).sort(), ["liveColor", "slots"], "the gpu-hosts: keys, a project default included; no other namespace's");
        assert.equal(before.values.liveColor, "blue", "a project default is read back");
        assert.equal((await readStackConfig(s)).liveColor, "blue");
        await s.setConfig("liveColor", "green");
        const slots = { blue: { release: "1.20", commit: "1".repeat(40) }, green: { release: "1e5", commit: commit("b2") } };
        await s.setConfig("slots", slots);
        const file = YAML.parse(fs.readFileSync(path.join(workDir, "Pulumi.dev.yaml"), "utf8")).config;
        assert.equal(file["gpu-hosts:liveColor"], "green");
        assert.deepEqual(file["gpu-hosts:slots"], slots, "no number where a string was set (an all-digit commit would lose digits)");
        assert.deepEqual(JSON.parse((await s.allConfig()).values.slots), slots);
        const cfg = await readStackConfig(s);
        assert.deepEqual([cfg.liveColor, cfg.slots], ["green", slots], "what the scripts read back, through the program's loader");
        await s.setConfig("liveColor", "blue");
        await s.setConfig("slots", { blue: { release: "v1", commit: commit("a1") }, green: { release: "v2", commit: commit("b2") } });
    });

    it("maps a failed update to the engine's error line", async () => {
        const s = await open();
        const file = path.join(workDir, "Pulumi.dev.yaml");
        const saved = fs.readFileSync(file, "utf8");
        const doc = YAML.parse(saved);
        const cfg = doc.config["scriptsTest:standIn"];
        fs.writeFileSync(file, YAML.stringify({ ...doc, config: { ...doc.config, "scriptsTest:standIn": { ...cfg, fail: "the GPU is on fire" } } }));
        try {
            const e = await rejects(s.up(), "up-failed");
            assert.equal(e.message, "pulumi up on stack dev failed: fail: exit status 3: running \"echo \\\"the GPU is on fire\\\" >&2; exit 3\": the GPU is on fire",
                "the resource's own error, on one line, not the engine's closing \"update failed\"");
            assert.ok(e instanceof UpFailedError);
            assert.deepEqual(e.errors.map((x) => nameOf(x.urn)), ["fail"]);
        } finally {
            fs.writeFileSync(file, saved);
        }
    });

    it("keeps the local stack in the project's backend, whatever PULUMI_BACKEND_URL the shell exports", () => {
        assert.deepEqual(stackEnv("dev", workDir, {}), {});
        for (const env of [{ PULUMI_BACKEND_URL: "s3://bucket" }, {}]) {
            assert.deepEqual(stackEnv("local", "/p", env), { PULUMI_BACKEND_URL: "file:///p/.pulumi/state", PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" });
        }
    });

    it("runs the CLI the pinned npm launcher installed, directly, and reads the outputs as the Automation API does", async () => {
        // scripts/engine.sh installs the engine where the launcher looks (PULUMI_HOME/versions/<its version>/bin).
        const bin = installedCli();
        assert.ok(bin, "the launcher's CLI is installed");
        assert.equal(fs.realpathSync(bin), fs.realpathSync(engine.bin));
        // Opened without pulumiRoot, as the scripts open it; its one unmasked read against the
        // Automation API's two (masked, then unmasked).
        const out = await (await openStack({ stackName: "dev", workDir, onOutput: () => undefined })).outputs();
        const ws = await LocalWorkspace.create({ workDir, envVars: engineEnv(engine, tmp, { plugins: true }), pulumiCommand: await PulumiCommand.get({ root: engine.root }) });
        const theirs = Object.fromEntries(Object.entries(await ws.stackOutputs("dev")).map(([k, v]) => [k, v.value]));
        assert.ok(Object.keys(theirs).length > 0, "the stack has outputs (the first test's up)");
        assert.deepEqual(out, theirs);
    });

    it("maps a failed bare CLI read to the CLI's error line", async () => {
        const s = await open();
        const state = path.join(tmp, "state");
        const moved = `${state}.away`;
        fs.renameSync(state, moved);
        try {
            const e = await rejects(s.outputs(), "command");
            assert.match(e.message, /^reading outputs on stack dev failed: error: .+/);
            assert.doesNotMatch(e.message, /Command failed/);
        } finally {
            fs.renameSync(moved, state);
        }
    });

    it("says the CLI is missing when there is no pulumi binary", async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "no-pulumi-"));
        fs.mkdirSync(path.join(root, "bin"));
        try {
            const e = await rejects(openStack({ stackName: "dev", workDir, pulumiRoot: root }), "cli-missing");
            assert.match(e.message, /^the Pulumi CLI is not installed \(no `pulumi` on PATH\): install it from https:\/\/www\.pulumi\.com\/docs\/install\/$/);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    it("says the CLI is unavailable when only the npm launcher is there and it cannot download (offline)", async () => {
        // What node_modules/.bin/pulumi prints offline (the pulumi npm package's run.js), as a script.
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "launcher-"));
        fs.mkdirSync(path.join(root, "bin"));
        fs.writeFileSync(path.join(root, "bin", "pulumi"), "#!/bin/sh\necho 'Downloading pulumi v3.265.0...' >&2\necho 'pulumi: fetch failed' >&2\nexit 1\n", { mode: 0o755 });
        try {
            const e = await rejects(openStack({ stackName: "dev", workDir, pulumiRoot: root }), "cli-missing");
            assert.match(e.message, /npm launcher and it could not download the CLI \(pulumi: fetch failed\)/);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});
