// The real StackOps (Automation API) against a stand-in `pulumi` executable that answers the
// commands the Automation API runs, with the CLI's own error texts. No Pulumi CLI exists here, so
// this pins our use of the Automation API and our error mapping, not the CLI itself.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openStack, stackEnv } from "../scripts/lib/stackOps";
import { rejects } from "./helpers/opsErrors";

// Reads/writes state.json next to its bin/ dir; logs every argv.
const STAND_IN_CLI = `#!/usr/bin/env node
const fs = require("fs"), path = require("path");
const file = path.join(__dirname, "..", "state.json");
const st = JSON.parse(fs.readFileSync(file, "utf8"));
const argv = process.argv.slice(2);
st.calls.push(argv.join(" "));
st.backends.push(process.env.PULUMI_BACKEND_URL || "");
const save = () => fs.writeFileSync(file, JSON.stringify(st));
const fail = (msg) => { save(); process.stderr.write(msg + "\\n"); process.exit(255); };
const out = (s) => { save(); process.stdout.write(s); process.exit(0); };
const flag = (f) => argv[argv.indexOf(f) + 1];
const stack = flag("--stack");
if (argv[0] === "version") out("v3.248.0\\n");
if (stack && !st.stacks.includes(stack)) fail("error: no stack named '" + stack + "' found");
const [a, b] = argv;
if (a === "stack" && b === "select") out("");
if (a === "stack" && b === "output") {
  const o = {};
  for (const [k, v] of Object.entries(st.outputs)) o[k] = st.secretOutputs.includes(k) && !argv.includes("--show-secrets") ? "[secret]" : v;
  out(JSON.stringify(o));
}
if (a === "stack" && b === "history") out(JSON.stringify([{ kind: "update", result: "succeeded", startTime: "2024-05-10T10:00:00Z", endTime: "2024-05-10T10:01:00Z", resourceChanges: { update: 1, same: 40 } }]));
if (a === "config" && b === "get") {
  const key = argv[2];
  if (!(key in st.config)) fail("error: configuration key '" + key + "' not found for stack '" + stack + "'");
  out(JSON.stringify({ value: st.config[key], secret: false }));
}
if (a === "config" && b === "set") { st.config[argv[2]] = argv[argv.indexOf("--") + 1]; out(""); }
if (a === "up") {
  if (st.locked) fail("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with \`pulumi cancel\`.");
  if (st.upError) fail(st.upError);
  process.stdout.write("Updating (" + stack + ")\\n");
  st.ups++;
  out("Resources:\\n    ~ 1 updated\\n    40 unchanged\\n");
}
fail("stand-in pulumi: unexpected command: " + argv.join(" "));
`;

interface CliState {
    stacks: string[];
    outputs: Record<string, unknown>;
    secretOutputs: string[];
    config: Record<string, string>;
    calls: string[];
    backends: string[];
    ups: number;
    locked?: boolean;
    upError?: string;
}

