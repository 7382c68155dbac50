// How the operator scripts read a stack's config (scripts/lib/stackConfig.ts readStackConfig): every
// gpu-hosts: value through the program's own loader, slots possibly unpinned, and a bad config refused
// in one line naming every problem; and what up and preview do with it (pin through the config's
// app context, report against its liveColor).
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { SlotConfig, loadConfig } from "../../infra/config";
import { isOpsError, OpsError } from "../../scripts/lib/errors";
import { appContextDir, readStackConfig } from "../../scripts/lib/stackConfig";
import { PROJECT_ROOT, RawConfig, StackOps } from "../../scripts/lib/stackOps";
import { preview, up } from "../../scripts/lib/up";
import { rejects } from "../helpers/opsErrors";
import * as statusFixture from "../helpers/statusFixture";

/** A stack whose config is `values` (JSON text for objects, as the CLI gives them); nothing else may be asked of it but what a test adds. */
function stackWith(values: Record<string, string>, secrets: string[] = []): StackOps & { readonly log: string[] } {
    const log: string[] = [];
    const no = (what: string) => async (): Promise<never> => {
        throw new Error(`unexpected ${what}`);
    };
    return {
        name: "dev",
        log,
        allConfig: async (): Promise<RawConfig> => {
            log.push("allConfig");
            return { values: { ...values }, secrets };
        },
        setConfig: async (k, v) => {
            log.push(`setConfig ${k} ${JSON.stringify(v)}`);
            values[k] = typeof v === "string" ? v : JSON.stringify(v);
        },
        outputs: no("outputs"), preview: no("preview"), up: no("up"), destroy: no("destroy"), history: no("history"),
        exportState: no("exportState"), importState: no("importState"), refresh: no("refresh"),
    };
}

const commit = (c: string) => c.repeat(40).slice(0, 40);
const UNPINNED = JSON.stringify({ blue: { release: "workdir", commit: "" }, green: { release: "workdir", commit: "" } });

describe("readStackConfig: the scripts read config only through the program's loader", () => {
    it("reads a new stack whose slots are not pinned yet, with the program's defaults for the rest", async () => {
        const unpinned: Record<string, string>[] = [{}, { slots: UNPINNED }, { slots: JSON.stringify({ blue: { release: "workdir" }, green: { release: "v2" } }) }];
        for (const values of unpinned) {
            const cfg = await readStackConfig(stackWith(values));
            assert.deepEqual([cfg.slots.blue.commit, cfg.slots.green.commit], ["", ""], JSON.stringify(values));
            assert.equal(cfg.liveColor, "blue");
            assert.equal(cfg.app.context, "app");
        }
    });

    it("reads what is set, typed as the program reads it", async () => {
        const slots = { blue: { release: "v1", commit: commit("a1") }, green: { release: "1.20", commit: "1".repeat(40) } };
        const cfg = await readStackConfig(stackWith({ liveColor: "green", slots: JSON.stringify(slots), local: JSON.stringify({ dockerHost: "unix:///run/user/1000/docker.sock" }) }));
        assert.equal(cfg.liveColor, "green");
        assert.deepEqual(cfg.slots, slots);
        assert.equal(cfg.local.dockerHost, "unix:///run/user/1000/docker.sock");
    });

    it("refuses a bad config in one line that names every problem, as the program words them", async () => {
        const values = { liveColor: "purple", apiPort: "22", colour: "blue", slots: JSON.stringify({ blue: { release: "v1", commit: 7 }, green: { release: "v2", commit: "" } }) };
        const e = await rejects(readStackConfig(stackWith(values)), "config");
        assert.doesNotMatch(e.message, /\n/);
        assert.match(e.message, /^the config of stack dev has 4 problems: /);
        for (const p of [
            'gpu-hosts:liveColor must be "blue" or "green", got "purple"',
            "gpu-hosts:apiPort must be a port other than 22 (SSH), 6379 (Redis) and 11434 (Ollama), got 22",
            "gpu-hosts:colour is not a known key",
            "gpu-hosts:slots.blue.commit must be a string, got 7",
        ]) assert.ok(e.message.includes(p), `${p}\nin: ${e.message}`);
        // Every problem the loader finds, no more and no fewer.
        let problems: readonly string[] = [];
        try {
            loadConfig("dev", values, () => false);
        } catch (c) {
            problems = (c as { problems: readonly string[] }).problems;
        }
        assert.equal(e.message, `the config of stack dev has 4 problems: ${problems.join("; ")}`);
    });

    it("passes which values are secrets: operators' API keys must be one", async () => {
        const apiKeys = `${"a".repeat(40)},${"b".repeat(40)}`;
        const e = await rejects(readStackConfig(stackWith({ apiKeys })), "config");
        assert.match(e.message, /^the config of stack dev has 1 problem: gpu-hosts:apiKeys must be set as a secret/);
        assert.doesNotMatch(e.message, /aaaa/, "a secret is never echoed");
        assert.deepEqual((await readStackConfig(stackWith({ apiKeys }, ["apiKeys"]))).apiKeys, ["a".repeat(40), "b".repeat(40)]);
    });

    it("lets the stack's own errors through as they are (no stack, no CLI)", async () => {
        const s = stackWith({});
        const gone = new OpsError("no-stack", 'no such stack "dev"');
        await assert.rejects(readStackConfig({ ...s, allConfig: async () => { throw gone; } }), (e: unknown) => e === gone);
    });

    it("resolves the app context against the project", () => {
        assert.equal(appContextDir({ app: { context: "services/app" } }), path.join(PROJECT_ROOT, "services", "app"));
        assert.equal(appContextDir({ app: { context: "app" } }, "/srv/gpu-hosts"), "/srv/gpu-hosts/app");
    });
});

