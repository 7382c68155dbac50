// The local stack end to end, the way an operator runs it: `npm run up` on a fresh copy of the
// project, the real Pulumi engine and providers, a real dockerd with local stand-ins for the pinned
// images (no registry is reachable here), then every operator command under live traffic where
// traffic matters. What the engine changed is read from the state before and after each step.
// Run with `npm run test:e2e` (root, Debian: dockerd, debootstrap). Prints a table of figures.
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    Figures, StateDiff, allChanged, buildStandIns, clearLeftovers, describeDiff, diffState, ensureDockerd, exportState, nameOf, projectCopy, run,
} from "./harness";
import { startKamal } from "./kamal";
import { SwitchWatch } from "./switchWatch";
import { Traffic, seedFlow } from "./traffic";
import Ajv from "ajv";
import type { StatusReport } from "../../scripts/lib/status/types";
import statusSchema = require("../../scripts/lib/status/schema.json");

const STACK = "local";
const LIVE = "http://127.0.0.1:8000";
const IDLE = "http://127.0.0.1:8001";

describe("e2e: the local stack on the real engine and a real dockerd", function () {
    this.timeout(15 * 60_000);
    const figures = new Figures();
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-e2e-local-logs-"));
    const log = path.join(logDir, "commands.log");
    let stopDocker: () => Promise<void> = async () => {};
    let dir = "";
    let env: NodeJS.ProcessEnv = {};
    let apiKey = "";
    /** The operator's own keys (gpu-hosts:apiKeys): the steady traffic's, one rate-limit bucket each. */
    const clientKeys = [1, 2, 3, 4].map(() => randomBytes(24).toString("hex"));
    /**
     * Keys of their own for the key-service step's traffic: the steady traffic's keys may still be
     * near their per-minute rate limit then, and a 429 is not the gap this step measures.
     */
    const rebuildKeys = [1, 2, 3, 4].map(() => randomBytes(24).toString("hex"));
    let traffic: Traffic | undefined;
    /** Jobs of the traffic each slot processed (the drain step), for npm run status's counts. */
    let jobsBySlot: Record<string, number> = {};

    const npm = (...args: string[]) => run("npm", ["run", "--silent", ...args], { cwd: dir, env, log });
    const pulumi = (...args: string[]) => run(path.join(dir, "node_modules", ".bin", "pulumi"), [...args, "--stack", STACK], { cwd: dir, env, log });
    const state = () => exportState(dir, STACK, env);
    const health = async (url: string) => {
        const r = await fetch(`${url}/health`).catch(() => undefined);
        return r && r.status === 200 ? ((await r.json()) as Record<string, unknown>) : undefined;
    };
    /** Runs an operator command, returning its run and what it changed in the state. */
    async function step(args: string[]): Promise<{ code: number; output: string; seconds: number; diff: StateDiff }> {
        const before = await state();
        const r = await npm(...args);
        const diff = diffState(before, await state());
        return { ...r, diff };
    }
    const ok = (r: { code: number; output: string }, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.output.slice(-4000)}`);

    before(async function () {
        console.log(`      logs: ${logDir}`);
        stopDocker = await ensureDockerd(logDir);
        const cleared = clearLeftovers(STACK);
        if (cleared.length) console.log(`      removed the leftovers of an earlier run: ${cleared.join(", ")}`);
        const s = await buildStandIns(logDir);
        console.log(s.output.split("\n").filter((l) => l.startsWith("stand-ins:")).map((l) => `      ${l}`).join("\n"));
        dir = projectCopy("gpu-hosts-e2e-local-");
        env = { PULUMI_BACKEND_URL: `file://${path.join(dir, ".pulumi", "state")}`, PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" };
        console.log(`      project copy: ${dir}`);
    });

    after(async () => {
        await traffic?.stop();
        traffic?.close();
        console.log(`\n${figures.render(`e2e local stack, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPU(s)`)}\n`);
        // Whatever happened, leave no container behind.
        if (dir && fs.existsSync(path.join(dir, ".pulumi", "state"))) await npm("destroy");
        await stopDocker();
    });

    it("npm run up from nothing deploys the stack; the live URL is healthy", async () => {
        const started = Date.now();
        const r = await step(["up"]);
        ok(r, "npm run up");
        let h = await health(LIVE);
        while (!h && Date.now() - started < 120_000) {
            await new Promise((res) => setTimeout(res, 500));
            h = await health(LIVE);
        }
        const toHealthy = (Date.now() - started) / 1000;
        assert.ok(h, "the live URL never turned healthy");
        assert.equal(h.slot, "blue");
        assert.match(String(h.release), /^workdir@[0-9a-f]{12}$/, "a new stack runs a pinned snapshot");
        assert.equal(r.diff.created.length, allChanged(r.diff).length);
        assert.ok(r.diff.created.length >= 35, `created ${r.diff.created.length}`);
        // Both slots are pinned to the same snapshot, written to the stack's config.
        const slots = JSON.parse((await pulumi("config", "get", "gpu-hosts:slots")).output);
        assert.equal(slots.blue.commit, slots.green.commit);
        assert.match(slots.blue.commit, /^[0-9a-f]{40}$/);
        figures.add({ step: "up (from nothing)", seconds: r.seconds, changes: describeDiff(r.diff), note: `healthy after ${toHealthy.toFixed(1)} s` });
    });

    it("the seed flow: 401 without a key, a job through with it, processed by the live slot", async () => {
        apiKey = (await npm("key")).output.trim();
        assert.match(apiKey, /^[A-Za-z0-9]{48}$/);
        const view = await seedFlow({ url: LIVE, apiKey });
        assert.equal(view.processed_by.slot, "blue");
        assert.equal(view.accepted_by.slot, "blue");
    });

    it("the operator adds API keys of their own: the update rewrites the key file and nothing else", async () => {
        ok(await pulumi("config", "set", "--secret", "gpu-hosts:apiKeys", [...clientKeys, ...rebuildKeys].join(",")), "config set apiKeys");
        const r = await step(["up"]);
        ok(r, "npm run up");
        assert.deepEqual(allChanged(r.diff).map(nameOf), ["local-app-proxy-api-keys"]);
        figures.add({ step: "up (apiKeys added)", seconds: r.seconds, changes: describeDiff(r.diff) });
        traffic = new Traffic({ url: LIVE, keys: clientKeys, rate: 30 });
        traffic.start("idle");
    });

    it("a preview and a second up change nothing", async () => {
        traffic!.setPhase("preview + up");
        const p = await npm("preview");
        ok(p, "npm run preview");
        assert.match(p.output, /preview of stack local: 0 resource\(s\) would change/);
        const r = await step(["up"]);
        ok(r, "npm run up");
        assert.deepEqual(allChanged(r.diff), []);
        figures.add({ step: "preview, then up again", seconds: p.seconds + r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn("preview + up"), failed: traffic!.failedIn("preview + up").length });
        assert.deepEqual(traffic!.failedIn("preview + up"), []);
    });

    it("npm run deploy on a stack without cloud hosts is an up: nothing to place, nothing changes", async () => {
        traffic!.setPhase("deploy");
        const r = await step(["deploy", "--", "--stack", STACK]);
        ok(r, "npm run deploy");
        assert.match(r.output, /no cloud host in this stack: nothing to place/);
        assert.match(r.output, /done after 1 up: 0 resource\(s\) changed/);
        assert.deepEqual(allChanged(r.diff), []);
        figures.add({ step: "deploy (no cloud host)", seconds: r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn("deploy"), failed: traffic!.failedIn("deploy").length });
        assert.deepEqual(traffic!.failedIn("deploy"), []);
    });

    it("an edit of the app on disk, then npm run up: nothing changes", async () => {
        traffic!.setPhase("app edit + up");
        fs.appendFileSync(path.join(dir, "app", "src", "api.ts"), "\n// an edit on disk that no slot may pick up by itself\n");
        const r = await step(["up"]);
        ok(r, "npm run up");
        assert.deepEqual(allChanged(r.diff), []);
        figures.add({ step: "app edit, then up", seconds: r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn("app edit + up"), failed: traffic!.failedIn("app edit + up").length });
        assert.deepEqual(traffic!.failedIn("app edit + up"), []);
    });

    it("npm run release --workdir under live traffic changes only the idle slot, fails no live request, and is not starved by a busy key", async () => {
        traffic!.setPhase("release");
        // A client that uses up the generated key's budget (600 a minute): the release's checks use
        // the stack's own ops key, so they must not be starved.
        const burst = new Traffic({ url: LIVE, keys: [apiKey] });
        const statuses: Record<number, number> = {};
        await Promise.all(Array.from({ length: 650 }, () => burst.request("GET", "/jobs/00000000-0000-4000-8000-000000000000", apiKey).then((x) => {
            if (!("error" in x)) statuses[x.status] = (statuses[x.status] ?? 0) + 1;
        })));
        burst.close();
        assert.ok((statuses[429] ?? 0) > 0, `the burst should exhaust the generated key's bucket: ${JSON.stringify(statuses)}`);
        const r = await step(["release", "--", "--stack", STACK, "--workdir"]);
        ok(r, "npm run release");
        const names = allChanged(r.diff).map(nameOf);
        assert.ok(names.length > 0, "the release changed nothing");
        for (const n of names) assert.match(n, /^local-app-green(-|$)/, `the release changed ${n}, outside the idle slot green`);
        assert.ok(names.includes("local-app-green-api") && names.includes("local-app-green-worker"), names.join(", "));
        assert.match(r.output, /none in live blue/);
        const idle = await health(IDLE);
        assert.equal(idle?.slot, "green");
        assert.notEqual(idle?.release, (await health(LIVE))?.release, "the idle slot runs the new snapshot");
        figures.add({ step: "release --workdir", seconds: r.seconds, changes: `${describeDiff(r.diff)} (all green)`, sent: traffic!.sentIn("release"), failed: traffic!.failedIn("release").length, note: `burst on apiKey: ${statuses[429]} x 429` });
        assert.deepEqual(traffic!.failedIn("release"), []);
    });

    /**
     * Switch figures of promote/rollback, for the side-by-side line with kamal-proxy. The targets (switch
     * within 5 s, done within 12 s) are figures this run prints, not timed assertions: a loaded machine
     * would fail them with nothing wrong, an idle one pass them with something wrong.
     */
    const switches: { cmd: string; switchedAfterS?: number; seconds: number; line: string }[] = [];
    for (const [cmd, to] of [["promote", "green"], ["rollback", "blue"]] as const) {
        it(`npm run ${cmd} under live traffic: one update (the routes), no failed request, live serves ${to}; switch and total time measured`, async () => {
            traffic!.setPhase(cmd);
            // Measured from outside, from the moment the command is started (npm and ts-node included).
            const watch = new SwitchWatch(LIVE, to);
            const before = await state();
            watch.start();
            const r0 = await npm(cmd, "--", "--stack", STACK);
            const w = await watch.stop();
            const r = { ...r0, diff: diffState(before, await state()) };
            ok(r, `npm run ${cmd}`);
            assert.deepEqual(r.diff.updated.map(nameOf), ["local-app-proxy-routes"]);
            assert.deepEqual([...r.diff.created, ...r.diff.deleted, ...r.diff.replaced], []);
            assert.equal((await health(LIVE))?.slot, to);
            const own = /switched after ([0-9.]+) s, recorded after ([0-9.]+) s/.exec(r.output);
            const switched = w.switchedAfterS === undefined ? "never" : `${w.switchedAfterS.toFixed(1)} s`;
            switches.push({ cmd, switchedAfterS: w.switchedAfterS, seconds: r.seconds, line: `${cmd}: switch ${switched}, ${w.failed} of ${w.sent} failed` });
            figures.add({
                step: cmd, seconds: r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn(cmd) + w.sent, failed: traffic!.failedIn(cmd).length + w.failed,
                note: `switch seen after ${switched} (script: switched ${own?.[1] ?? "?"} s, recorded ${own?.[2] ?? "?"} s after its own start)`,
            });
            assert.deepEqual(traffic!.failedIn(cmd), []);
            assert.deepEqual(w.failures, []);
            assert.equal(w.backAfterSwitch, 0, "no answer of the old slot after the switch");
            assert.ok(w.switchedAfterS !== undefined, `live traffic never moved to ${to}`);
        });
    }

    it("side by side: kamal-proxy v0.9.2's deploy switching between the same two slots, measured the same way", async () => {
        const kamal = await startKamal({ dir: path.join(logDir, "kamal-proxy"), network: `${STACK}-app-net`, port: 8010, log });
        try {
            // Its first deploy only registers the service on the live slot; then the two switches.
            ok(await kamal.deploy("api-blue:8000", "/health"), "kamal-proxy deploy (blue, first)");
            for (const to of ["green", "blue"] as const) {
                const watch = new SwitchWatch(kamal.url, to);
                watch.start();
                const r = await kamal.deploy(`api-${to}:8000`, "/health");
                const w = await watch.stop();
                ok(r, `kamal-proxy deploy ${to}`);
                const switched = w.switchedAfterS === undefined ? "never" : `${w.switchedAfterS.toFixed(1)} s`;
                figures.add({ step: `kamal-proxy ${kamal.version} deploy -> ${to}`, seconds: r.seconds, changes: "-", sent: w.sent, failed: w.failed,
                    note: `switch seen after ${switched}${w.failures.length ? `; failures: ${w.failures.join(", ")}` : ""}` });
                assert.ok(w.switchedAfterS !== undefined, `kamal-proxy never served ${to}`);
            }
            console.log(`      switch times: ${switches.map((x) => x.line).join("; ")}; kamal-proxy ${kamal.version}: see the figures`);
        } finally {
            await kamal.stop();
        }
    });

    it("every job accepted under traffic completes, processed by the slot that accepted it", async () => {
        traffic!.setPhase("drain");
        await traffic!.stop();
        const c = await traffic!.checkJobs(clientKeys);
        figures.add({ step: "jobs under traffic", seconds: 0, changes: "-", note: `${c.completed}/${c.total} completed, by slot ${JSON.stringify(c.bySlot)}, ${c.crossed} crossed` });
        assert.deepEqual(c.unfinished, []);
        assert.equal(c.crossed, 0);
        assert.ok((c.bySlot.blue ?? 0) > 0 && (c.bySlot.green ?? 0) > 0, JSON.stringify(c.bySlot));
        jobsBySlot = c.bySlot;
    });

    it("npm run status answers for the real stack: slots, releases, containers, queues, no GPU; a stopped live worker is DEGRADED", async () => {
        const validate = new Ajv({ allErrors: true, strict: true }).compile<StatusReport>(statusSchema);
        /** `npm run status -- --stack local --json`, as an operator runs it: its exit code and its one JSON line. */
        const statusJson = async () => {
            const r = await npm("status", "--", "--stack", STACK, "--json");
            const line = r.output.split("\n").find((l) => l.startsWith("{\"schemaVersion\""));
            assert.ok(line, `npm run status printed no report (exit ${r.code}):\n${r.output.slice(-3000)}`);
            const doc = JSON.parse(line) as StatusReport;
            assert.ok(validate(doc), JSON.stringify(validate.errors));
            return { ...r, doc };
        };
        const secrets = [apiKey, ...clientKeys, ...rebuildKeys, (await pulumi("stack", "output", "opsApiKey", "--show-secrets")).output.trim()];
        assert.match(secrets[secrets.length - 1], /^[A-Za-z0-9]{32,}$/, "the stack's ops key");
        const noSecret = (out: string) => secrets.forEach((k) => assert.ok(!out.includes(k), "npm run status printed an API key"));
        const [live, idle] = [await health(LIVE), await health(IDLE)];

        const ok = await statusJson();
        noSecret(ok.output);
        assert.equal(ok.code, 0, ok.output.slice(-3000));
        assert.equal(ok.doc.verdict, "OK", JSON.stringify(ok.doc.reasons));
        assert.deepEqual([ok.doc.liveColor, ok.doc.idleColor], ["blue", "green"]);
        const [h] = ok.doc.hosts;
        assert.deepEqual([ok.doc.hosts.length, h.name, h.kind, h.market, h.cost], [1, "local", "local", null, null]);
        assert.deepEqual(h.slots.map((x) => [x.color, x.role, x.label, x.health.ok]), [["blue", "live", live?.release, true], ["green", "idle", idle?.release, true]]);
        // The e2e's key service is on (apiKeys set): eight containers, every one running and healthy where it has a check.
        // The key service's container is named by the Docker provider: <resource name>-<7 hex>.
        assert.match(h.containers[1]?.name ?? "", /^local-app-proxy-auth-[0-9a-f]{7}$/);
        assert.deepEqual(h.containers.map((x) => [x.name.replace(/^(local-app-proxy-auth)-[0-9a-f]{7}$/, "$1"), x.state, x.ok]), [
            "proxy", "proxy-auth", "redis", "ollama", "blue-api", "blue-worker", "green-api", "green-worker",
        ].map((n) => [`local-app-${n}`, "running", true]));
        // Every job was drained: nothing waits; each slot finished at least the jobs the traffic saw it process.
        for (const x of h.slots) {
            assert.equal(x.metrics?.queueDepth, 0, `${x.color}: ${x.metricsError}`);
            assert.ok((x.metrics?.completed60m ?? 0) >= (jobsBySlot[x.color] ?? 0), `${x.color}: ${x.metrics?.completed60m} < ${jobsBySlot[x.color]}`);
            assert.equal(x.metrics?.breakerOpen, false);
            assert.ok((x.metrics?.workers ?? 0) >= 1);
        }
        assert.deepEqual(h.gpu, { state: "none", note: "nvidia-smi is not installed", devices: [] });

        // The table an operator reads (README: a real one, from this run).
        const table = await npm("status", "--", "--stack", STACK);
        noSecret(table.output);
        assert.equal(table.code, 0, table.output.slice(-3000));
        assert.match(table.output, /^stack local: OK /m);
        console.log(`\n      npm run status -- --stack local (exit ${table.code}, ${table.seconds.toFixed(1)} s):\n${table.output.trimEnd().split("\n").map((l) => `      | ${l}`).join("\n")}\n`);

        // The live slot's worker stops: jobs would wait. DEGRADED, exit code 1; then it runs again.
        const worker = "local-app-blue-worker";
        assert.equal((await run("docker", ["stop", "-t", "30", worker], { cwd: dir, log })).code, 0);
        try {
            const degraded = await statusJson();
            assert.equal(degraded.code, 1, degraded.output.slice(-3000));
            assert.equal(degraded.doc.verdict, "DEGRADED");
            assert.ok(degraded.doc.reasons.some((x) => x.startsWith(`host local: container ${worker} is exited`)), JSON.stringify(degraded.doc.reasons));
            assert.equal(degraded.doc.hosts[0].containers.find((x) => x.name === worker)?.state, "exited");
            figures.add({ step: "status (OK, table, DEGRADED)", seconds: ok.seconds + table.seconds + degraded.seconds, changes: "-",
                note: `${ok.seconds.toFixed(1)} s, ${table.seconds.toFixed(1)} s, ${degraded.seconds.toFixed(1)} s; collect ${ok.doc.durationMs} ms; worker stopped: exit ${degraded.code}` });
        } finally {
            assert.equal((await run("docker", ["start", worker], { cwd: dir, log })).code, 0);
            for (let i = 0; i < 90; i++) {
                const st = await run("docker", ["inspect", "--format", "{{.State.Health.Status}}", worker], { cwd: dir });
                if (st.output.trim() === "healthy") break;
                await new Promise((res) => setTimeout(res, 1000));
            }
        }
    });

    it("an edit of the key service rebuilds exactly the key service, and fails no live request", async () => {
        // The key service is shared by both slots. Its replacement is created (healthy, on the same
        // network alias) before the old one is stopped, and the old one drains (infra/service/proxy.ts,
        // auth/server.js drain): no request may fail.
        const keyTraffic = new Traffic({ url: LIVE, keys: rebuildKeys, rate: 30 });
        keyTraffic.start("auth edit");
        fs.appendFileSync(path.join(dir, "auth", "server.js"), "\n// an edit of the key service\n");
        const r = await step(["up"]);
        await keyTraffic.stop();
        keyTraffic.close();
        ok(r, "npm run up");
        assert.deepEqual(allChanged(r.diff).map(nameOf).sort(),
            ["local-app-proxy-api-keys", "local-app-proxy-auth", "local-app-proxy-auth-image", "local-app-proxy-auth-image-id", "local-app-proxy-auth-image-prune"]);
        const failed = keyTraffic.failedIn("auth edit");
        const kinds = [...new Set(failed.map((f) => f.what.replace(/^(POST|GET) \/jobs\S* -> (\d+).*$/, "$2").replace(/^(POST|GET) \/jobs\S*: /, "")))];
        figures.add({ step: "auth/server.js edit, then up", seconds: r.seconds, changes: describeDiff(r.diff), sent: keyTraffic.sentIn("auth edit"), failed: failed.length, note: kinds.length ? `failures: ${kinds.join(", ")}` : "" });
        assert.deepEqual(failed, []);
    });

    it("npm run recover says a local stack has no machine to recover, and changes nothing", async () => {
        const r = await step(["recover", "--", "--stack", STACK]);
        assert.equal(r.code, 1);
        assert.match(r.output, /recover failed: stack local has no machine to recover/);
        assert.deepEqual(allChanged(r.diff), []);
    });

    it("npm run destroy removes every container and keeps the model volume", async () => {
        const r = await step(["destroy"]);
        ok(r, "npm run destroy");
        const left = await run("docker", ["ps", "-a", "--filter", "name=^local-app-", "--format", "{{.Names}}"], { cwd: dir });
        assert.equal(left.output.trim(), "");
        const volumes = await run("docker", ["volume", "ls", "--format", "{{.Name}}"], { cwd: dir });
        assert.ok(volumes.output.split("\n").includes("local-app-ollama-models"), volumes.output);
        assert.match(r.output, /docker volume rm local-app-ollama-models/);
        figures.add({ step: "destroy", seconds: r.seconds, changes: describeDiff(r.diff) });
    });
});
