// Promotion, rollback and release logic against stand-ins: an in-memory StackOps that behaves like a
// deployed stack (up applies config to outputs) and a Checker scripted over a tiny model of the hosts.
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConcurrentUpdateError } from "@pulumi/pulumi/automation";
import { otherColor } from "../components/config";
import { exitCode, errorText, parseArgs } from "../scripts/lib/cli";
import { OpsError } from "../scripts/lib/errors";
import { defaultRelease } from "../scripts/lib/git";
import { Checker, CheckResult, Color, Expect } from "../scripts/lib/health";
import { Deps, promote, release, rollback } from "../scripts/lib/promote";
import { mapStackError, StackOps, UpSummary } from "../scripts/lib/stackOps";
import { rejects } from "./helpers/opsErrors";


const HOSTS = {
    local: { live: "http://127.0.0.1:8080", idle: "http://127.0.0.1:8081" },
    gcp: { live: "http://34.1.2.3:8080", idle: "http://34.1.2.3:8081" },
};

/** Stand-in for a deployed stack: config + outputs in memory; up() "deploys" config into outputs. */
class StandInStack implements StackOps {
    readonly name = "dev";
    config: Record<string, string | undefined>;
    deployed: { liveColor: Color; releases: Record<Color, string> };
    calls: string[] = [];
    ups = 0;
    /** Errors the next up() calls throw, in order. */
    upErrors: Error[] = [];
    dropOutputs: string[] = [];

    constructor(live: Color = "blue", releases: Record<Color, string> = { blue: "a1", green: "b2" }, setConfigs = true) {
        this.deployed = { liveColor: live, releases: { ...releases } };
        this.config = setConfigs
            ? { liveColor: live, slots: JSON.stringify({ blue: { release: releases.blue }, green: { release: releases.green } }) }
            : {};
    }

    async outputs(): Promise<Record<string, unknown>> {
        this.calls.push("outputs");
        const { liveColor, releases } = this.deployed;
        const hosts = Object.fromEntries(Object.entries(HOSTS).map(([n, h]) => [n, {
            kind: n, liveUrl: h.live, idleUrl: h.idle, healthUrl: `${h.live}/health`, liveColor, idleColor: otherColor(liveColor),
        }]));
        const out: Record<string, unknown> = {
            liveColor, idleColor: otherColor(liveColor), liveUrl: HOSTS.local.live, idleUrl: HOSTS.local.idle,
            slots: { blue: { release: releases.blue, image: `gpu-hosts-app:${releases.blue}` }, green: { release: releases.green, image: `gpu-hosts-app:${releases.green}` } },
            hosts,
        };
        for (const k of this.dropOutputs) delete out[k];
        return out;
    }

    async getConfig(key: string): Promise<string | undefined> {
        this.calls.push(`getConfig ${key}`);
        return this.config[key];
    }

    async setConfig(key: string, value: string | object): Promise<void> {
        const v = typeof value === "string" ? value : JSON.stringify(value);
        this.calls.push(`setConfig ${key} ${v}`);
        this.config[key] = v;
    }

    // Promotion never touches the state or refreshes; recover.test.ts covers those.
    async exportState(): Promise<never> { throw new Error("promote must not export the state"); }
    async importState(): Promise<never> { throw new Error("promote must not import a state"); }
    async refresh(): Promise<never> { throw new Error("promote must not refresh"); }

    async up(): Promise<UpSummary> {
        this.calls.push("up");
        this.ups++;
        const err = this.upErrors.shift();
        if (err) throw err;
        if (this.config.liveColor) this.deployed.liveColor = this.config.liveColor as Color;
        if (this.config.slots) {
            const s = JSON.parse(this.config.slots);
            this.deployed.releases = { blue: s.blue.release, green: s.green.release };
        }
        return { changes: { update: 1, same: 30 } };
    }

    get setConfigCalls(): string[] {
        return this.calls.filter((c) => c.startsWith("setConfig"));
    }
}

/** Scripted Checker: answers from the stand-in's deployed state, with injectable faults. */
class ScriptedChecker implements Checker {
    /** Slot colors whose api reports a failing check. */
    unhealthy: Partial<Record<Color, { check: string; reason: string; hosts?: string[] }>> = {};
    /** After a flip the proxy keeps serving this color on the live port (a broken route). */
    stuckLive?: Color;
    /** Smoke job outcome per host. */
    smokeFails: Record<string, { check: string; reason: string }> = {};
    probes: string[] = [];
    smokes: string[] = [];
    smokeExpects: (Expect | undefined)[] = [];

    constructor(private readonly stack: StandInStack) {}

