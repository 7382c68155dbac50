// The operator scripts (scripts/lib: release, promote, rollback, recover, StackOps) end to end
// through the Automation API, the real engine and the real command provider, against the test program
// (test/engine/program: the real program's config keys, outputs contract and Slot/Proxy resource
// shapes, no Docker) and stand-in proxies that serve each host's live and idle ports from the routes
// the last real update wrote. The failure paths an e2e run rarely shows live here.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import * as YAML from "yaml";
import { nameOf } from "../../scripts/lib/changes";
import { Deps } from "../../scripts/lib/deployed";
import { Color, httpChecker } from "../../scripts/lib/health";
import { recover } from "../../scripts/lib/recover";
import { release } from "../../scripts/lib/release";
import { readStackConfig } from "../../scripts/lib/stackConfig";
import { openStack, StackOps } from "../../scripts/lib/stackOps";
import { RouteRunner } from "../../scripts/lib/routes";
import { promote, rollback, SwapDeps } from "../../scripts/lib/swap";
import { rejects } from "../helpers/opsErrors";
import { Engine, engineEnv, REPO, report, requireEngine, runCli, setProcessEnv, tempEngineDir } from "./engine";

const TEST_PROGRAM = path.join(__dirname, "program");
const commit = (c: string) => c.repeat(40).slice(0, 40);
const A1 = { release: "v1", commit: commit("a1") };
const B2 = { release: "v2", commit: commit("b2") };
const C3 = { release: "v3", commit: commit("c3") };