describe("StackOps over the Automation API (stand-in pulumi executable)", function () {
    this.timeout(30_000);
    let root: string;
    let workDir: string;
    const statePath = () => path.join(root, "state.json");
    const state = (): CliState => JSON.parse(fs.readFileSync(statePath(), "utf8"));
    const write = (patch: Partial<CliState>) => fs.writeFileSync(statePath(), JSON.stringify({ ...state(), ...patch }));

    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "stand-in-pulumi-"));
        workDir = path.join(root, "project");
        fs.mkdirSync(path.join(root, "bin"));
        fs.mkdirSync(workDir);
        fs.writeFileSync(path.join(workDir, "Pulumi.yaml"), "name: gpu-hosts\nruntime: nodejs\n");
        fs.writeFileSync(path.join(root, "bin", "pulumi"), STAND_IN_CLI, { mode: 0o755 });
        const initial: CliState = {
            stacks: ["dev"],
            outputs: { liveColor: "blue", idleColor: "green", redisUrl: "redis://:pw@redis:6379" },
            secretOutputs: ["redisUrl"],
            config: { "gpu-hosts:liveColor": "blue" },
            calls: [],
            backends: [],
            ups: 0,
        };
        fs.writeFileSync(statePath(), JSON.stringify(initial));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    const open = (stackName = "dev", output?: (t: string) => void) => openStack({ stackName, workDir, pulumiRoot: root, onOutput: output ?? (() => undefined) });

    it("reads outputs as plain values, secrets unmasked", async () => {
        const s = await open();
        assert.deepEqual(await s.outputs(), { liveColor: "blue", idleColor: "green", redisUrl: "redis://:pw@redis:6379" });
    });

    it("reads and writes namespaced config without --path; objects go whole as JSON", async () => {
        const s = await open();
        assert.equal(await s.getConfig("liveColor"), "blue");
        assert.equal(await s.getConfig("slots"), undefined);
        await s.setConfig("liveColor", "green");
        await s.setConfig("slots", { blue: { release: "1234567" }, green: { release: "1e5" } });
        const st = state();
        assert.equal(st.config["gpu-hosts:liveColor"], "green");
        assert.equal(st.config["gpu-hosts:slots"], "{\"blue\":{\"release\":\"1234567\"},\"green\":{\"release\":\"1e5\"}}");
        assert.ok(st.calls.filter((c) => c.startsWith("config")).every((c) => !c.includes("--path")), st.calls.join("\n"));
        assert.equal(await s.getConfig("slots"), st.config["gpu-hosts:slots"]);
    });

    it("runs up, streams its output and returns the change counts", async () => {
        let streamed = "";
        const s = await open("dev", (t) => (streamed += t));
        assert.deepEqual(await s.up(), { changes: { update: 1, same: 40 } });
        assert.match(streamed, /Updating \(dev\)[\s\S]*1 updated/);
        assert.equal(state().ups, 1);
        assert.ok(state().calls.some((c) => /^up --yes --skip-preview .*--stack dev/.test(c)), state().calls.join("\n"));
    });

    it("runs the local stack against the project's file backend, like npm run up, even with PULUMI_BACKEND_URL exported", async () => {
        write({ stacks: ["local"] });
        const saved = process.env.PULUMI_BACKEND_URL;
        process.env.PULUMI_BACKEND_URL = "s3://team-bucket/pulumi";
        try {
            await (await open("local")).outputs();
        } finally {
            if (saved !== undefined) process.env.PULUMI_BACKEND_URL = saved;
            else delete process.env.PULUMI_BACKEND_URL;
        }
        const st = state();
        const selects = st.calls.map((c, i) => [c, st.backends[i]]).filter(([c]) => c !== "version");
        assert.ok(selects.length > 0);
        for (const [, backend] of selects) assert.equal(backend, `file://${workDir}/.pulumi/state`);
        assert.deepEqual(stackEnv("dev", workDir, {}), {});
        assert.deepEqual(stackEnv("local", "/p", { PULUMI_BACKEND_URL: "s3://bucket" }), { PULUMI_BACKEND_URL: "file:///p/.pulumi/state", PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" });
        assert.deepEqual(stackEnv("local", "/p", {}), { PULUMI_BACKEND_URL: "file:///p/.pulumi/state", PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" });
    });

    it("maps an unknown stack", async () => {
        const e = await rejects(open("prod"), "no-stack");
        assert.equal(e.message, "no such stack \"prod\": create it with `pulumi stack init prod` or check --stack (`pulumi stack ls`)");
    });

    it("maps a locked stack to a concurrent update and runs nothing", async () => {
        const s = await open();
        write({ locked: true });
        const e = await rejects(s.up(), "concurrent-update");
        assert.match(e.message, /^stack dev has another update in progress \(error: the stack is currently locked by 1 lock\(s\)\./);
        assert.equal(state().ups, 0);
    });

    it("maps a failed update to its error line", async () => {
        const s = await open();
        write({ upError: "Updating (dev)\n\n    error: docker:index/container:Container dev-api-green: unhealthy\nerror: update failed" });
        const e = await rejects(s.up(), "up-failed");
        assert.equal(e.message, "pulumi up on stack dev failed: error: docker:index/container:Container dev-api-green: unhealthy");
    });

    it("says the CLI is missing when there is no pulumi binary", async () => {
        fs.rmSync(path.join(root, "bin", "pulumi"));
        const e = await rejects(open(), "cli-missing");
        assert.match(e.message, /^the Pulumi CLI is not installed \(no `pulumi` on PATH\): install it from https:\/\/www\.pulumi\.com\/docs\/install\/$/);
    });

    it("says the CLI is unavailable when only the npm launcher is there and offline", async () => {
        fs.writeFileSync(path.join(root, "bin", "pulumi"), "#!/bin/sh\necho 'Downloading pulumi v3.265.0...' >&2\necho 'pulumi: fetch failed' >&2\nexit 1\n", { mode: 0o755 });
        const e = await rejects(open(), "cli-missing");
        assert.match(e.message, /npm launcher and it could not download the CLI \(pulumi: fetch failed\)/);
    });
});