    private served(url: string): { host: string; color: Color } {
        for (const [host, h] of Object.entries(HOSTS)) {
            if (url.startsWith(h.live)) return { host, color: this.stuckLive ?? this.stack.deployed.liveColor };
            if (url.startsWith(h.idle)) return { host, color: otherColor(this.stack.deployed.liveColor) };
        }
        throw new Error(`stand-in has no host for ${url}`);
    }

    async health(url: string, expect: Expect): Promise<CheckResult> {
        this.probes.push(url);
        const { host, color } = this.served(url);
        const bad = this.unhealthy[color];
        if (bad && (!bad.hosts || bad.hosts.includes(host))) return { ok: false, check: bad.check, reason: bad.reason };
        if (expect.slot && expect.slot !== color) return { ok: false, check: "slot", reason: `answered from slot "${color}", expected "${expect.slot}"` };
        const rel = this.stack.deployed.releases[color];
        if (expect.release !== undefined && expect.release !== rel) return { ok: false, check: "release", reason: `answered release "${rel}", expected "${expect.release}"` };
        return { ok: true, summary: `healthy, slot ${color}, release ${rel}` };
    }

    waitHealthy(url: string, expect: Expect): Promise<CheckResult> {
        return this.health(url, expect);
    }

    async smoke(baseUrl: string, expect?: Expect): Promise<CheckResult> {
        this.smokes.push(baseUrl);
        this.smokeExpects.push(expect);
        const { host } = this.served(baseUrl);
        const f = this.smokeFails[host];
        return f ? { ok: false, ...f } : { ok: true, summary: "job j-1 completed in 3.2 s" };
    }
}

function setup(live: Color = "blue") {
    const stack = new StandInStack(live);
    const checker = new ScriptedChecker(stack);
    const lines: string[] = [];
    const deps: Deps = { stack, checker, log: (l) => lines.push(l), verifyTimeoutMs: 0, healthTimeoutMs: 0 };
    return { stack, checker, lines, deps };
}

describe("promote", () => {
    it("checks idle on every host, flips liveColor, runs up once and verifies live on every host", async () => {
        const { stack, checker, lines, deps } = setup();
        const r = await promote(deps);
        assert.deepEqual(r, { liveColor: "green", previousColor: "blue" });
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green"]);
        assert.equal(stack.ups, 1);
        assert.equal(stack.deployed.liveColor, "green");
        assert.deepEqual(checker.probes, [
            "http://127.0.0.1:8081/health", "http://34.1.2.3:8081/health", // idle gate, before the flip
            "http://127.0.0.1:8080/health", "http://34.1.2.3:8080/health", // live verification, after
        ]);
        assert.deepEqual(lines.filter((l) => l.startsWith("[")), [
            "[1/4] reading outputs of stack dev",
            "[2/4] checking idle slot green on 2 host(s)",
            "[3/4] setting liveColor = green and running pulumi up",
            "[4/4] verifying the live URL serves green on 2 host(s)",
        ]);
        assert.match(lines[lines.length - 1], /^done: stack dev serves green \(release b2\) live on every host/);
    });

    it("refuses when the idle slot is unhealthy on one host: names check and host, no flip, no up", async () => {
        const { stack, checker, deps } = setup();
        checker.unhealthy.green = { check: "redis", reason: "GET http://34.1.2.3:8081/health -> HTTP 503: redis: \"ECONNREFUSED\"", hosts: ["gcp"] };
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /^refusing to promote: slot green is unhealthy on host gcp \(check "redis": .*503.*\); live traffic stays on blue, nothing was changed$/);
        assert.deepEqual(stack.setConfigCalls, []);
        assert.equal(stack.ups, 0);
        assert.equal(stack.config.liveColor, "blue");
        assert.equal(exitCode(e), 1);
    });

    it("refuses when idle runs a different release than the stack says", async () => {
        const { stack, deps } = setup();
        const orig = stack.outputs.bind(stack);
        stack.outputs = async () => ({ ...(await orig()), slots: { blue: { release: "a1" }, green: { release: "c3" } } });
        const e = await rejects(promote(deps), "unhealthy");
        assert.match(e.message, /check "release": answered release "b2", expected "c3"/);
        assert.equal(stack.ups, 0);
    });

    it("rolls back by itself when the live URL does not serve the new slot after up", async () => {
        const { stack, checker, lines, deps } = setup();
        checker.stuckLive = "blue";
        const e = await rejects(promote(deps), "rolled-back");
        assert.match(e.message, /^promote failed: the live URL does not serve green on host local \(check "slot": answered from slot "blue", expected "green"\); host gcp .*; rolled back, live is blue again$/);
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 2);
        assert.equal(stack.config.liveColor, "blue");
        assert.equal(stack.deployed.liveColor, "blue");
        assert.ok(lines.some((l) => l.startsWith("rolling back: the live URL does not serve green")));
        assert.equal(exitCode(e), 1);
        assert.equal(errorText({ name: "promote", releaseFlags: false }, e).split("\n").length, 1, "one line, no stack trace");
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
        assert.equal(stack.ups, 1);
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
        stack.outputs = async () => ({ liveColor: "purple", idleColor: "green", idleUrl: "http://x:8081", hosts: { a: { liveUrl: "http://x:8080" } } });
        const e = await rejects(promote(deps), "bad-output");
        assert.match(e.message, /liveColor must be "blue" or "green", got "purple"; .*hosts\.a must have liveUrl and idleUrl/);
    });
});

