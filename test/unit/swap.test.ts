// Promotion and rollback (scripts/lib/swap.ts) against an in-memory stack whose engine plans and
// applies what the program would, and a Checker scripted over the same model.
import * as assert from "node:assert/strict";
import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import { errorText, exitCode } from "../../scripts/lib/cli";
import { OpsError } from "../../scripts/lib/errors";
import { mapStackError } from "../../scripts/lib/stackOps";
import { promote, rollback } from "../../scripts/lib/swap";
import { rejects } from "../helpers/opsErrors";
import { B2, commit, routesUrn, setup, sharedUrn, slotUrns } from "../helpers/standInStack";

describe("promote", () => {
    it("checks idle on every host, previews, flips liveColor, runs up once, verifies live on every host", async () => {
        const { stack, checker, lines, deps } = setup();
        const r = await promote(deps);
        assert.deepEqual(r, { liveColor: "green", previousColor: "blue", changed: [{ urn: routesUrn("local"), change: "update" }, { urn: routesUrn("gcp"), change: "update" }] });
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green"]);
        assert.equal(stack.previews, 1);
        assert.equal(stack.ups, 1);
        assert.equal(stack.deployed.liveColor, "green");
        assert.deepEqual(checker.probes, [
            "http://127.0.0.1:8081/health", "https://34.1.2.3:8081/health", // idle gate, before the flip
            "http://127.0.0.1:8080/health", "https://34.1.2.3:8080/health", // live verification, after
        ]);
        assert.deepEqual(lines.filter((l) => l.startsWith("[")), [
            "[1/5] reading outputs of stack dev",
            "[2/5] checking idle slot green on 2 host(s)",
            "[3/5] setting liveColor = green and previewing: only each host's routes may change",
            "[4/5] running pulumi up (2 routes update(s))",
            "[5/5] verifying the live URL serves green on 2 host(s)",
        ]);
        assert.ok(lines.includes("      pulumi up done: live slot blue: none; idle slot green: none; shared: 2 update"), lines.join("\n"));
        assert.match(lines[lines.length - 1], /^done: stack dev serves green \(release v2@b2b2b2b2b2b2\) live on every host/);
    });

    it("refuses when the idle slot is unhealthy on one host: names check and host, no flip, no preview, no up", async () => {
        const { stack, checker, deps } = setup();
        checker.unhealthy.green = { check: "redis", reason: "GET https://34.1.2.3:8081/health -> HTTP 503: redis: \"ECONNREFUSED\"", hosts: ["gcp"] };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /^refusing to promote: slot green is unhealthy on host gcp \(check "redis": .*503.*\); live traffic stays on blue, nothing was changed$/);
        assert.deepEqual(stack.setConfigCalls, []);
        assert.equal(stack.previews + stack.ups, 0);
        assert.equal(exitCode(e), 1);
    });

    it("refuses when the preview shows changes beyond the routes, before any update, and puts liveColor back", async () => {
        const { stack, deps } = setup();
        stack.pending = [{ urn: sharedUrn("local", "proxy-auth"), change: "replace" }];
        const e = await rejects(promote(deps), "pending-changes");
        assert.equal(e.message, "refusing to promote: stack dev has changes pending beyond the swap (replace local-app-proxy-auth); a swap changes nothing but the routes. " +
            "Apply them first with `npm run up -- --stack dev` (or a release), then promote again; liveColor set back to blue, nothing was deployed");
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 0);
        assert.equal(stack.deployed.liveColor, "blue");
    });

    it("refuses when the live slot's pin in config differs from what runs live", async () => {
        const { stack, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v9", commit: commit("c3") }, green: B2 });
        const e = await rejects(promote(deps), "config");
        assert.match(e.message, /config gpu-hosts:slots\.blue\.commit is "c3c3.*" but live slot blue runs a1a1.* \(v1@a1a1a1a1a1a1\): an update would change the live slot/);
        assert.equal(stack.previews + stack.ups, 0);
    });

    it("refuses when idle runs a different release than the stack says", async () => {
        const { stack, deps } = setup();
        const orig = stack.outputs.bind(stack);
        stack.outputs = async () => {
            const o = await orig();
            const slots = o.slots as Record<string, Record<string, string>>;
            return { ...o, slots: { ...slots, green: { ...slots.green, label: "v3@c3c3c3c3c3c3" } } };
        };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /check "release": answered release "v2@b2b2b2b2b2b2", expected "v3@c3c3c3c3c3c3"/);
        assert.equal(stack.ups, 0);
    });

    it("rolls back by itself when the live URL does not serve the new slot after up", async () => {
        const { stack, checker, lines, deps } = setup();
        checker.stuckLive = "blue";
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /^promote failed: the live URL does not serve green on host local \(check "slot": answered from slot "blue", expected "green"\); host gcp .*; rolled back, live is blue again$/);
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 2);
        assert.equal(stack.deployed.liveColor, "blue");
        assert.ok(lines.some((l) => l.startsWith("rolling back: the live URL does not serve green")));
        assert.equal(exitCode(e), 1);
        assert.equal(errorText({ name: "promote" }, e).split("\n").length, 1, "one line, no stack trace");
    });

    it("rolls back when pulumi up fails after the flip", async () => {
        const { stack, deps } = setup();
        stack.upErrors = [new OpsError("up-failed", "pulumi up on stack dev failed: error: update failed")];
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /pulumi up failed: pulumi up on stack dev failed: error: update failed; rolled back, live is blue again/);
        assert.equal(stack.ups, 2);
        assert.equal(stack.config.liveColor, "blue");
    });

    it("reports rollback-failed when the rollback's own up fails too", async () => {
        const { stack, checker, deps } = setup();
        checker.stuckLive = "blue";
        const realUp = stack.up.bind(stack);
        let n = 0;
        stack.up = async () => (++n === 2 ? Promise.reject(new OpsError("up-failed", "pulumi up on stack dev failed: error: boom")) : realUp());
        const e = await rejects(promote(deps), "rollback-failed");
        assert.match(e.message, /automatic rollback to blue failed too \(pulumi up on stack dev failed: error: boom\)/);
    });

    it("starts no rollback update after the operator interrupted pulumi up", async () => {
        const { stack, deps } = setup();
        const abort = new AbortController();
        stack.up = async () => {
            stack.ups++;
            abort.abort();
            throw new OpsError("up-failed", "pulumi up on stack dev failed: error: update canceled");
        };
        const e = await rejects(promote({ ...deps, signal: abort.signal }), "up-failed");
        assert.match(e.message, /^interrupted during pulumi up; config liveColor is now green/);
        assert.equal(stack.ups, 1);
    });

    it("names every missing output and touches nothing", async () => {
        const { stack, deps } = setup();
        stack.dropOutputs = ["idleUrl", "hosts"];
        const e = await rejects(promote(deps), "missing-output");
        assert.match(e.message, /^stack dev has no output "idleUrl", "hosts": /);
        assert.deepEqual(stack.calls, ["outputs"]);
    });

    it("maps a concurrent update: restores liveColor, deploys nothing, says so", async () => {
        const { stack, deps } = setup();
        const conflict = new (ConcurrentUpdateError as any)({ stdout: "", stderr: "error: [409] Conflict: Another update is currently in progress.", code: 255, toString: () => "code: 255" });
        stack.upErrors = [mapStackError(conflict, "dev", "pulumi up")];
        const e = await rejects(promote(deps), "concurrent-update");
        assert.match(e.message, /^stack dev has another update in progress \(error: \[409\] Conflict: Another update is currently in progress\.\): wait for it to finish and retry; .*\(liveColor set back to blue; nothing was deployed\)$/);
        assert.equal(stack.config.liveColor, "blue");
    });

    it("refuses when config liveColor already differs from what is deployed", async () => {
        const { stack, deps } = setup();
        stack.config.liveColor = "green";
        const e = await rejects(promote(deps), "config");
        assert.match(e.message, /config gpu-hosts:liveColor is "green" but stack dev serves "blue" live/);
        assert.equal(stack.ups, 0);
    });

    it("rejects malformed outputs, every problem at once", async () => {
        const { stack, deps } = setup();
        const o = await stack.outputs();
        stack.outputs = async () => ({ ...o, liveColor: "purple", hosts: { a: { liveUrl: "http://x:8080" } } });
        const e = await rejects(promote(deps), "bad-output");
        assert.match(e.message, /liveColor must be "blue" or "green", got "purple"; .*hosts\.a\.idleUrl must be a non-empty string, got undefined; hosts\.a\.healthUrl/);
    });
});

