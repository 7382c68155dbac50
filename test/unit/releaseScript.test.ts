// The release (scripts/lib/release.ts) against an in-memory stack whose engine plans and applies what
// the program would: it pins, changes only the idle slot, refuses anything else before an update, and
// tells the truth about what the update changed.
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { OpsError } from "../../scripts/lib/errors";
import { release } from "../../scripts/lib/release";
import { up } from "../../scripts/lib/up";
import { PROJECT_ROOT } from "../../scripts/lib/stackOps";
import { rejects } from "../helpers/opsErrors";
import { A1, B2, commit, setup, sharedUrn, slotUrns } from "../helpers/standInStack";

const C3 = { release: "v3", commit: commit("c3") };
const pinTo = (pinned: { release: string; commit: string }) => (_contextDir: string, r: string) => {
    if (r !== pinned.release) throw new OpsError("usage", `unexpected release ${r}`);
    return pinned;
};

describe("release", () => {
    it("pins, sets only the idle slot, previews, runs up, waits for it healthy, smoke-tests idle on every host", async () => {
        const { stack, checker, lines, deps } = setup();
        const r = await release(deps, { release: "v3", pin: pinTo(C3) });
        assert.equal(r.color, "green");
        assert.deepEqual(r.pinned, C3);
        assert.deepEqual(r.changed.map((c) => c.urn), [...slotUrns("local", "green"), ...slotUrns("gcp", "green")]);
        assert.deepEqual(stack.setConfigCalls, [`setConfig slots ${JSON.stringify({ blue: A1, green: C3 })}`]);
        assert.equal(stack.config.liveColor, "blue");
        assert.equal(stack.previews, 1);
        assert.equal(stack.ups, 1);
        assert.deepEqual(stack.deployed.slots, { blue: A1, green: C3 });
        assert.deepEqual(checker.smokes, ["http://127.0.0.1:8081", "https://34.1.2.3:8081"]);
        assert.deepEqual(checker.smokeExpects, [{ slot: "green", release: "v3@c3c3c3c3c3c3" }, { slot: "green", release: "v3@c3c3c3c3c3c3" }], "the job must be processed by the new release");
        assert.deepEqual(lines.filter((l) => l.startsWith("[")), [
            "[1/6] reading outputs of stack dev",
            `[2/6] pinning release v3 to commit ${C3.commit} and setting it on idle slot green (live blue stays on v1@a1a1a1a1a1a1)`,
            "[3/6] previewing: only the idle slot may change",
            "[4/6] running pulumi up",
            "[5/6] waiting for idle slot green to be healthy with release v3@c3c3c3c3c3c3 on 2 host(s)",
            "[6/6] smoke-testing idle slot green on 2 host(s): one job through to completed, processed by green release v3@c3c3c3c3c3c3",
        ]);
        assert.ok(lines.includes("      pulumi up done: live slot blue: none; idle slot green: 6 replace; shared: none"), lines.join("\n"));
        assert.match(lines[lines.length - 1], /^done: release v3@c3c3c3c3c3c3 is healthy in idle slot green on every host \(changed: 6 replace in green, none in live blue, none shared\)/);
    });

    it("releases into blue when green is live, keeping green's pin", async () => {
        const { stack, deps } = setup("green");
        await release(deps, { release: "v3", pin: pinTo(C3) });
        assert.deepEqual(JSON.parse(stack.config.slots!), { blue: C3, green: B2 });
    });

    it("refuses before any update when the preview shows a change to what both slots share, and puts the pin back", async () => {
        const { stack, deps } = setup();
        stack.pending = [{ urn: sharedUrn("local", "proxy-auth"), change: "replace" }];
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "pending-changes");
        assert.equal(e.message, "refusing to release: the update would also change what both slots share (replace local-app-proxy-auth). A release changes only the idle slot; " +
            "apply other changes first with `npm run up -- --stack dev`. Config gpu-hosts:slots.green set back; nothing was deployed");
        assert.equal(stack.ups, 0);
        assert.deepEqual(JSON.parse(stack.config.slots!), { blue: A1, green: B2 });
    });

    it("refuses before any update when the preview would change the live slot", async () => {
        const { stack, deps } = setup();
        stack.pending = [{ urn: slotUrns("gcp", "blue")[1], change: "replace" }];
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "pending-changes");
        assert.match(e.message, /would also change the live slot blue \(replace gcp-app-blue-api\)/);
        assert.equal(stack.ups, 0);
    });

    it("fails loudly when the update changed the live slot after all, and never says it was spared", async () => {
        const { stack, lines, deps } = setup();
        stack.surprise = [{ urn: slotUrns("local", "blue")[2], change: "replace" }];
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "live-changed");
        assert.match(e.message, /^the update changed the LIVE slot blue: replace local-app-blue-worker\./);
        assert.ok(!lines.some((l) => /untouched|not changed|none in live/.test(l)), lines.join("\n"));
    });

    it("refuses when config would also change the live slot", async () => {
        const { stack, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "zz", commit: commit("ee") }, green: B2 });
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "config");
        assert.match(e.message, /slots\.blue\.commit is "eeee.*" but live slot blue runs a1a1/);
        assert.equal(stack.ups, 0);
        assert.deepEqual(stack.setConfigCalls, []);
    });

    it("fails naming the host and check when the smoke job fails; the live slot was not changed", async () => {
        const { stack, checker, deps } = setup();
        checker.smokeFails.gcp = { check: "job", reason: "job j-9 failed: ollama: model \"llama3.2\" not found" };
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "smoke-failed");
        assert.match(e.message, /failed on host gcp \(check "job": job j-9 failed: ollama: model "llama3.2" not found\); the live slot blue was not changed$/);
        assert.equal(stack.deployed.liveColor, "blue");
    });

    it("fails when the new idle slot never turns healthy", async () => {
        const { checker, deps } = setup();
        checker.unhealthy.green = { check: "health", reason: "GET http://127.0.0.1:8081/health: connection refused (still failing after 300 s)" };
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "unhealthy");
        assert.match(e.message, /^release v3@c3c3c3c3c3c3 in idle slot green is unhealthy on host local \(check "health": .*connection refused/);
    });

    it("pins in the app context the stack's config names, and says first what the operator should know about it", async () => {
        const { stack, lines, deps } = setup();
        stack.config.app = JSON.stringify({ context: "services/app" });
        const dirs: string[] = [];
        await release(deps, {
            release: "v3",
            pin: (dir, r) => {
                dirs.push(dir);
                return pinTo(C3)(dir, r);
            },
            note: (dir) => `${dir} has uncommitted changes that release v3 does not contain`,
        });
        const context = path.join(PROJECT_ROOT, "services", "app");
        assert.deepEqual(dirs, [context]);
        assert.equal(lines.filter((l) => l.startsWith("note: ")).length, 1);
        assert.ok(lines.indexOf(`note: ${context} has uncommitted changes that release v3 does not contain`) < lines.findIndex((l) => l.startsWith("[2/6]")), lines.join("\n"));
    });

    it("refuses a config the program would refuse, before pinning or changing anything", async () => {
        const { stack, deps } = setup();
        stack.config.idlePort = "8080";
        stack.config.apiPort = "8080";
        const e = await rejects(release(deps, { release: "v3", pin: () => assert.fail("must not pin") }), "config");
        assert.equal(e.message, 'the config of stack dev has 1 problem: gpu-hosts:idlePort must be a port other than gpu-hosts:apiPort (8080), got 8080');
        assert.deepEqual(stack.setConfigCalls, []);
        assert.equal(stack.previews + stack.ups, 0);
    });

    it("a release that cannot be pinned touches nothing", async () => {
        const { stack, deps } = setup();
        const e = await rejects(release(deps, { release: "v9", pin: () => { throw new OpsError("usage", "release \"v9\" is not a git ref"); } }), "usage");
        assert.match(e.message, /not a git ref/);
        assert.deepEqual(stack.setConfigCalls, []);
        assert.equal(stack.ups, 0);
    });

    it("on a stack deployed by plain `pulumi up` (no commits in its config): the live slot's kept pin passes, only the idle slot is pinned", async () => {
        const { stack, lines, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v1", commit: "" }, green: { release: "v2", commit: "" } });
        stack.kept = { blue: { ...A1, configCommit: "" }, green: { ...B2, configCommit: "" } };
        const r = await release(deps, { release: "v3", pin: pinTo(C3) });
        assert.deepEqual(JSON.parse(stack.config.slots!), { blue: { release: "v1", commit: "" }, green: C3 });
        assert.deepEqual(r.changed.map((c) => c.urn), [...slotUrns("local", "green"), ...slotUrns("gcp", "green")]);
        assert.deepEqual(stack.kept.green, { ...C3, configCommit: C3.commit });
        assert.ok(lines.includes("      pulumi up done: live slot blue: none; idle slot green: 6 replace; shared: none"), lines.join("\n"));
    });

    it("refuses when the live slot's release was renamed by hand: the up would pin it anew and change the live slot", async () => {
        const { stack, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "v9", commit: A1.commit }, green: B2 });
        const e = await rejects(release(deps, { release: "v3", pin: pinTo(C3) }), "config");
        assert.equal(e.message, `config gpu-hosts:slots.blue.release is "v9" but live slot blue runs ${A1.commit} (v1@a1a1a1a1a1a1): an update would pin that release and change the live slot; set it back first`);
        assert.deepEqual(stack.setConfigCalls, []);
    });

    it("a release whose pin is the config's commit the program had set aside writes the release alone, which the program pins to it", async () => {
        const { stack, lines, deps } = setup();
        // green was renamed to v3 by hand over B2's commit, and the up pinned v3 to C3; v3 now points at B2's commit.
        stack.config.slots = JSON.stringify({ blue: A1, green: { release: "v3", commit: B2.commit } });
        stack.kept.green = { release: "v3", commit: C3.commit, configCommit: B2.commit };
        stack.deployed.slots.green = C3;
        stack.refs.v3 = B2.commit;
        const back = { release: "v3", commit: B2.commit };
        await release(deps, { release: "v3", pin: pinTo(back) });
        assert.deepEqual(JSON.parse(stack.config.slots!), { blue: A1, green: { release: "v3", commit: "" } });
        assert.deepEqual(stack.deployed.slots.green, back, "the slot runs the release's pin");
        assert.ok(lines.some((l) => l.includes(`commit ${B2.commit} is the config's earlier commit`)), lines.join("\n"));
    });
});