describe("rollback", () => {
    it("flips back to the previous slot (the idle one), health-checked and verified", async () => {
        const { stack, checker, lines, deps } = setup();
        await promote(deps);
        checker.probes = [];
        const r = await rollback(deps);
        assert.deepEqual(r, { liveColor: "blue", previousColor: "green" });
        assert.deepEqual(stack.setConfigCalls, ["setConfig liveColor green", "setConfig liveColor blue"]);
        assert.equal(stack.ups, 2);
        assert.equal(stack.deployed.liveColor, "blue");
        assert.deepEqual(checker.probes.slice(0, 2), ["http://127.0.0.1:8081/health", "http://34.1.2.3:8081/health"]);
        assert.ok(lines.includes("[2/4] checking previous slot blue (now idle) on 2 host(s)"));
    });

    it("refuses when the previous slot is unhealthy", async () => {
        const { stack, checker, deps } = setup("green");
        checker.unhealthy.blue = { check: "ollama", reason: "model not loaded" };
        const e = await rejects(rollback(deps), "unhealthy");
        assert.match(e.message, /^refusing to roll back: slot blue is unhealthy on host local \(check "ollama": model not loaded\); host gcp/);
        assert.equal(stack.ups, 0);
        assert.equal(stack.config.liveColor, "green");
    });
});

