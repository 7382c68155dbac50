// The ssh host kind end to end: a stack whose one host is an SSH server on the loopback address (a
// real sshd, a non-root user not yet in the docker group, this machine's dockerd as its engine), the
// real Pulumi engine and providers, and the operator's commands, run as an operator runs them. What
// the engine changed is read from the state before and after each step.
// Run with `npm run test:e2e:ssh` (root, Debian: dockerd, sshd, sudo). Prints a table of figures.
import * as assert from "node:assert/strict";
import { X509Certificate, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    Figures, StateDiff, allChanged, buildStandIns, clearLeftovers, describeDiff, diffState, ensureDockerd, exportState, nameOf, projectCopy, run,
} from "./harness";
import { E2E_USER, SshServer, freePort } from "./sshServer";
import { Traffic, seedFlow } from "./traffic";
import Ajv from "ajv";
import type { StatusReport } from "../../scripts/lib/status/types";
import statusSchema = require("../../scripts/lib/status/schema.json");

const STACK = "e2e";
const HOST = "box";
const API_PORT = 9443;
const IDLE_PORT = 9444;
const LIVE = `https://127.0.0.1:${API_PORT}`;
const IDLE = `https://127.0.0.1:${IDLE_PORT}`;

describe("e2e: an SSH host (kind ssh) on the real engine, over a real sshd on loopback", function () {
    this.timeout(20 * 60_000);
    const figures = new Figures();
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-e2e-ssh-logs-"));
    const log = path.join(logDir, "commands.log");
    let stopDocker: () => Promise<void> = async () => {};
    let server: SshServer | undefined;
    let dir = "";
    let env: NodeJS.ProcessEnv = {};
    let ca: string[] = [];
    let apiKey = "";
    const clientKeys = [1, 2, 3, 4].map(() => randomBytes(24).toString("hex"));
    let traffic: Traffic | undefined;

    const npm = (...args: string[]) => run("npm", ["run", "--silent", ...args], { cwd: dir, env, log });
    const pulumi = (args: string[], input?: string) => run(path.join(dir, "node_modules", ".bin", "pulumi"), [...args, "--stack", STACK], { cwd: dir, env, log, input });
    const state = () => exportState(dir, STACK, env);
    const ok = (r: { code: number; output: string }, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.output.slice(-4000)}`);
    const health = async (url: string) => {
        const probe = new Traffic({ url, keys: [], ca });
        try {
            const r = await probe.request("GET", "/health", undefined);
            return "error" in r || r.status !== 200 ? undefined : (r.json as Record<string, unknown>);
        } finally {
            probe.close();
        }
    };
    async function step(args: string[]): Promise<{ code: number; output: string; seconds: number; diff: StateDiff }> {
        const before = await state();
        const r = await npm(...args);
        return { ...r, diff: diffState(before, await state()) };
    }
    const outputs = async () => JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).output);
    const onHost = (n: string) => n === HOST || n.startsWith(`${HOST}-`);
    /** What a reinstall leaves of the stack's Docker objects: nothing (the stand-in base images stay: a real host would pull them again, and nothing can be pulled here). */
    async function wipeHost(): Promise<void> {
        for (const [kind, filter] of [["container", ["ps", "-aq"]], ["network", ["network", "ls", "-q"]], ["volume", ["volume", "ls", "-q"]]] as const) {
            const ids = (await run("docker", [...filter, "--filter", `name=${HOST}-`], { cwd: dir })).output.split("\n").filter(Boolean);
            if (ids.length) ok(await run("docker", [kind, "rm", "-f", ...ids], { cwd: dir }), `docker ${kind} rm`);
        }
    }

    before(async function () {
        console.log(`      logs: ${logDir}`);
        stopDocker = await ensureDockerd(logDir);
        const cleared = clearLeftovers(HOST);
        if (cleared.length) console.log(`      removed the leftovers of an earlier run: ${cleared.join(", ")}`);
        await buildStandIns(logDir);
        server = new SshServer(fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-e2e-sshd-")), await freePort());
        await server.start();
        assert.equal(server.inDockerGroup(), false, "the user starts outside the docker group");
        console.log(`      sshd on 127.0.0.1:${server.port}, user ${E2E_USER}`);
        dir = projectCopy("gpu-hosts-e2e-ssh-");
        env = { PULUMI_BACKEND_URL: `file://${path.join(dir, ".pulumi", "e2e-state")}`, PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" };
        fs.mkdirSync(path.join(dir, ".pulumi", "e2e-state"), { recursive: true });
        // The operator's stack: their own server and key, their own API keys for their clients.
        fs.writeFileSync(path.join(dir, `Pulumi.${STACK}.yaml`), [
            "config:",
            "  gpu-hosts:clouds: [ssh]",
            "  gpu-hosts:ssh:",
            "    hosts:",
            `      - {name: ${HOST}, address: 127.0.0.1, port: ${server.port}, user: ${E2E_USER}, gpu: false}`,
            `  gpu-hosts:apiPort: ${API_PORT}`,
            `  gpu-hosts:idlePort: ${IDLE_PORT}`,
            // The server's firewall opens the idle port to them alone; the e2e's traffic comes over loopback.
            "  gpu-hosts:operatorCidrs: [127.0.0.0/8]",
            "",
        ].join("\n"));
        ok(await pulumi(["stack", "init", "--secrets-provider", "passphrase"]), "stack init");
        ok(await pulumi(["config", "set", "--secret", "gpu-hosts:sshPrivateKey"], server.privateKey), "config set sshPrivateKey");
        ok(await pulumi(["config", "set", "--secret", "gpu-hosts:apiKeys", clientKeys.join(",")]), "config set apiKeys");
    });

    after(async () => {
        await traffic?.stop();
        traffic?.close();
        console.log(`\n${figures.render(`e2e ssh host (kind ssh over 127.0.0.1), ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPU(s)`)}\n`);
        if (dir && fs.existsSync(path.join(dir, ".pulumi", "e2e-state", ".pulumi"))) await npm("destroy", "--", "--stack", STACK);
        await server?.stop();
        await stopDocker();
    });

    it("an up before the key is authorised says so in one line, without a stack trace, before the engine runs (timed); nothing is set up", async () => {
        server!.authorize(false);
        try {
            const r = await npm("up", "--", "--stack", STACK);
            assert.notEqual(r.code, 0, r.output.slice(-3000));
            // The login check before the engine (scripts/lib/logins.ts) names the operator's key by its public half.
            const publicHalf = fs.readFileSync(path.join(server!.dir, "operator_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
            const want = `${HOST}: ${E2E_USER}@127.0.0.1 port ${server!.port} refuses the key in gpu-hosts:sshPrivateKey; ` +
                `authorise its public half (one line, in ~${E2E_USER}/.ssh/authorized_keys on the server), then run again: ${publicHalf}`;
            assert.match(r.output, new RegExp(`^up failed: ${want.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"), "npm run up's own last line");
            assert.doesNotMatch(r.output, /running pulumi up|Updating \(/, "the engine did not run");
            assert.doesNotMatch(r.output, /unhandled exception|^\s+at .*\.(ts|js):\d+/m, "no stack trace");
            assert.equal(server!.inDockerGroup(), false, "nothing ran on the server");
            // Timed, not bounded: on this shared 2-core machine the run's own start (ts-node, the engine) dominates.
            figures.add({ step: "up, key not authorised", seconds: r.seconds, changes: "-", note: "refused in one line before the engine, no stack trace" });
        } finally {
            server!.authorize(true);
        }
    });

    it("npm run up from nothing sets the server up over SSH (the user joins the docker group) and deploys; HTTPS answers", async () => {
        const started = Date.now();
        const r = await step(["up", "--", "--stack", STACK]);
        ok(r, "npm run up");
        const out = await outputs();
        ca = [out.hosts[HOST].caRootCert];
        // The stack's CA from the state (infra/service/pki.ts), made by the real tls provider; health()
        // below trusts it alone, so the live URL's certificate is one it signed.
        const root = new X509Certificate(ca[0]);
        assert.equal(root.ca, true, "caRootCert is a CA certificate");
        assert.match(root.subject, new RegExp(`^O=gpu-hosts\nCN=gpu-hosts ${STACK} CA$`), root.subject);
        assert.equal(out.caRootCert, ca[0], "the stack output is the same CA");
        let h = await health(LIVE);
        while (!h && Date.now() - started < 180_000) {
            await new Promise((res) => setTimeout(res, 500));
            h = await health(LIVE);
        }
        assert.ok(h, "the live URL never turned healthy");
        assert.equal(h.slot, "blue");
        assert.equal(server!.inDockerGroup(), true, "the setup put the user in the docker group");
        const names = allChanged(r.diff).map(nameOf);
        assert.ok(names.includes(`${HOST}-setup`) && names.includes(`${HOST}-machine`), names.join(", "));
        assert.equal(out.hosts[HOST].kind, "ssh");
        assert.equal(out.hosts[HOST].liveUrl, LIVE);
        assert.equal(out.hosts[HOST].machineId, fs.readFileSync(server!.machineIdFile, "utf8").trim());
        assert.equal(out.hosts[HOST].gpu, "none");
        // The server's own /etc/ssh/sshd_config.d (sshServer.ts), so the drop-in is this run's, and reloading sshd was needed.
        assert.ok(fs.readFileSync(server!.hostPath("/etc/ssh/sshd_config.d/10-gpu-hosts.conf"), "utf8").includes("MaxSessions 64"), "the setup's sshd drop-in");
        assert.match(fs.readFileSync(path.join(server!.dir, "sshd.log"), "utf8"), /Received SIGHUP; restarting/, "the setup reloaded this server's sshd through /run/sshd.pid");
        figures.add({ step: "up (from nothing)", seconds: r.seconds, changes: describeDiff(r.diff), note: `healthy after ${((Date.now() - started) / 1000).toFixed(1)} s` });
    });

    it("the seed flow over HTTPS, trusting the output CA: 401 without a key, a job through with it", async () => {
        apiKey = (await npm("key", "--", "--stack", STACK)).output.trim();
        const view = await seedFlow({ url: LIVE, apiKey, ca });
        assert.equal(view.processed_by.slot, "blue");
        traffic = new Traffic({ url: LIVE, keys: clientKeys, rate: 30, ca });
        traffic.start("idle");
    });

    it("a preview and a second up change nothing", async () => {
        traffic!.setPhase("preview + up");
        const p = await npm("preview", "--", "--stack", STACK);
        ok(p, "npm run preview");
        assert.match(p.output, /preview of stack e2e: 0 resource\(s\) would change/);
        const r = await step(["up", "--", "--stack", STACK]);
        ok(r, "npm run up");
        assert.deepEqual(allChanged(r.diff), []);
        figures.add({ step: "preview, then up again", seconds: p.seconds + r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn("preview + up"), failed: traffic!.failedIn("preview + up").length });
        assert.deepEqual(traffic!.failedIn("preview + up"), []);
    });

    it("release --workdir under live traffic changes only the idle slot and fails no live request", async () => {
        traffic!.setPhase("release");
        fs.appendFileSync(path.join(dir, "app", "src", "api.ts"), "\n// a release over SSH\n");
        const r = await step(["release", "--", "--stack", STACK, "--workdir"]);
        ok(r, "npm run release");
        const names = allChanged(r.diff).map(nameOf);
        for (const n of names) assert.match(n, new RegExp(`^${HOST}-app-green(-|$)`), `the release changed ${n}`);
        assert.ok(names.includes(`${HOST}-app-green-api`), names.join(", "));
        const idle = await health(IDLE);
        assert.equal(idle?.slot, "green");
        assert.notEqual(idle?.release, (await health(LIVE))?.release, "the idle slot runs the new snapshot");
        figures.add({ step: "release --workdir", seconds: r.seconds, changes: `${describeDiff(r.diff)} (all green)`, sent: traffic!.sentIn("release"), failed: traffic!.failedIn("release").length });
        assert.deepEqual(traffic!.failedIn("release"), []);
    });

    for (const [cmd, to] of [["promote", "green"], ["rollback", "blue"]] as const) {
        it(`${cmd} under live traffic: one update (the routes), no failed request, live serves ${to}`, async () => {
            traffic!.setPhase(cmd);
            const r = await step([cmd, "--", "--stack", STACK]);
            ok(r, `npm run ${cmd}`);
            assert.deepEqual(allChanged(r.diff).map(nameOf), [`${HOST}-app-proxy-routes`]);
            assert.equal((await health(LIVE))?.slot, to);
            figures.add({ step: cmd, seconds: r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn(cmd), failed: traffic!.failedIn(cmd).length });
            assert.deepEqual(traffic!.failedIn(cmd), []);
        });
    }

    it("every job accepted under traffic completes, processed by the slot that accepted it", async () => {
        await traffic!.stop();
        const c = await traffic!.checkJobs(clientKeys);
        figures.add({ step: "jobs under traffic", seconds: 0, changes: "-", note: `${c.completed}/${c.total} completed, by slot ${JSON.stringify(c.bySlot)}, ${c.crossed} crossed` });
        assert.deepEqual(c.unfinished, []);
        assert.equal(c.crossed, 0);
    });

    it("npm run status reaches the server over its ssh output and the slots over HTTPS: OK, no GPU, no price", async () => {
        const r = await npm("status", "--", "--stack", STACK, "--json");
        const line = r.output.split("\n").find((l) => l.startsWith("{\"schemaVersion\""));
        assert.ok(line, `npm run status printed no report (exit ${r.code}):\n${r.output.slice(-3000)}`);
        const doc = JSON.parse(line) as StatusReport;
        const validate = new Ajv({ allErrors: true, strict: true }).compile<StatusReport>(statusSchema);
        assert.ok(validate(doc), JSON.stringify(validate.errors));
        assert.equal(r.code, 0, `${JSON.stringify(doc.reasons)}\n${r.output.slice(-2000)}`);
        assert.equal(doc.verdict, "OK");
        const [h] = doc.hosts;
        assert.deepEqual([h.name, h.kind, h.reachable, h.market, h.cost], [HOST, "ssh", true, null, null]);
        assert.match(h.ssh ?? "", new RegExp(`-p ${server!.port} ${E2E_USER}@127\\.0\\.0\\.1$`));
        assert.deepEqual(h.slots.map((x) => [x.color, x.role, x.health.ok, x.metrics?.queueDepth]), [["blue", "live", true, 0], ["green", "idle", true, 0]]);
        assert.equal((await health(LIVE))?.release, h.slots[0].label);
        assert.equal(h.containers.length, 8);
        assert.ok(h.containers.every((x) => x.ok), JSON.stringify(h.containers));
        assert.equal(h.gpu.state, "none");
        for (const k of [apiKey, ...clientKeys]) assert.ok(!r.output.includes(k), "npm run status printed an API key");
        figures.add({ step: "status --json", seconds: r.seconds, changes: "-", note: `verdict ${doc.verdict}, collect ${doc.durationMs} ms` });
    });

    it("a reinstalled server (a new /etc/machine-id, new SSH host keys, every container gone): up refuses it in one line, recover brings it back healthy", async () => {
        const oldId = fs.readFileSync(server!.machineIdFile, "utf8").trim();
        const oldKey = server!.hostKey();
        const { machineId: newId, hostKey: newKey } = await server!.reinstall();
        assert.notEqual(newKey, oldKey);
        await wipeHost();
        // Outside recover, a changed host key is refused before anything logs in: by up's login check, before the engine.
        const refused = await step(["up", "--", "--stack", STACK]);
        assert.notEqual(refused.code, 0, refused.output.slice(-3000));
        assert.doesNotMatch(refused.output, /running pulumi up|Updating \(/, "the engine did not run");
        assert.match(refused.output, new RegExp(`^up failed: ${HOST}: ${E2E_USER}@127\\.0\\.0\\.1 port ${server!.port} presents a new SSH host key \\(ssh-ed25519 SHA256:\\S+\\); ` +
            `if the server was reinstalled, run \`npm run recover -- --stack ${STACK}\` \\(it takes a new key only with a new machine id\\), else SSH may be intercepted; nothing was sent to it$`, "m"));
        assert.doesNotMatch(refused.output, /unhandled exception/);
        assert.deepEqual(allChanged(refused.diff), [], "nothing changed");
        figures.add({ step: "reinstall, then up (refused)", seconds: refused.seconds, changes: describeDiff(refused.diff), note: "changed host key, one line" });
        const started = Date.now();
        const r = await step(["recover", "--", "--stack", STACK]);
        ok(r, "npm run recover");
        assert.match(r.output, new RegExp(`${HOST}-machine: REINSTALLED \\(a new machine id, and a new SSH host key ssh-ed25519 SHA256:\\S+, pinned from now on\\)`));
        const keyRecord = [...(await state()).values()].find((x) => nameOf(x.urn) === `${HOST}-host-key`);
        assert.deepEqual((keyRecord?.outputs as { triggers?: unknown } | undefined)?.triggers, [newKey], "the new key is the one in the state");
        assert.match(r.output, new RegExp(`done: rebuilt ${HOST}-machine and everything on it`));
        // The reinstall took every container and volume, but the CA lives in the state: caRootCert is
        // unchanged, and health() still trusts only the root pinned before the reinstall.
        const out = await outputs();
        assert.equal(out.hosts[HOST].caRootCert, ca[0], "the same CA after the reinstall");
        assert.equal(out.caRootCert, ca[0]);
        const h = await health(LIVE);
        assert.equal(h?.status, "healthy");
        assert.equal(out.hosts[HOST].machineId, newId);
        assert.notEqual(newId, oldId);
        const recreated = [...r.diff.created, ...r.diff.replaced].map(nameOf).filter(onHost);
        assert.ok(recreated.includes(`${HOST}-app-redis`) && recreated.includes(`${HOST}-setup`), recreated.join(", "));
        figures.add({ step: "reinstall, then recover", seconds: r.seconds, changes: describeDiff(r.diff), note: `healthy ${((Date.now() - started) / 1000).toFixed(1)} s after recover started` });
        const again = await step(["up", "--", "--stack", STACK]);
        ok(again, "npm run up");
        assert.deepEqual(allChanged(again.diff), [], "after recover, the stack is in line with its config");
    });

    it("npm run destroy removes the stack's containers from the server and keeps the model volume", async () => {
        const r = await step(["destroy", "--", "--stack", STACK]);
        ok(r, "npm run destroy");
        const left = await run("docker", ["ps", "-a", "--filter", `name=^${HOST}-app-`, "--format", "{{.Names}}"], { cwd: dir });
        assert.equal(left.output.trim(), "");
        const volumes = await run("docker", ["volume", "ls", "--format", "{{.Name}}"], { cwd: dir });
        assert.ok(volumes.output.split("\n").includes(`${HOST}-app-ollama-models`), volumes.output);
        assert.ok(r.output.includes(`Remove it with: ssh -i ~/.ssh/gpu-hosts/gpu-hosts-e2e-${HOST} -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-e2e-${HOST}.known_hosts -p ${server!.port} ${E2E_USER}@127.0.0.1 docker volume rm ${HOST}-app-ollama-models`), r.output);
        figures.add({ step: "destroy", seconds: r.seconds, changes: describeDiff(r.diff) });
    });

    it("a server reinstalled and never recovered: npm run destroy succeeds without dialling it, dropping what lived on it", async () => {
        ok(await npm("up", "--", "--stack", STACK), "npm run up (again, from nothing)");
        await server!.reinstall();
        await wipeHost();
        const r = await step(["destroy", "--", "--stack", STACK]);
        ok(r, "npm run destroy");
        assert.match(r.output, new RegExp(`${HOST}: presents a new SSH host key \\(ssh-ed25519 SHA256:\\S+\\), so it is not dialled and is taken as reinstalled`));
        assert.match(r.output, new RegExp(`dropping \\d+ resource\\(s\\) that lived on ${HOST} from the state`));
        assert.equal((await state()).size, 0, "nothing left in the state");
        assert.doesNotMatch(r.output, /Remove it with: ssh/, "no advice to dial a server that is not the one the stack knew");
        figures.add({ step: "reinstall, then destroy", seconds: r.seconds, changes: describeDiff(r.diff), note: "the server is not dialled" });
    });
});