describe("rollback", () => {
    it("flips back to the previous slot (the idle one), health-checked, previewed and verified", async () => {
        const { stack, checker, lines, deps } = setup();
        await promote(deps);
        checker.probes = [];
        const r = await rollback(deps);
        assert.equal(r.liveColor, "blue");
        assert.equal(r.previousColor, "green");
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 2);
        assert.equal(stack.deployed.liveColor, "blue");
        assert.deepEqual(checker.probes.slice(0, 2), ["http://127.0.0.1:8081/health", "https://34.1.2.3:8081/health"]);
        assert.ok(lines.includes("[2/5] checking previous slot blue (now idle) on 2 host(s)"));
    });

    it("refuses when the previous slot is unhealthy", async () => {
        const { stack, checker, deps } = setup("green");
        checker.unhealthy.blue = { check: "ollama", reason: "model not loaded" };
        const e = await rejects(rollback(deps), "unhealthy");
        assert.match(e.message, /^refusing to roll back: slot blue is unhealthy on host local \(check "ollama": model not loaded\); host gcp/);
        assert.equal(stack.ups, 0);
        assert.equal(stack.config.liveColor, "green");
    });

    it("a pending slot change also stops a rollback before any update", async () => {
        const { stack, deps } = setup();
        stack.pending = slotUrns("gcp", "green").map((urn) => ({ urn, change: "replace" as const }));
        await rejects(rollback(deps), "pending-changes");
        assert.equal(stack.ups, 0);
    });
});