describe("release", () => {
    it("sets only the idle slot's release, runs up, waits for it healthy, smoke-tests idle on every host", async () => {
        const { stack, checker, lines, deps } = setup();
        const r = await release(deps, { release: "c3" });
        assert.deepEqual(r, { color: "green", release: "c3" });
        assert.deepEqual(stack.setConfigCalls, [`setConfig slots ${JSON.stringify({ blue: { release: "a1" }, green: { release: "c3" } })}`]);
        assert.equal(stack.config.liveColor, "blue");
        assert.equal(stack.ups, 1);
        assert.deepEqual(stack.deployed.releases, { blue: "a1", green: "c3" });
        assert.deepEqual(checker.smokes, ["http://127.0.0.1:8081", "http://34.1.2.3:8081"]);
        assert.deepEqual(checker.smokeExpects, [{ slot: "green", release: "c3" }, { slot: "green", release: "c3" }], "the job must be processed by the new release");
        assert.deepEqual(lines.filter((l) => l.startsWith("[")), [
            "[1/5] reading outputs of stack dev",
            "[2/5] setting slots.green.release = c3 (idle slot; live blue stays on a1)",
            "[3/5] running pulumi up",
            "[4/5] waiting for idle slot green to be healthy with release c3 on 2 host(s)",
            "[5/5] smoke-testing idle slot green on 2 host(s): one job through to completed, processed by green release c3",
        ]);
    });

    it("keeps other slot fields and builds slots from outputs when config has none", async () => {
        const { stack, deps } = setup("green");
        stack.config = {};
        await release(deps, { release: "workdir" });
        assert.deepEqual(JSON.parse(stack.config.slots!), { blue: { release: "workdir" }, green: { release: "b2" } });
    });

    it("refuses when config would also change the live slot", async () => {
        const { stack, deps } = setup();
        stack.config.slots = JSON.stringify({ blue: { release: "zz" }, green: { release: "b2" } });
        const e = await rejects(release(deps, { release: "c3" }), "config");
        assert.match(e.message, /slots\.blue\.release is "zz" but live slot blue runs "a1"/);
        assert.equal(stack.ups, 0);
        assert.deepEqual(stack.setConfigCalls, []);
    });

    it("fails naming the host and check when the smoke job fails, live untouched", async () => {
        const { stack, checker, deps } = setup();
        checker.smokeFails.gcp = { check: "job", reason: "job j-9 failed: ollama: model \"llama3.2\" not found" };
        const e = await rejects(release(deps, { release: "c3" }), "smoke-failed");
        assert.match(e.message, /failed on host gcp \(check "job": job j-9 failed: ollama: model "llama3.2" not found\); live traffic is untouched on blue$/);
        assert.equal(stack.deployed.liveColor, "blue");
    });

    it("fails when the new idle slot never turns healthy", async () => {
        const { checker, deps } = setup();
        checker.unhealthy.green = { check: "health", reason: "GET http://127.0.0.1:8081/health: connection refused (still failing after 300 s)" };
        const e = await rejects(release(deps, { release: "c3" }), "unhealthy");
        assert.match(e.message, /^release c3 in idle slot green is unhealthy on host local \(check "health": .*connection refused/);
    });

    it("rejects a release string the program would reject, before touching config", async () => {
        const { stack, deps } = setup();
        const e = await rejects(release(deps, { release: "../etc" }), "usage");
        assert.match(e.message, /release must be "workdir" or a git ref/);
        assert.deepEqual(stack.calls, []);
    });
});

describe("stack error mapping", () => {
    const cmdError = (stderr: string) => Object.assign(new Error(`code: 255\n stdout: \n stderr: ${stderr}`), { commandResult: { stderr } });

    it("no such stack", () => {
        const e = mapStackError(cmdError("error: no stack named 'prod' found"), "prod", "selecting the stack");
        assert.equal(e.kind, "no-stack");
        assert.equal(e.message, "no such stack \"prod\": create it with `pulumi stack init prod` or check --stack (`pulumi stack ls`)");
    });

    it("a locked DIY-backend stack is a concurrent update", () => {
        const e = mapStackError(cmdError("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`."), "dev", "pulumi up");
        assert.equal(e.kind, "concurrent-update");
    });

    it("other up failures keep the CLI's error line", () => {
        const e = mapStackError(cmdError("Updating (dev)\nerror: update failed\n"), "dev", "pulumi up");
        assert.equal(e.kind, "up-failed");
        assert.equal(e.message, "pulumi up on stack dev failed: error: update failed");
    });
});

describe("release CLI arguments", () => {
    const spec = { name: "release", releaseFlags: true };
    it("parses --stack and --release in both spellings", () => {
        assert.deepEqual(parseArgs(["--stack", "dev", "--release=v1.2"], spec), { stack: "dev", release: "v1.2", workdir: false });
        assert.deepEqual(parseArgs(["--stack=prod", "--workdir"], spec), { stack: "prod", release: undefined, workdir: true });
        assert.equal(parseArgs(["--help"], spec), "help");
    });
    it("gives a usage error for a missing --stack, an unknown flag, or both --release and --workdir", () => {
        for (const [argv, why] of [[[], "--stack is required"], [["--stack", "dev", "--force"], "unknown argument \"--force\""], [["--stack", "dev", "--release", "x", "--workdir"], "give --release or --workdir, not both"], [["--stack"], "--stack needs a value"]] as const) {
            assert.throws(() => parseArgs(argv, spec), (e: unknown) => e instanceof OpsError && e.kind === "usage" && e.message === `${why}\nusage: npm run release -- --stack S [--release R | --workdir]`);
        }
        assert.throws(() => parseArgs(["--stack", "dev", "--release", "x"], { name: "promote", releaseFlags: false }), /unknown argument "--release"/);
    });
});

describe("default release", () => {
    let dir: string;
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();
    // A git hook running the suite exports GIT_DIR & co; they would point these commands at the project's repo.
    const saved: Record<string, string | undefined> = {};
    beforeEach(() => {
        for (const k of Object.keys(process.env).filter((k) => k.startsWith("GIT_"))) {
            saved[k] = process.env[k];
            delete process.env[k];
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "release-git-"));
    });
    afterEach(() => {
        Object.assign(process.env, saved);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is the app context's short HEAD, with a note when the context has uncommitted changes", () => {
        git("init", "-q");
        fs.mkdirSync(path.join(dir, "app"));
        fs.writeFileSync(path.join(dir, "app", "api.ts"), "v1");
        git("add", ".");
        git("commit", "-q", "-m", "v1");
        const head = git("rev-parse", "--short", "HEAD");
        assert.deepEqual(defaultRelease(path.join(dir, "app"), false), { release: head, note: undefined });
        fs.writeFileSync(path.join(dir, "app", "api.ts"), "v2");
        assert.match(defaultRelease(path.join(dir, "app"), false).note!, new RegExp(`uncommitted changes that release ${head} does not contain \\(use --workdir`));
    });

    it("is \"workdir\" with --workdir, and a clear error outside git", () => {
        assert.deepEqual(defaultRelease(dir, true), { release: "workdir" });
        assert.throws(() => defaultRelease(dir, false), (e: unknown) => e instanceof OpsError && e.kind === "git" && /pass --release R or --workdir$/.test(e.message));
    });
});
