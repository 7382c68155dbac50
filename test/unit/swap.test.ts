// Promotion and rollback (scripts/lib/swap.ts) against an in-memory stack whose engine plans and
// applies what the program would (a targeted update only its targets), whose history keeps each
// update's config, whose hosts route by their own markers, and a Checker and route runner scripted
// over the same model.
import * as assert from "node:assert/strict";
import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import { errorText, exitCode } from "../../scripts/lib/cli";
import { OpsError } from "../../scripts/lib/errors";
import { changedKeys, configSinceLastUpdate } from "../../scripts/lib/pending";
import { UpdateRecord } from "../../scripts/lib/stackOps";
import { UpFailedError, mapStackError } from "../../scripts/lib/engineErrors";
import { promote, rollback, routesTarget } from "../../scripts/lib/swap";
import { rejects } from "../helpers/opsErrors";
import { B2, commit, routesUrn, setup, sharedUrn, slotUrns } from "../helpers/standInStack";

const TARGETS = ["local", "gcp"].map(routesTarget);

describe("promote", () => {
    it("checks idle on every host, switches each host itself, verifies, then records with an update of the routes alone", async () => {
        const { stack, checker, routes, lines, deps } = setup();
        const r = await promote(deps);
        assert.deepEqual([r.liveColor, r.previousColor], ["green", "blue"]);
        assert.deepEqual(r.changed, [{ urn: routesUrn("local"), change: "update" }, { urn: routesUrn("gcp"), change: "update" }]);
        // Traffic moves before any config write or update; the record comes last, limited to the routes.
        assert.deepEqual(stack.calls, [
            "outputs", "allConfig", "history",
            "routes local green", "routes gcp green",
            "setConfig liveColor green",
            "up --target local-app-proxy-routes gcp-app-proxy-routes",
        ]);
        assert.deepEqual(stack.upTargets, [TARGETS]);
        assert.equal(stack.previews, 0, "no preview: the targets bound what the update can change");
        assert.deepEqual([stack.deployed.liveColor, stack.routes], ["green", { local: "green", gcp: "green" }]);
        assert.deepEqual(routes.settings, { port: 8000, healthPath: "/health", dockerHost: "" }, "the route command's settings come from the config");
        assert.deepEqual(checker.probes, [
            "http://127.0.0.1:8081/health", "https://34.1.2.3:8081/health", // idle gate, before the switch
            "http://127.0.0.1:8080/health", "https://34.1.2.3:8080/health", // live, after the switch
            "http://127.0.0.1:8080/health", "https://34.1.2.3:8080/health", // live, after the record
        ]);
        assert.deepEqual(lines.filter((l) => l.startsWith("[")).map((l) => l.replace(/ \(\+\d+\.\d s\)$/, "")), [
            "[1/4] reading stack dev: outputs, config, the config of its last update",
            "[2/4] checking idle slot green on 2 host(s)",
            "[3/4] switching live traffic to green on 2 host(s): the routes command, run on each host",
            "[4/4] recording it: liveColor = green, pulumi up --target each host's routes",
        ]);
        assert.ok(lines.includes("      local: live traffic now served by green (api-green:8000)"), lines.join("\n"));
        assert.ok(lines.includes("      pulumi up done: live slot blue: none; idle slot green: none; shared: 2 update"), lines.join("\n"));
        assert.match(lines[lines.length - 1], /^done: stack dev serves green \(release v2@b2b2b2b2b2b2\) live on every host \(switched after \d+\.\d s, recorded after \d+\.\d s\)/);
        assert.ok(r.switchedAfterS <= r.totalS);
    });

    it("names each host's routes command by a URN glob the engine matches, whatever the stack, project and command kind", () => {
        const glob = routesTarget("box-1");
        assert.equal(glob, "**$gpu-hosts:app:Proxy$command:*:Command::box-1-app-proxy-routes");
        // pulumi/pulumi pkg/resource/deploy/deployment.go getMatcher: `**` is .*, `*` is [^:]*, the rest literal.
        const re = new RegExp(`^${glob.split("**").map((p) => p.split("*").map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^:]*")).join(".*")}$`);
        assert.ok(re.test("urn:pulumi:prod::gpu-hosts::gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:remote:Command::box-1-app-proxy-routes"));
        assert.ok(re.test("urn:pulumi:local::gpu-hosts::gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:local:Command::box-1-app-proxy-routes"));
        assert.ok(!re.test("urn:pulumi:prod::gpu-hosts::gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:remote:Command::box-10-app-proxy-routes"));
        assert.ok(!re.test("urn:pulumi:prod::gpu-hosts::gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:remote:Command::box-1-app-proxy-ca-root"));
    });

    it("refuses when the idle slot is unhealthy on one host: names check and host, switches nothing, writes nothing", async () => {
        const { stack, checker, routes, deps } = setup();
        checker.unhealthy.green = { check: "redis", reason: "GET https://34.1.2.3:8081/health -> HTTP 503: redis: \"ECONNREFUSED\"", hosts: ["gcp"] };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /^refusing to promote: slot green is unhealthy on host gcp \(check "redis": .*503.*\); live traffic stays on blue, nothing was changed$/);
        assert.deepEqual([routes.calls, stack.setConfigCalls, stack.ups], [[], [], 0]);
        assert.equal(exitCode(e), 1);
    });

    it("refuses when the config changed since the last update, naming the keys and never a value, before anything moves", async () => {
        const { stack, routes, deps } = setup();
        stack.config.images = JSON.stringify({ proxy: "caddy:2.11.6-alpine" });
        stack.config.model = "qwen2.5:7b-never-shown";
        const e = await rejects(promote(deps), "pending-changes");
        assert.equal(e.message, "refusing to promote: stack dev may have changes pending beyond the swap: its config changed since the last update (gpu-hosts:images, gpu-hosts:model). " +
            "A swap changes nothing but the routes; apply them first with `npm run up -- --stack dev` (or a release), then promote again; nothing was changed");
        assert.ok(!e.message.includes("never-shown") && !e.message.includes("caddy:"), "keys, never values");
        assert.deepEqual([routes.calls, stack.setConfigCalls, stack.ups], [[], [], 0]);
    });

    it("refuses when the idle slot's pin changed in config but was never deployed (a half-done release)", async () => {
        const { stack, routes, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v1", commit: commit("a1") }, green: { release: "v3", commit: commit("c3") } });
        const e = await rejects(rollback(deps), "pending-changes");
        assert.match(e.message, /its config changed since the last update \(gpu-hosts:slots\)/);
        assert.deepEqual(routes.calls, []);
    });

    it("refuses when the last update failed: the state may hold changes of it", async () => {
        const { stack, routes, deps } = setup();
        stack.history_.unshift({ ...stack.history_[0], result: "failed" });
        const e = await rejects(promote(deps), "pending-changes");
        assert.match(e.message, /may have changes pending beyond the swap: its last update failed\./);
        assert.deepEqual(routes.calls, []);
    });

    it("refuses when the live slot's pin in config differs from what runs live", async () => {
        const { stack, routes, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v9", commit: commit("c3") }, green: B2 });
        const e = await rejects(promote(deps), "config");
        assert.match(e.message, /config gpu-hosts:slots\.blue\.commit is "c3c3.*" but live slot blue runs a1a1.* \(v1@a1a1a1a1a1a1\): an update would change the live slot/);
        assert.deepEqual([routes.calls, stack.ups], [[], 0]);
    });

    it("refuses when idle runs a different release than the stack says", async () => {
        const { stack, routes, deps } = setup();
        const orig = stack.outputs.bind(stack);
        stack.outputs = async () => {
            const o = await orig();
            const slots = o.slots as Record<string, Record<string, string>>;
            return { ...o, slots: { ...slots, green: { ...slots.green, label: "v3@c3c3c3c3c3c3" } } };
        };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /check "release": answered release "v2@b2b2b2b2b2b2", expected "v3@c3c3c3c3c3c3"/);
        assert.deepEqual([routes.calls, stack.ups], [[], 0]);
    });

    it("refuses when config liveColor already differs from what is deployed", async () => {
        const { stack, deps } = setup();
        stack.config.liveColor = "green";
        const e = await rejects(promote(deps), "config");
        assert.match(e.message, /config gpu-hosts:liveColor is "green" but stack dev serves "blue" live/);
        assert.equal(stack.ups, 0);
    });

    it("refuses when the route command fails on every host: nothing moved, nothing written", async () => {
        const { stack, routes, deps } = setup();
        routes.fails = { local: { green: "refusing to switch live traffic to green: health check http://api-green:8000/health failed; routes unchanged" }, gcp: { green: "ssh: connect to host 34.1.2.3 port 22: Connection refused" } };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /^refusing to promote: the switch to green failed on host local \(check "routes": refusing to switch .*\); host gcp \(check "routes": ssh: connect .*\); live traffic stays on blue, nothing was changed$/);
        assert.deepEqual([stack.setConfigCalls, stack.ups, stack.routes], [[], 0, { local: "blue", gcp: "blue" }]);
    });

    it("switches back the hosts that switched when the route command fails on another, and records nothing", async () => {
        const { stack, routes, deps } = setup();
        routes.fails = { gcp: { green: "ssh: connect to host 34.1.2.3 port 22: Connection timed out" } };
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /^promote failed: the switch to green failed on host gcp \(check "routes": ssh: .*\); switched back, live is blue again on every host and nothing was recorded$/);
        assert.deepEqual(routes.calls, ["local green", "gcp green", "local blue", "gcp blue"]);
        assert.deepEqual([stack.setConfigCalls, stack.ups, stack.routes], [[], 0, { local: "blue", gcp: "blue" }]);
    });

    it("switches back by itself when the live URL does not serve the new slot after the switch, recording nothing", async () => {
        const { stack, checker, routes, lines, deps } = setup();
        checker.stuckLive = "blue";
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /^promote failed: the live URL does not serve green on host local \(check "slot": answered from slot "blue", expected "green"\); host gcp .*; switched back, live is blue again on every host and nothing was recorded$/);
        assert.deepEqual(routes.calls, ["local green", "gcp green", "local blue", "gcp blue"]);
        assert.deepEqual([stack.setConfigCalls, stack.ups, stack.deployed.liveColor], [[], 0, "blue"]);
        assert.ok(lines.some((l) => l.startsWith("switching back: the live URL does not serve green")));
        assert.equal(exitCode(e), 1);
        assert.equal(errorText({ name: "promote" }, e).split("\n").length, 1, "one line, no stack trace");
    });

    it("reports rollback-failed when switching back fails too", async () => {
        const { routes, checker, deps } = setup();
        checker.stuckLive = "blue";
        routes.fails = { gcp: { blue: "ssh: connect to host 34.1.2.3 port 22: Connection refused" } };
        const e = await rejects(promote(deps), "rollback-failed");
        assert.match(e.message, /and switching back to blue failed too on host gcp .*run `npm run up -- --stack dev` to route every host as it says$/);
    });

    it("switches back and puts liveColor back when the recording update fails before it recorded anything", async () => {
        const { stack, routes, deps } = setup();
        stack.upErrors = [new UpFailedError("pulumi up on stack dev failed: error: an unhandled error occurred: program exited", [])];
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /recording the switch failed: pulumi up on stack dev failed: .*switched back, live is blue again on every host and nothing was recorded$/);
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 1, "nothing recorded, nothing to record back");
        assert.deepEqual([routes.calls.slice(2), stack.routes], [["local blue", "gcp blue"], { local: "blue", gcp: "blue" }]);
    });

    it("rolls back, recording the previous slot again, when the recording update failed after recording some hosts", async () => {
        const { stack, deps } = setup();
        stack.upErrors = [new UpFailedError("pulumi up on stack dev failed: gcp-app-proxy-routes: ssh: handshake failed", [], [{ urn: routesUrn("local"), change: "update" }])];
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /recording the switch failed: .*handshake failed; rolled back, live is blue again$/);
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.deepEqual(stack.upTargets, [TARGETS, TARGETS]);
        assert.deepEqual([stack.config.liveColor, stack.deployed.liveColor, stack.routes], ["blue", "blue", { local: "blue", gcp: "blue" }]);
    });

    it("reports rollback-failed when the rollback's own record fails too", async () => {
        const { stack, deps } = setup();
        const failed = new UpFailedError("pulumi up on stack dev failed: boom", [], [{ urn: routesUrn("local"), change: "update" }]);
        stack.upErrors = [failed, new OpsError("up-failed", "pulumi up on stack dev failed: error: boom again")];
        const e = await rejects(promote(deps), "rollback-failed");
        assert.match(e.message, /automatic rollback to blue failed too \(pulumi up on stack dev failed: error: boom again\)/);
    });

    it("a concurrent update: switched back, liveColor back, nothing recorded, and says so", async () => {
        const { stack, deps } = setup();
        const conflict = new (ConcurrentUpdateError as any)({ stdout: "", stderr: "error: [409] Conflict: Another update is currently in progress.", code: 255, toString: () => "code: 255" });
        stack.upErrors = [mapStackError(conflict, "dev", "pulumi up")];
        const e = await rejects(promote(deps), "concurrent-update");
        assert.match(e.message, /^promote failed: recording the switch failed: stack dev has another update in progress .*; switched back, live is blue again on every host and nothing was recorded$/);
        assert.deepEqual([stack.config.liveColor, stack.routes], ["blue", { local: "blue", gcp: "blue" }]);
    });

    it("starts nothing more after the operator interrupted the record, and says how to finish it", async () => {
        const { stack, routes, deps } = setup();
        const abort = new AbortController();
        stack.up = async () => {
            stack.ups++;
            abort.abort();
            throw new OpsError("up-failed", "pulumi up on stack dev failed: error: update canceled");
        };
        const e = await rejects(promote({ ...deps, signal: abort.signal }), "up-failed");
        assert.match(e.message, /^interrupted while recording the switch: live traffic is on green on every host and config liveColor is green.*run `npm run up -- --stack dev` to finish recording it$/);
        assert.deepEqual([stack.ups, routes.calls], [1, ["local green", "gcp green"]]);
    });

    it("rolls back when the recording update changed no routes on a host (its target matched nothing)", async () => {
        const { stack, deps } = setup();
        const up = stack.up.bind(stack);
        let n = 0;
        stack.up = async (o) => {
            const r = await up(o);
            return ++n === 1 ? { ...r, resources: r.resources.filter((c) => !c.urn.endsWith("gcp-app-proxy-routes")) } : r;
        };
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /the update recorded no routes change on host\(s\) gcp; rolled back, live is blue again$/);
    });

    it("leaves a change of the program pending: the record changes the routes only, and the next up applies the rest", async () => {
        const { stack, deps } = setup();
        stack.pending = [{ urn: sharedUrn("local", "proxy-auth"), change: "replace" }];
        const r = await promote(deps);
        assert.deepEqual(r.changed.map((c) => c.urn), [routesUrn("local"), routesUrn("gcp")]);
        assert.deepEqual(stack.pending, [{ urn: sharedUrn("local", "proxy-auth"), change: "replace" }], "not applied by the swap");
    });

    it("names every missing output and touches nothing", async () => {
        const { stack, routes, deps } = setup();
        stack.dropOutputs = ["idleUrl", "hosts"];
        const e = await rejects(promote(deps), "missing-output");
        assert.match(e.message, /^stack dev has no output "idleUrl", "hosts": /);
        assert.deepEqual([stack.calls, routes.calls], [["outputs", "allConfig", "history"], []]);
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
    it("switches back to the previous slot (the idle one), health-checked, switched on each host, verified and recorded", async () => {
        const { stack, checker, routes, lines, deps } = setup();
        await promote(deps);
        checker.probes = [];
        const r = await rollback(deps);
        assert.deepEqual([r.liveColor, r.previousColor], ["blue", "green"]);
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.deepEqual(stack.upTargets, [TARGETS, TARGETS]);
        assert.deepEqual([stack.deployed.liveColor, stack.routes], ["blue", { local: "blue", gcp: "blue" }]);
        assert.deepEqual(routes.calls.slice(2), ["local blue", "gcp blue"]);
        assert.deepEqual(checker.probes.slice(0, 2), ["http://127.0.0.1:8081/health", "https://34.1.2.3:8081/health"]);
        assert.ok(lines.includes("[2/4] checking previous slot blue (now idle) on 2 host(s)"));
    });

    it("refuses when the previous slot is unhealthy", async () => {
        const { stack, checker, routes, deps } = setup("green");
        checker.unhealthy.blue = { check: "ollama", reason: "model not loaded" };
        const e = await rejects(rollback(deps), "unhealthy");
        assert.match(e.message, /^refusing to roll back: slot blue is unhealthy on host local \(check "ollama": model not loaded\); host gcp/);
        assert.deepEqual([stack.ups, stack.config.liveColor, routes.calls], [0, "green", []]);
    });

    it("a slot change waiting in config also stops a rollback before anything moves", async () => {
        const { stack, routes, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v1", commit: commit("a1") }, green: { release: "v7", commit: commit("d4") } });
        await rejects(rollback(deps), "pending-changes");
        assert.deepEqual([stack.ups, routes.calls], [0, []]);
    });

    it("a release's whole update, then a rollback: the swap's own targeted record leaves the slots alone", async () => {
        const { stack, deps } = setup();
        stack.pending = slotUrns("gcp", "green").map((urn) => ({ urn, change: "replace" as const }));
        const r = await rollback(deps);
        assert.ok(r.changed.every((c) => c.urn.endsWith("-app-proxy-routes")));
        assert.equal(stack.pending.length, 3);
    });
});

describe("pending config (scripts/lib/pending.ts)", () => {
    const entry = (value: string, secret = false) => ({ value, secret });
    const update = (config: UpdateRecord["config"], o: Partial<UpdateRecord> = {}): UpdateRecord => ({ kind: "update", result: "succeeded", startTime: new Date(0), config, ...o });

    it("compares every key, its value and whether it is a secret, and lists the keys only", () => {
        assert.deepEqual(changedKeys({ "a:x": entry("1"), "a:y": entry("s", true), "aws:region": entry("eu-west-1") }, { "a:x": entry("1"), "a:y": entry("s"), "a:z": entry("2") }),
            ["a:y", "a:z", "aws:region"]);
        assert.deepEqual(changedKeys({ "a:x": entry("[\"0.0.0.0/0\"]") }, { "a:x": entry("[\"0.0.0.0/0\"]") }), []);
    });

    it("reads past refreshes and previews to the last update, and wants it succeeded", () => {
        const cfg = { "gpu-hosts:liveColor": entry("green") };
        assert.deepEqual(configSinceLastUpdate([update({}, { kind: "refresh" }), update(cfg)], cfg).ok, true);
        assert.deepEqual(configSinceLastUpdate([update(cfg, { result: "failed" })], cfg), { ok: false, why: "its last update failed" });
        assert.deepEqual(configSinceLastUpdate([update(cfg, { result: "in-progress" })], cfg), { ok: false, why: "its last update is in-progress" });
        assert.deepEqual(configSinceLastUpdate([update(cfg, { kind: "import" })], cfg), { ok: false, why: "its last operation was a import (succeeded), not an update" });
        assert.deepEqual(configSinceLastUpdate([update({}, { kind: "refresh" })], cfg), { ok: false, why: "no update in its last 1 operation(s) to compare its config with" });
        assert.deepEqual(configSinceLastUpdate([update({ "gpu-hosts:liveColor": entry("blue") })], cfg), { ok: false, why: "its config changed since the last update (gpu-hosts:liveColor)" });
    });
});