describe("npm run up pins what the program would pin, nothing else", () => {
    it("leaves a slot the stack keeps alone (no commit in its config, the disk changed): nothing on disk reaches it", async () => {
        const { stack, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "workdir", commit: "" }, green: { release: "workdir", commit: "" } });
        stack.kept = { blue: { release: "workdir", commit: A1.commit, configCommit: "" }, green: { release: "workdir", commit: A1.commit, configCommit: "" } };
        stack.deployed.slots = { blue: { release: "workdir", commit: A1.commit }, green: { release: "workdir", commit: A1.commit } };
        const r = await up(deps, () => assert.fail("must not pin: the disk must not reach a kept slot"));
        assert.deepEqual(r.pinned, []);
        assert.deepEqual(stack.setConfigCalls, []);
        assert.deepEqual(r.resources, []);
    });

    it("pins a release name set by hand over an old commit, into the config, before the up", async () => {
        const { stack, lines, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: A1, green: { release: "v3", commit: B2.commit } });
        const r = await up(deps, pinTo(C3));
        assert.deepEqual(r.pinned, ["green"]);
        assert.deepEqual(stack.setConfigCalls, [`setConfig slots ${JSON.stringify({ blue: A1, green: C3 })}`]);
        assert.deepEqual(stack.deployed.slots, { blue: A1, green: C3 });
        assert.ok(lines.includes(`      pinned slot green: release v3 -> v3@c3c3c3c3c3c3 (commit ${C3.commit})`), lines.join("\n"));
    });
});