describe("the operator scripts on the real engine (test program, real command provider)", function () {
    this.timeout(180_000);
    let engine: Engine;
    let tmp: string;
    let workDir: string;
    let restoreEnv = () => {};
    const hostsToStop: StandInHost[] = [];

    before(function () {
        engine = requireEngine(this);
        tmp = tempEngineDir("gpu-hosts-engine-scripts-");
        workDir = path.join(tmp, "program");
        fs.cpSync(TEST_PROGRAM, workDir, { recursive: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(workDir, "node_modules"));
        // openStack takes the CLI's environment from this process (plus stackEnv for "local").
        restoreEnv = setProcessEnv(engineEnv(engine, tmp, { plugins: true }));
    });
    after(async () => {
        restoreEnv();
        await Promise.all(hostsToStop.map((h) => h.stop()));
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const cli = (args: string[], extra: Record<string, string> = {}) =>
        runCli(engine, [...args, "--non-interactive"], { cwd: workDir, env: { ...engineEnv(engine, tmp, { plugins: true }), ...extra } });

    /** A deployed stack of the test program: blue live (v1), green idle (v2), two hosts. */
    async function deployed(stack: string, o: { up?: boolean } = {}): Promise<{ hosts: StandInHost[] }> {
        const hosts = [new StandInHost(path.join(tmp, `routes-${stack}-a.json`)), new StandInHost(path.join(tmp, `routes-${stack}-b.json`))];
        hostsToStop.push(...hosts);
        const urls = await Promise.all(hosts.map((h) => h.start()));
        const config = {
            "gpu-hosts:liveColor": "blue",
            "gpu-hosts:slots": { blue: A1, green: B2 },
            "scriptsTest:standIn": { hosts: { "host-a": urls[0], "host-b": urls[1] } },
        };
        fs.writeFileSync(path.join(workDir, `Pulumi.${stack}.yaml`), YAML.stringify({ config }));
        const init = await cli(["stack", "init", stack, "--secrets-provider", "passphrase"]);
        assert.equal(init.code, 0, report(init));
        if (o.up !== false) {
            const up = await cli(["up", "--yes", "--skip-preview", "--stack", stack]);
            assert.equal(up.code, 0, report(up));
        }
        return { hosts };
    }

    const log: string[] = [];
    const deps = (stack: StackOps): Deps => ({
        stack,
        checker: httpChecker({ requestTimeoutMs: 1000, healthIntervalMs: 100, jobPollMs: 50, jobTimeoutMs: 2000 }),
        log: (l) => log.push(l),
        verifyTimeoutMs: 1500,
        healthTimeoutMs: 3000,
    });
    // A swap's own route command on each host, standing in for infra/shell/route.sh: it writes the
    // live color where the stand-in proxy of that host reads it, as the program's routes command does.
    const routeRunner = (hosts: readonly StandInHost[], calls: string[] = []): RouteRunner => async (h, color) => {
        const i = ["host-a", "host-b"].indexOf(h.name);
        if (i < 0 || !hosts[i]) return { ok: false, reason: `no stand-in host ${h.name}` };
        calls.push(`${h.name} ${color}`);
        hosts[i].route(color);
        return { ok: true, summary: `live traffic now served by ${color}` };
    };
    const swapDeps = (stack: StackOps, hosts: readonly StandInHost[], calls?: string[]): SwapDeps => ({ ...deps(stack), routes: () => routeRunner(hosts, calls) });
    const open = (stackName: string) => openStack({ stackName, workDir, pulumiRoot: engine.root, onOutput: () => undefined });
    // The harness's own settings (not the program's, so not through StackOps): the stack file, which
    // the engine reads on every command.
    const stackFile = (stack: string) => path.join(workDir, `Pulumi.${stack}.yaml`);
    const readStandIn = (stack: string) => YAML.parse(fs.readFileSync(stackFile(stack), "utf8")).config["scriptsTest:standIn"];
    const writeStandIn = (stack: string, standIn: unknown) => {
        const doc = YAML.parse(fs.readFileSync(stackFile(stack), "utf8"));
        fs.writeFileSync(stackFile(stack), YAML.stringify({ ...doc, config: { ...doc.config, "scriptsTest:standIn": standIn } }));
    };
    const updates = async (stack: string) => {
        const r = await cli(["stack", "history", "--json", "--stack", stack]);
        assert.equal(r.code, 0, report(r));
        return (JSON.parse(r.output) as { kind: string }[]).filter((u) => u.kind === "update").length;
    };
    beforeEach(() => {
        log.length = 0;
    });

    it("release deploys into the idle slot only; promote and rollback each change exactly the routes", async () => {
        const { hosts } = await deployed("chain");
        const stack = await open("chain");

        const r = await release(deps(stack), { release: "v3", pin: () => C3 });
        assert.deepEqual(r.changed.map((c) => `${c.change} ${nameOf(c.urn)}`), ["replace host-a-app-green-image", "replace host-b-app-green-image"],
            "the engine's own step events: the idle slot's resources and nothing else");
        let out = await stack.outputs();
        assert.equal(out.liveColor, "blue");
        assert.deepEqual((out.slots as Record<Color, unknown>).green, { ...C3, label: "v3@c3c3c3c3c3c3", image: `app-green:${C3.commit.slice(0, 16)}` });
        assert.deepEqual(YAML.parse(fs.readFileSync(path.join(workDir, "Pulumi.chain.yaml"), "utf8")).config["gpu-hosts:slots"], { blue: A1, green: C3 },
            "the pin is written as a YAML object of strings");

        const calls: string[] = [];
        const p = await promote(swapDeps(stack, hosts, calls));
        assert.deepEqual(calls, ["host-a green", "host-b green"], "each host switched by the swap itself, before the record");
        assert.deepEqual(p.changed.map((c) => `${c.change} ${nameOf(c.urn)}`), ["update host-a-app-proxy-routes", "update host-b-app-proxy-routes"]);
        out = await stack.outputs();
        assert.equal(out.liveColor, "green");
        assert.equal((await readStackConfig(stack)).liveColor, "green");

        assert.deepEqual(hosts.map((h) => h.routes().liveColor), ["green", "green"], "the recording update's routes command found them routed");

        const b = await rollback(swapDeps(stack, hosts));
        assert.deepEqual(b.changed.map((c) => nameOf(c.urn)), ["host-a-app-proxy-routes", "host-b-app-proxy-routes"]);
        assert.equal((await stack.outputs()).liveColor, "blue");
        assert.equal(await updates("chain"), 4, "initial up, release, promote, rollback");
    });

    it("refuses a release, with no update, when the live pin or anything shared would change too", async () => {
        const { hosts } = await deployed("drift");
        const stack = await open("drift");
        // The live slot's pin set by hand, in config only: a release must not deploy it.
        await stack.setConfig("slots", { blue: C3, green: B2 });
        const e = await rejects(release(deps(stack), { release: "v3", pin: () => C3 }), "config");
        assert.match(e.message, /slots\.blue\.commit is "c3c3.*" but live slot blue runs a1a1/);
        await stack.setConfig("slots", { blue: A1, green: B2 });
        // A shared resource changed on disk (here: where host-a's routes go): the engine's preview shows it.
        const standIn = readStandIn("drift");
        standIn.hosts["host-a"].routeFile = `${standIn.hosts["host-a"].routeFile}.moved`;
        writeStandIn("drift", standIn);
        const p = await rejects(release(deps(stack), { release: "v3", pin: () => C3 }), "pending-changes");
        assert.equal(p.message, "refusing to release: the update would also change the live slot blue (update host-a-app-blue-image) and what both slots share " +
            "(update host-a-app-proxy-routes). A release changes only the idle slot; apply other changes first with `npm run up -- --stack drift`. " +
            "Config gpu-hosts:slots.green set back; nothing was deployed");
        assert.deepEqual(YAML.parse(fs.readFileSync(path.join(workDir, "Pulumi.drift.yaml"), "utf8")).config["gpu-hosts:slots"], { blue: A1, green: B2 }, "the pin is put back");
        assert.equal(hosts[0].routes().liveColor, "blue");
        assert.equal(await updates("drift"), 1, "no update ran");
    });

    it("refuses to promote an unhealthy idle slot: no flip, and the message names the check", async () => {
        const { hosts } = await deployed("sick");
        hosts[1].redisDown = "green";
        const stack = await open("sick");
        const e = await rejects(promote(swapDeps(stack, hosts)), "unhealthy");
        assert.match(e.message, /slot green is unhealthy on host host-b \(check "redis"/);
        assert.match(e.message, /live traffic stays on blue, nothing was changed/);
        assert.equal((await readStackConfig(stack)).liveColor, "blue");
        assert.equal(await updates("sick"), 1, "no update ran");
    });

    it("switches back by itself when the live URL does not serve the new slot after the switch, recording nothing", async () => {
        const { hosts } = await deployed("stuck");
        hosts[0].stuckLive = "blue"; // host-a's proxy keeps serving blue on the live port
        const stack = await open("stuck");
        const e = await rejects(promote(swapDeps(stack, hosts)), "rolled-back");
        assert.match(e.message, /the live URL does not serve green on host host-a \(check "slot"/);
        assert.match(e.message, /switched back, live is blue again on every host and nothing was recorded/);
        assert.equal((await readStackConfig(stack)).liveColor, "blue");
        assert.equal((await stack.outputs()).liveColor, "blue");
        assert.deepEqual(hosts.map((h) => h.routes().liveColor), ["blue", "blue"]);
        assert.equal(await updates("stuck"), 1, "the initial up only: the switch was never recorded");
    });

    it("reports a concurrent update from a second process clearly, and puts liveColor back", async () => {
        const { hosts } = await deployed("busy");
        const stack = await open("busy");
        // A second process's `pulumi up`, whose program holds the stack lock until `releaseFile` exists.
        const releaseFile = path.join(tmp, "release-busy");
        const other = cli(["up", "--yes", "--stack", "busy"], { GPU_HOSTS_TEST_HOLD_UNTIL: releaseFile });
        const locks = path.join(tmp, "state", ".pulumi", "locks", "organization", "gpu-hosts", "busy");
        try {
            const deadline = Date.now() + 20_000;
            while (!(fs.existsSync(locks) && fs.readdirSync(locks).length > 0)) {
                assert.ok(Date.now() < deadline, "the second process never took the stack lock");
                await new Promise((r) => setTimeout(r, 50));
            }
            const e = await rejects(promote(swapDeps(stack, hosts)), "concurrent-update");
            assert.match(e.message, /stack busy has another update in progress/);
            assert.match(e.message, /pulumi cancel --stack busy/);
            assert.match(e.message, /switched back, live is blue again on every host and nothing was recorded/);
            assert.equal((await readStackConfig(stack)).liveColor, "blue");
            assert.deepEqual(hosts.map((h) => h.routes().liveColor), ["blue", "blue"], "the hosts the swap switched are switched back");
        } finally {
            fs.writeFileSync(releaseFile, "");
        }
        const r = await other;
        assert.equal(r.code, 0, report(r));
    });

    it("no such stack", async () => {
        const e = await rejects(open("nosuch"), "no-stack");
        assert.match(e.message, /no such stack "nosuch"/);
    });

    it("a stack without the outputs the scripts need (created, never deployed)", async () => {
        await deployed("empty", { up: false });
        const stack = await open("empty");
        const e = await rejects(promote(swapDeps(stack, [])), "missing-output");
        assert.match(e.message, /^stack empty has no output "liveColor", "idleColor", "liveUrl", "idleUrl", "apiUrl", "docsUrl", "healthUrl", "model", "image", "slots", "hosts", "hostImages": /);
    });

    it("--stack local uses the backend `npm run up` uses (<project>/.pulumi/state, empty passphrase), whatever the shell exports", async () => {
        const host = new StandInHost(path.join(tmp, "routes-local.json"));
        hostsToStop.push(host);
        const url = await host.start();
        fs.writeFileSync(path.join(workDir, "Pulumi.local.yaml"), YAML.stringify({ config: { "gpu-hosts:slots": { blue: A1, green: B2 }, "scriptsTest:standIn": { hosts: { local: url } } } }));
        // As `npm run up` does it: created on first use in the project's own backend.
        const created = await openStack({ stackName: "local", workDir, pulumiRoot: engine.root, onOutput: () => undefined, create: true });
        await created.up();
        assert.ok(fs.existsSync(path.join(workDir, ".pulumi", "state", ".pulumi", "stacks", "gpu-hosts", "local.json")));
        // This process exports the suite's shared backend (as an operator's shell may, for the cloud
        // stacks), which has no stack "local": the scripts still find the one `npm run up` made.
        assert.notEqual(process.env.PULUMI_BACKEND_URL, `file://${path.join(workDir, ".pulumi", "state")}`);
        const out = await (await open("local")).outputs();
        assert.equal(out.liveColor, "blue");
        assert.equal(out.liveUrl, url.liveUrl);
    });

    it("recover: a reinstalled server is found by its new machine id, what followed it is dropped, and up builds it again", async () => {
        const { hosts } = await deployed("servers");
        const stack = await open("servers");
        const servers = { s1: { machineId: "a".repeat(32), gone: path.join(tmp, "s1-gone") }, s2: { machineId: "b".repeat(32), gone: path.join(tmp, "s2-gone") } };
        const standIn = readStandIn("servers");
        writeStandIn("servers", { ...standIn, servers });
        await stack.up();
        // s1 is reinstalled: a new machine id, and its old containers gone with the old system.
        fs.writeFileSync(servers.s1.gone, "");
        writeStandIn("servers", { ...standIn, servers: { ...servers, s1: { ...servers.s1, machineId: "c".repeat(32) } } });
        const plainUp = await cli(["up", "--yes", "--skip-preview", "--stack", "servers"]);
        assert.notEqual(plainUp.code, 0, "a plain up deletes the old containers through the new engine first, and fails");
        assert.match(plainUp.output, /Error stopping container s1-app-redis: No such container/);

        const lines: string[] = [];
        const r = await recover({ stack, log: (l) => lines.push(l) });
        assert.deepEqual(r.recovered, ["s1-machine"]);
        assert.equal(r.dropped, 3, "the identity record, the gate and the app resource of s1");
        assert.ok(lines.includes("      s1-machine: REINSTALLED (a new machine id)") && lines.includes("      s2-machine: the same machine"), lines.join("\n"));
        const state = await stack.exportState();
        const ids = Object.fromEntries((state.deployment.resources ?? []).filter((x) => x.type === "command:local:Command").map((x) => [nameOf(x.urn), x.inputs]));
        assert.deepEqual((ids["s1-machine"] as { triggers: string[] }).triggers, ["c".repeat(32)], "built again for the new machine");
        assert.deepEqual(await stack.preview(), [], "and in line with the config afterwards");
        assert.equal(hosts[0].routes().liveColor, "blue", "the other hosts were not touched");
    });

    it("recover: a stack without machines is refused from the state the engine exports", async () => {
        await deployed("novm");
        const stack = await open("novm");
        const e = await rejects(recover({ stack, log: (l) => log.push(l) }), "no-machines");
        assert.match(e.message, /stack novm has no machine to recover/);
        assert.equal(await updates("novm"), 1);
    });
});

/**
 * One host's proxy as the scripts see it: a live port and an idle port, each answering the app's
 * contract (/health, /jobs) from the slot the routes file names, with the release its slot file names
 * (both written by the test program's commands, on a real update only).
 */
class StandInHost {
    /** Slot whose health reports redis down. */
    redisDown?: Color;
    /** Slot the live port keeps serving whatever the routes say (a route change that did not apply). */
    stuckLive?: Color;
    private readonly servers: http.Server[] = [];

    constructor(private readonly routeFile: string) {}

    /** Routes `color` live as a route command run on the host does: the file the stand-in proxy reads. */
    route(color: Color): void {
        fs.writeFileSync(this.routeFile, color);
    }

    /** The live color the last update routed, and each slot's release, from the files the program's commands wrote. */
    routes(): { liveColor: Color; labels: Record<Color, string> } {
        const read = (f: string) => fs.readFileSync(f, "utf8").trim();
        return { liveColor: read(this.routeFile) as Color, labels: { blue: read(`${this.routeFile}.blue`), green: read(`${this.routeFile}.green`) } };
    }

    private handle(port: "live" | "idle", req: http.IncomingMessage, res: http.ServerResponse): void {
        const r = this.routes();
        const routed: Color = port === "live" ? r.liveColor : r.liveColor === "blue" ? "green" : "blue";
        const slot = port === "live" && this.stuckLive ? this.stuckLive : routed;
        const release = r.labels[slot];
        const send = (status: number, body: unknown) => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (req.method === "GET" && req.url === "/health") {
            if (this.redisDown === slot) return send(503, { status: "unhealthy", redis: { ok: false, error: "connection refused" }, ollama: "ok", slot, release });
            return send(200, { status: "healthy", redis: "ok", ollama: "ok", slot, release });
        }
        if (req.method === "POST" && req.url === "/jobs") return send(202, { job_id: `job-${slot}`, status: "pending" });
        if (req.method === "GET" && req.url?.startsWith("/jobs/")) return send(200, { status: "completed", result: {}, processed_by: { slot, release } });
        send(404, { error: "not found" });
    }

    async start(): Promise<{ liveUrl: string; idleUrl: string; routeFile: string }> {
        const urls: string[] = [];
        for (const port of ["live", "idle"] as const) {
            const s = http.createServer((req, res) => {
                req.resume();
                req.on("end", () => this.handle(port, req, res));
            });
            this.servers.push(s);
            await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
            urls.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
        }
        return { liveUrl: urls[0], idleUrl: urls[1], routeFile: this.routeFile };
    }

    async stop(): Promise<void> {
        await Promise.all(this.servers.map((s) => new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
        })));
    }
}