describe("up and preview read the config once, through readStackConfig", () => {
    const pinned: SlotConfig = { release: "workdir", commit: commit("c3") };

    it("pins both unpinned slots once, in the config's app context, then reports against the config's liveColor", async () => {
        const stack = stackWith({ slots: UNPINNED, liveColor: "green", app: JSON.stringify({ context: "services/app" }) });
        const pins: string[] = [];
        const lines: string[] = [];
        stack.up = async () => ({ changes: { create: 1 }, resources: [{ urn: "urn:pulumi:dev::gpu-hosts::gpu-hosts:app:AppStack$gpu-hosts:app:Slot$docker:index/container:Container::local-app-green-api", change: "create" }] });
        // A new stack has no outputs (so no kept pins) until its first up.
        let deployed = false;
        stack.outputs = async () => (deployed ? statusFixture.outputs() : {});
        const upFirst = stack.up;
        stack.up = async () => {
            deployed = true;
            return upFirst();
        };
        const r = await up({ stack, log: (l) => lines.push(l) }, (dir, release) => {
            pins.push(`${dir} ${release}`);
            return pinned;
        });
        assert.deepEqual(r.pinned, ["blue", "green"]);
        assert.deepEqual(pins, [`${path.join(PROJECT_ROOT, "services", "app")} workdir`], "one snapshot for both slots");
        assert.deepEqual(stack.log, ["allConfig", `setConfig slots ${JSON.stringify({ blue: pinned, green: pinned })}`]);
        assert.ok(lines.includes("[3/3] done: 1 resource(s) changed (live green: 1 create; idle blue: none; shared: none)"), lines.join("\n"));
    });

    it("preview writes no config, says which slots the next up pins, and refuses a bad config before previewing", async () => {
        const slots = JSON.stringify({ blue: pinned, green: pinned });
        const stack = stackWith({ slots });
        const lines: string[] = [];
        stack.preview = async () => [];
        stack.outputs = async () => ({});
        await preview({ stack, log: (l) => lines.push(l) });
        assert.deepEqual(stack.log, ["allConfig"]);
        assert.deepEqual(lines, ["preview of stack dev: 0 resource(s) would change (live blue: none; idle green: none; shared: none)"]);

        const fresh = stackWith({ slots: UNPINNED });
        const freshLines: string[] = [];
        fresh.preview = async () => [];
        fresh.outputs = async () => ({});
        await preview({ stack: fresh, log: (l) => freshLines.push(l) });
        assert.deepEqual(fresh.log, ["allConfig"], "a preview writes no config");
        assert.deepEqual(freshLines.slice(0, 2), [
            "note: slot blue has no pin for release workdir yet: the preview builds it from what it names now; the next up pins it",
            "note: slot green has no pin for release workdir yet: the preview builds it from what it names now; the next up pins it",
        ]);

        const bad = stackWith({ slots: UNPINNED, liveColor: "purple" });
        const e = await rejects(preview({ stack: bad, log: () => undefined }), "config");
        assert.ok(isOpsError(e) && /liveColor must be "blue" or "green"/.test(e.message));
        assert.deepEqual(bad.log, ["allConfig"]);
    });
});
