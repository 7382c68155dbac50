// Fleet mode end to end (issue 24): a hub and two worker hosts, each an SSH server on the loopback
// address (sshServer.ts: three sshds, one machine), the real Pulumi engine and providers, and the
// operator's commands. The hub serves the one endpoint and holds the queue (Redis, TLS only); the
// worker hosts run Ollama (the stand-in, with a fixed latency per job) and the workers, publish no
// port, and reach the hub's Redis only through its published TLS port at a host address: the gateway
// of a Docker network this test creates, so they share no Docker network with the hub.
// Run with `npm run test:e2e:fleet` (root, Debian: dockerd, sshd, sudo). Prints a table of figures.
//
// How the workers' traffic reaches the hub's Redis here: a container dialling a host address lands on
// Docker's userland proxy (docker-proxy), which connects to the hub's Redis container from the host,
// so the hub's firewall chain (DOCKER-USER -> GPU-HOSTS, rules on DNATed connections) never sees it.
// A real worker host's connection comes in from outside and is DNATed, so the firewall's redisCidrs
// rule is what stands between it and Redis; this run cannot show that rule at work, only that it is
// in place (the security test).
import * as assert from "node:assert/strict";
import { X509Certificate, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CONTAINERS, appStackName, proxyName, slotName } from "../../infra/contract/names";
import {
    Figures, StateDiff, allChanged, buildStandIns, clearLeftovers, describeDiff, diffState, ensureDockerd, exportState, nameOf, projectCopy, run,
} from "./harness";
import { JobDriver, JobRecord, describeCounts, summarize, twice, workLog } from "./jobDriver";
import { E2E_USER, SshServer, freePort, freePorts, operatorKey } from "./sshServer";
import { Traffic, seedFlow } from "./traffic";

const STACK = "e2e-fleet";
const HUB = "hub";
const WORKERS = ["w1", "w2"] as const;
const HOSTS = [HUB, ...WORKERS] as const;
// Not the ssh e2e's 9443/9444: the two runs take the e2e lock, but a leftover of one must not hold the other's port.
const API_PORT = 9543;
const IDLE_PORT = 9544;
const LIVE = `https://127.0.0.1:${API_PORT}`;
const IDLE = `https://127.0.0.1:${IDLE_PORT}`;
/** The Docker network whose gateway is the hub's address for the workers (gpu-hosts:fleet.redisAddress). */
const TEST_NET = "gpu-hosts-e2e-fleet";
/** The stand-in's "GPU" on each worker host: this long per job, this many at once (= gpu-hosts:ollama.numParallel). */
const JOB_MS = 500;
const PARALLEL = 2;
const COLORS = ["blue", "green"] as const;
const workerContainer = (host: string, color: (typeof COLORS)[number]) => CONTAINERS.worker(slotName(appStackName(host), color));
const allWorkers = () => WORKERS.flatMap((h) => COLORS.map((c) => workerContainer(h, c)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A secret output as `pulumi stack export --show-secrets` writes it: an object with the secret
 * signature and `plaintext`, the value's JSON (pulumi/pulumi sdk/go/common/resource/config and
 * apitype: the "4dabf18193072939515e22adeb4ff7b" signature key).
 */
function plainSecret(v: unknown): string {
    if (typeof v === "string") return v;
    const p = (v as { plaintext?: unknown } | null)?.plaintext;
    if (typeof p !== "string") throw new Error("not a secret as the export writes it");
    return JSON.parse(p) as string;
}

describe("e2e: a fleet (a hub and two worker hosts, kind ssh) on the real engine", function () {
    this.timeout(30 * 60_000);
    const figures = new Figures();
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-e2e-fleet-logs-"));
    const log = path.join(logDir, "commands.log");
    let stopDocker: () => Promise<void> = async () => {};
    const servers = new Map<string, SshServer>();
    let dir = "";
    let env: NodeJS.ProcessEnv = {};
    let ca: string[] = [];
    let redisAddress = "";
    let redisPort = 0;
    let madeNet = false;
    const clientKeys = [1, 2, 3, 4].map(() => randomBytes(24).toString("hex"));
    let driver: JobDriver | undefined;
    let traffic: Traffic | undefined;

    const npm = (...args: string[]) => run("npm", ["run", "--silent", ...args], { cwd: dir, env, log });
    const pulumi = (args: string[], input?: string) => run(path.join(dir, "node_modules", ".bin", "pulumi"), [...args, "--stack", STACK], { cwd: dir, env, log, input });
    const docker = (...args: string[]) => run("docker", args, { cwd: os.tmpdir() });
    const state = () => exportState(dir, STACK, env);
    const ok = (r: { code: number; output: string }, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.output.slice(-4000)}`);
    async function step(args: string[]): Promise<{ code: number; output: string; seconds: number; diff: StateDiff }> {
        const before = await state();
        const r = await npm(...args);
        return { ...r, diff: diffState(before, await state()) };
    }
    const outputs = async () => JSON.parse((await pulumi(["stack", "output", "--json", "--show-secrets"])).output);
    const health = async (url: string) => {
        const probe = new Traffic({ url, keys: [], ca });
        try {
            const r = await probe.request("GET", "/health", undefined);
            return "error" in r || r.status !== 200 ? undefined : (r.json as Record<string, unknown>);
        } finally {
            probe.close();
        }
    };
    /** The containers of the stack on `host` (by name: every one starts with its AppStack's name). */
    const containersOn = async (host: string) => (await docker("ps", "-a", "--filter", `name=^${appStackName(host)}-`, "--format", "{{.Names}}")).output.split("\n").filter(Boolean).sort();
    /** Waits until every named container runs and, if it has a health check, is healthy. */
    async function waitHealthy(names: readonly string[], timeoutMs = 120_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const r = await docker("inspect", "-f", "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", ...names);
            const bad = r.output.split("\n").filter(Boolean).filter((l) => !/ running (healthy|none)$/.test(l));
            if (r.code === 0 && bad.length === 0) return;
            if (Date.now() > deadline) assert.fail(`not running and healthy after ${timeoutMs / 1000} s: ${bad.join("; ") || r.output}`);
            await sleep(1000);
        }
    }
    /** Sets the stand-in's latency and parallelism on a worker host (ollama.js reads the file per request). */
    async function setGpu(host: string): Promise<void> {
        const file = JSON.stringify({ delayMs: JOB_MS, parallel: PARALLEL });
        ok(await docker("exec", CONTAINERS.ollama(appStackName(host)), "sh", "-c", `printf '%s' '${file}' > /root/.ollama/stand-in.json`), `stand-in settings on ${host}`);
    }
    /** Submits `n` jobs and follows them until each is done (or `timeoutMs`). */
    async function batch(n: number, timeoutMs = 300_000): Promise<JobRecord[]> {
        const ids = await driver!.submit(n);
        assert.deepEqual(driver!.rejected, [], "every submission was accepted (202)");
        assert.equal(ids.length, n);
        return driver!.settle(ids, timeoutMs);
    }

    before(async function () {
        console.log(`      logs: ${logDir}`);
        stopDocker = await ensureDockerd(logDir);
        for (const h of HOSTS) {
            const cleared = clearLeftovers(h);
            if (cleared.length) console.log(`      removed the leftovers of an earlier run on ${h}: ${cleared.join(", ")}`);
        }
        await buildStandIns(logDir);
        // One operator key on every server: the stack has one gpu-hosts:sshPrivateKey.
        const key = operatorKey(fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-e2e-fleet-key-")));
        const ports = await freePorts(HOSTS.length);
        // One after another: they share one user (sshServer.ts).
        for (const [i, h] of HOSTS.entries()) {
            const s = new SshServer(fs.mkdtempSync(path.join(os.tmpdir(), `gpu-hosts-e2e-sshd-${h}-`)), ports[i], { operatorKeyFile: key });
            await s.start();
            servers.set(h, s);
            console.log(`      ${h}: sshd on 127.0.0.1:${s.port}, machine id ${fs.readFileSync(s.machineIdFile, "utf8").trim()}`);
        }
        // The hub's address for the workers: a host address on a network of the test's own. A leftover
        // of a killed run is reused (it holds nothing); it is removed after the run only if made here.
        if ((await docker("network", "inspect", TEST_NET)).code !== 0) {
            ok(await docker("network", "create", TEST_NET), `docker network create ${TEST_NET}`);
            madeNet = true;
        }
        redisAddress = (await docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", TEST_NET)).output.trim();
        assert.match(redisAddress, /^\d+\.\d+\.\d+\.\d+$/, `the gateway of ${TEST_NET}`);
        redisPort = await freePort();
        dir = projectCopy("gpu-hosts-e2e-fleet-");
        env = { PULUMI_BACKEND_URL: `file://${path.join(dir, ".pulumi", "e2e-state")}`, PULUMI_CONFIG_PASSPHRASE: "", PULUMI_SKIP_UPDATE_CHECK: "true" };
        fs.mkdirSync(path.join(dir, ".pulumi", "e2e-state"), { recursive: true });
        const host = (h: string) => `      - {name: ${h}, address: 127.0.0.1, port: ${servers.get(h)!.port}, user: ${E2E_USER}, gpu: false}`;
        fs.writeFileSync(path.join(dir, `Pulumi.${STACK}.yaml`), [
            "config:",
            "  gpu-hosts:clouds: [ssh]",
            "  gpu-hosts:ssh:",
            "    hosts:",
            ...HOSTS.map(host),
            // Docker's default address pools: every network the worker hosts' containers sit on.
            `  gpu-hosts:fleet: {hub: ${HUB}, redisAddress: ${redisAddress}, redisPort: ${redisPort}, redisCidrs: [172.16.0.0/12, 192.168.0.0/16]}`,
            "  gpu-hosts:tls: {mode: internal}",
            `  gpu-hosts:apiPort: ${API_PORT}`,
            `  gpu-hosts:idlePort: ${IDLE_PORT}`,
            "  gpu-hosts:operatorCidrs: [127.0.0.0/8]",
            // Throughput is measured, not the abuse limit: the driver polls hundreds of jobs a second.
            "  gpu-hosts:limits: {requestsPerMinute: 0, queueMaxDepth: 10000}",
            "  gpu-hosts:workerConcurrency: 2",
            `  gpu-hosts:ollama: {keepAlive: 24h, numParallel: ${PARALLEL}, maxLoadedModels: 1}`,
            "",
        ].join("\n"));
        ok(await pulumi(["stack", "init", "--secrets-provider", "passphrase"]), "stack init");
        ok(await pulumi(["config", "set", "--secret", "gpu-hosts:sshPrivateKey"], servers.get(HUB)!.privateKey), "config set sshPrivateKey");
        ok(await pulumi(["config", "set", "--secret", "gpu-hosts:apiKeys", clientKeys.join(",")]), "config set apiKeys");
    });

    after(async () => {
        driver?.close();
        if (traffic) await traffic.stop();
        console.log(`\n${figures.render(`e2e fleet (hub + 2 worker hosts, kind ssh over 127.0.0.1; stand-in ${JOB_MS} ms x ${PARALLEL} per host), ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPU(s)`)}\n`);
        if (dir && fs.existsSync(path.join(dir, ".pulumi", "e2e-state", ".pulumi"))) await npm("destroy", "--", "--stack", STACK);
        for (const s of servers.values()) await s.stop();
        if (madeNet) await docker("network", "rm", TEST_NET);
        await stopDocker();
    });

    it("1. up from nothing: one endpoint over HTTPS from the stack's CA; the hub runs the proxy, the apis, the key service and Redis, the worker hosts Ollama and the workers", async () => {
        const started = Date.now();
        const r = await step(["up", "--", "--stack", STACK]);
        ok(r, "npm run up");
        const out = await outputs();
        ca = [out.caRootCert];
        assert.equal(new X509Certificate(ca[0]).ca, true, "caRootCert is a CA certificate");
        assert.equal(out.liveUrl, LIVE, "the one endpoint is the hub's");
        assert.deepEqual(out.fleet, { hub: HUB, redisAddress, redisPort });
        assert.deepEqual(HOSTS.map((h) => out.hosts[h]?.role), ["hub", "worker", "worker"]);
        let h = await health(LIVE);
        while (!h && Date.now() - started < 240_000) {
            await sleep(500);
            h = await health(LIVE);
        }
        assert.ok(h, "the live URL never turned healthy");
        assert.equal(h.slot, "blue");
        // What runs where (CONTAINERS, infra/contract/names.ts).
        const hubApp = appStackName(HUB);
        const onHub = await containersOn(HUB);
        for (const c of [CONTAINERS.redis(hubApp), CONTAINERS.proxy(proxyName(hubApp)), ...COLORS.map((c) => CONTAINERS.api(slotName(hubApp, c)))]) {
            assert.ok(onHub.includes(c), `${c} runs on the hub: ${onHub.join(", ")}`);
        }
        assert.ok(onHub.some((c) => c.startsWith(CONTAINERS.auth(proxyName(hubApp)))), `the key service runs on the hub: ${onHub.join(", ")}`);
        assert.ok(!onHub.includes(CONTAINERS.ollama(hubApp)) && !onHub.some((c) => c.endsWith("-worker")), `a hub without a GPU runs no Ollama and no worker: ${onHub.join(", ")}`);
        for (const w of WORKERS) {
            const app = appStackName(w);
            assert.deepEqual(await containersOn(w), [CONTAINERS.ollama(app), ...COLORS.map((c) => workerContainer(w, c))].sort(), `only Ollama and the workers on ${w}`);
            await setGpu(w);
        }
        figures.add({ step: "up (from nothing)", seconds: r.seconds, changes: describeDiff(r.diff), note: `healthy after ${((Date.now() - started) / 1000).toFixed(1)} s` });
    });

    it("1. the seed flow through the one endpoint: 401 without a key, 202 with one, then completed on a worker host", async () => {
        const apiKey = (await npm("key", "--", "--stack", STACK)).output.trim();
        const view = await seedFlow({ url: LIVE, apiKey, ca });
        assert.equal(view.processed_by.slot, "blue");
        assert.ok((WORKERS as readonly string[]).includes(view.processed_by.host), `processed on a worker host: ${JSON.stringify(view.processed_by)}`);
        driver = new JobDriver({ url: LIVE, keys: clientKeys, ca });
    });

    let twoHosts = 0;
    it("2. 300 jobs through the one endpoint: all complete, each worker host runs at least 25%, none twice", async () => {
        const records = await batch(300);
        const s = summarize(records);
        twoHosts = s.steadyThroughput;
        const logs = workLog(allWorkers(), new Set(records.map((r) => r.id)));
        figures.add({ step: "300 jobs, 2 worker hosts", seconds: s.seconds, changes: "-", sent: s.total, failed: s.failed,
            note: `${s.completed} done, by host ${describeCounts(s.byHost)}; ${s.throughput.toFixed(2)} jobs/s (steady ${s.steadyThroughput.toFixed(2)})` });
        assert.deepEqual(s.unfinished, []);
        assert.equal(s.completed, 300);
        for (const w of WORKERS) assert.ok((s.byHost[w] ?? 0) >= 75, `${w} ran ${s.byHost[w] ?? 0} of 300 (at least 75 wanted): ${describeCounts(s.byHost)}`);
        assert.equal(s.crossed, 0, "each job ran in the slot that accepted it");
        assert.deepEqual(twice(logs.completed), []);
        assert.deepEqual(twice(logs.analysed), []);
    });

    it("2. with one worker host's workers stopped, throughput is at most 1/1.7 of two hosts'", async () => {
        const [kept, stopped] = WORKERS;
        const theirs = COLORS.map((c) => workerContainer(stopped, c));
        ok(await docker("stop", ...theirs), `docker stop ${theirs.join(" ")}`);
        try {
            // Half the jobs: the same time at half the rate, so ramp-up and tail weigh the same in both runs.
            const s = summarize(await batch(150));
            const ratio = twoHosts / s.steadyThroughput;
            figures.add({ step: `150 jobs, 1 worker host (${stopped}'s stopped)`, seconds: s.seconds, changes: "-", sent: s.total, failed: s.failed,
                note: `${s.throughput.toFixed(2)} jobs/s (steady ${s.steadyThroughput.toFixed(2)}); 2 hosts / 1 = ${ratio.toFixed(2)}` });
            assert.equal(s.completed, 150);
            assert.deepEqual(Object.keys(s.byHost), [kept], "only the running host's workers took jobs");
            assert.ok(ratio >= 1.7, `two worker hosts ran ${twoHosts.toFixed(2)} jobs/s, one ${s.steadyThroughput.toFixed(2)}: ${ratio.toFixed(2)}x, at least 1.7x wanted`);
        } finally {
            ok(await docker("start", ...theirs), `docker start ${theirs.join(" ")}`);
            await waitHealthy(theirs);
        }
    });

    it("3. docker kill of a worker while jobs run: 0 lost, 0 failed, all done within 60 s of the kill, none twice", async () => {
        const victim = workerContainer(WORKERS[0], "blue");
        // 120 jobs: ~30 s on the other host alone (4 jobs/s) if the victim does not come back, so the
        // 60 s bound measures the recovery of its jobs (lock expiry + the stalled check, ~25 s), not capacity.
        const ids = await driver!.submit(120);
        assert.equal(ids.length, 120);
        // Once the victim holds jobs (the stand-in's active generations on its host).
        const stats = async () => JSON.parse((await docker("exec", CONTAINERS.ollama(appStackName(WORKERS[0])), "node", "-e",
            "fetch('http://127.0.0.1:11434/api/stand-in/stats').then(r=>r.text()).then(console.log)")).output || "{}");
        for (let i = 0; i < 50 && !((await stats()).active > 0); i++) await sleep(200);
        ok(await docker("kill", victim), `docker kill ${victim}`);
        const killedAt = Date.now();
        const records = await driver!.settle(ids, 120_000);
        const s = summarize(records);
        const after = s.lastFinishedAt === null ? Infinity : (s.lastFinishedAt - killedAt) / 1000;
        const logs = workLog(allWorkers(), new Set(ids));
        figures.add({ step: `docker kill ${victim} under 120 jobs`, seconds: s.seconds, changes: "-", sent: s.total, failed: s.failed,
            note: `${s.completed} done, the last ${after.toFixed(1)} s after the kill; by host ${describeCounts(s.byHost)}; ` +
                `done twice ${twice(logs.completed).length}, answered twice ${twice(logs.analysed).length}` });
        assert.deepEqual(s.unfinished, [], "0 lost");
        assert.equal(s.failed, 0, "0 failed");
        assert.ok(after <= 60, `the last job was done ${after.toFixed(1)} s after the kill (60 s at most)`);
        assert.deepEqual(twice(logs.completed), [], "no job completed twice");
        // A job the victim had an answer for in the moment before the kill is answered again elsewhere:
        // the window is the time between Ollama's answer and BullMQ's move to completed (milliseconds),
        // so a duplicate here means a lock expired under a live worker: that is what this catches.
        assert.deepEqual(twice(logs.analysed), [], "no job ran to an answer twice");
        if ((await docker("inspect", "-f", "{{.State.Running}}", victim)).output.trim() !== "true") ok(await docker("start", victim), `docker start ${victim}`);
        await waitHealthy([victim]);
    });

    it("4. a worker host lost under jobs (a new machine id and host key, its containers and volumes gone): 0 lost, the rest run on the other host; npm run recover brings it back and it takes jobs again", async () => {
        const lost = WORKERS[1];
        const [kept] = WORKERS;
        const ids = await driver!.submit(80);
        assert.equal(ids.length, 80);
        // Once the lost host's workers hold jobs (its stand-in's active generations).
        const stats = async () => JSON.parse((await docker("exec", CONTAINERS.ollama(appStackName(lost)), "node", "-e",
            "fetch('http://127.0.0.1:11434/api/stand-in/stats').then(r=>r.text()).then(console.log)")).output || "{}");
        for (let i = 0; i < 50 && !((await stats()).active > 0); i++) await sleep(200);
        const oldId = (await outputs()).hosts[lost].machineId;
        const { machineId: newId } = await servers.get(lost)!.reinstall();
        // What a lost machine leaves of the stack's Docker objects: nothing (the stand-in base images
        // stay: a real host would pull them again, and nothing can be pulled here).
        for (const [kind, list] of [["container", ["ps", "-aq"]], ["network", ["network", "ls", "-q"]], ["volume", ["volume", "ls", "-q"]]] as const) {
            const found = (await docker(...list, "--filter", `name=${appStackName(lost)}-`)).output.split("\n").filter(Boolean);
            if (found.length) ok(await docker(kind, "rm", "-f", ...found), `docker ${kind} rm on ${lost}`);
        }
        const lostAt = Date.now();
        const s = summarize(await driver!.settle(ids, 180_000));
        const after = s.lastFinishedAt === null ? Infinity : (s.lastFinishedAt - lostAt) / 1000;
        assert.deepEqual(s.unfinished, [], "0 lost: every job waited or ran on the other host");
        assert.equal(s.failed, 0);
        assert.equal(s.crossed, 0);

        const started = Date.now();
        const r = await step(["recover", "--", "--stack", STACK]);
        ok(r, "npm run recover");
        assert.match(r.output, new RegExp(`${lost}-machine: REINSTALLED \\(a new machine id, and a new SSH host key ssh-ed25519 SHA256:\\S+, pinned from now on\\)`));
        assert.match(r.output, new RegExp(`done: rebuilt ${lost}-machine and everything on it`));
        const out = await outputs();
        assert.deepEqual([out.hosts[lost].machineId === newId, newId !== oldId], [true, true]);
        // Only the lost host was rebuilt: the hub (its Redis and routes) and the other worker host stay.
        const touched = allChanged(r.diff).map(nameOf);
        assert.deepEqual(touched.filter((n) => n.startsWith(`${HUB}-`) || n.startsWith(`${kept}-`)), [], touched.join(", "));
        assert.deepEqual(out.caRootCert, ca[0], "the CA is the stack's, unchanged");
        await waitHealthy(COLORS.map((c) => workerContainer(lost, c)));
        await setGpu(lost);
        const rejoined = summarize(await batch(60));
        figures.add({ step: `${lost} lost under 80 jobs, then recover`, seconds: r.seconds, changes: describeDiff(r.diff), sent: s.total + rejoined.total, failed: s.failed + rejoined.failed,
            note: `80 done meanwhile (by host ${describeCounts(s.byHost)}, the last ${after.toFixed(1)} s after the loss); rejoined in ${((Date.now() - started) / 1000).toFixed(1)} s: 60 more by host ${describeCounts(rejoined.byHost)}` });
        assert.equal(rejoined.completed, 60);
        assert.ok((rejoined.byHost[lost] ?? 0) > 0, `the recovered host takes jobs again: ${describeCounts(rejoined.byHost)}`);
    });

    it("5. release --workdir under live traffic builds the idle slot on every host (its api on the hub, its worker on each worker host) and fails no request", async () => {
        traffic = new Traffic({ url: LIVE, keys: clientKeys, rate: 20, ca });
        traffic.start("release");
        fs.appendFileSync(path.join(dir, "app", "src", "api.ts"), "\n// a release across the fleet\n");
        const r = await step(["release", "--", "--stack", STACK, "--workdir"]);
        ok(r, "npm run release");
        const names = allChanged(r.diff).map(nameOf);
        for (const n of names) assert.match(n, new RegExp(`^(${HOSTS.join("|")})-app-green(-|$)`), `the release changed ${n}`);
        for (const n of [`${HUB}-app-green-api`, ...WORKERS.map((w) => workerContainer(w, "green"))]) assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
        const idle = await health(IDLE);
        assert.equal(idle?.slot, "green");
        assert.notEqual(idle?.release, (await health(LIVE))?.release, "the idle slot runs the new snapshot");
        figures.add({ step: "release --workdir", seconds: r.seconds, changes: `${describeDiff(r.diff)} (all green)`, sent: traffic.sentIn("release"), failed: traffic.failedIn("release").length });
        assert.deepEqual(traffic.failedIn("release"), []);
    });

    for (const [cmd, to] of [["promote", "green"], ["rollback", "blue"]] as const) {
        it(`5. ${cmd} under live traffic: one update, the hub's routes; no failed request; live serves ${to}`, async () => {
            traffic!.setPhase(cmd);
            const r = await step([cmd, "--", "--stack", STACK]);
            ok(r, `npm run ${cmd}`);
            assert.deepEqual(allChanged(r.diff).map(nameOf), [`${HUB}-app-proxy-routes`]);
            assert.equal((await health(LIVE))?.slot, to);
            figures.add({ step: cmd, seconds: r.seconds, changes: describeDiff(r.diff), sent: traffic!.sentIn(cmd), failed: traffic!.failedIn(cmd).length });
            assert.deepEqual(traffic!.failedIn(cmd), []);
        });
    }

    it("5. every job accepted under that traffic completes, in the slot that accepted it", async () => {
        await traffic!.stop();
        const c = await traffic!.checkJobs(clientKeys);
        figures.add({ step: "jobs under traffic", seconds: 0, changes: "-", note: `${c.completed}/${c.total} completed, by slot ${JSON.stringify(c.bySlot)}, ${c.crossed} crossed` });
        assert.deepEqual(c.unfinished, []);
        assert.equal(c.crossed, 0);
    });

    it("6. security: the hub's Redis refuses plaintext; the worker user gets NOPERM for FLUSHALL, CONFIG and a key outside its prefix; no worker host publishes a port", async () => {
        // Plaintext: no TLS handshake, no answer (the server's port is TLS only).
        const plain = await run("redis-cli", ["-h", redisAddress, "-p", String(redisPort), "PING"], { cwd: os.tmpdir() });
        assert.doesNotMatch(plain.output, /PONG|NOAUTH|NOPERM/, `a plaintext PING got an answer: ${plain.output}`);
        // The worker's password from the state (a RandomPassword per role under the hub), given to
        // redis-cli in its environment, never in argv.
        const st = await state();
        const pw = [...st.values()].find((x) => x.type === "random:index/randomPassword:RandomPassword" && nameOf(x.urn) === "fleet-queue-worker-password");
        assert.ok(pw, `a worker password under the hub in the state: ${[...st.values()].filter((x) => x.type.startsWith("random:")).map((x) => nameOf(x.urn)).join(", ")}`);
        const caFile = path.join(logDir, "ca.pem");
        fs.writeFileSync(caFile, ca[0]);
        const asWorker = (...cmd: string[]) => run("redis-cli", ["--tls", "--cacert", caFile, "-h", redisAddress, "-p", String(redisPort), "--user", "worker", "--no-auth-warning", ...cmd],
            { cwd: os.tmpdir(), env: { REDISCLI_AUTH: plainSecret((pw.outputs as { result: unknown }).result) } });
        const ping = await asWorker("PING");
        assert.match(ping.output, /PONG/, `the worker user itself is let in over TLS: ${ping.output}`);
        for (const cmd of [["FLUSHALL"], ["CONFIG", "GET", "maxmemory"], ["GET", "outside-the-prefix"]]) {
            const r = await asWorker(...cmd);
            assert.match(r.output, /NOPERM/, `${cmd.join(" ")} as worker: ${r.output}`);
        }
        // Published ports (HostConfig bindings), not the image's EXPOSEd ones.
        for (const w of WORKERS) {
            for (const c of await containersOn(w)) {
                const ports = JSON.parse((await docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", c)).output || "{}") ?? {};
                const published = Object.entries(ports).filter(([, b]) => Array.isArray(b) && b.length > 0).map(([p]) => p);
                assert.deepEqual(published, [], `${c} on worker host ${w} publishes ${published.join(", ")}`);
            }
        }
        // One kernel's iptables for three "servers" (sshServer.ts): only the hub guards ports, so only
        // the hub installs the firewall chain; a worker host's would flush the hub's rules.
        const names = [...st.values()].map((x) => nameOf(x.urn));
        assert.deepEqual(names.filter((n) => n.endsWith("-firewall")), [`${HUB}-firewall`], "only the hub has a firewall");
        const chain = (await run("iptables", ["-w", "10", "-S", "GPU-HOSTS"], { cwd: os.tmpdir() })).output;
        // The idle port and the Redis port are guarded; the live port is open to all by design. The
        // worker hosts' addresses (127.0.0.1) are no firewall source, so the Redis port's sources are
        // fleet.redisCidrs alone (infra/inventory.ts redisSources).
        for (const p of [IDLE_PORT, redisPort]) assert.match(chain, new RegExp(`--ctorigdstport ${p} .*-j DROP`), `GPU-HOSTS guards port ${p}:\n${chain}`);
        assert.doesNotMatch(chain, new RegExp(`--ctorigdstport ${API_PORT} `), `the live port stays open:\n${chain}`);
        const redisFrom = chain.split("\n").filter((l) => l.includes(`--ctorigdstport ${redisPort} `) && l.endsWith("-j RETURN")).map((l) => /-s (\S+)/.exec(l)?.[1]);
        assert.deepEqual(redisFrom, ["172.16.0.0/12", "192.168.0.0/16"], `the Redis port's sources:\n${chain}`);
        figures.add({ step: "security", seconds: 0, changes: "-", note: "plaintext refused; worker NOPERM x3; worker hosts publish nothing" });
    });

    // TODO(issue 24, step 7): the hub replaced: servers.get(HUB)!.reinstall() (a new machine id), its
    // containers removed but its Redis volume (`${appStackName(HUB)}-redis-...`) kept, with jobs waiting;
    // `npm run recover`; the jobs accepted before are still there and complete, and caRootCert is unchanged.

    it("8. npm run destroy removes the stack's containers from every host", async () => {
        const r = await step(["destroy", "--", "--stack", STACK]);
        ok(r, "npm run destroy");
        for (const h of HOSTS) {
            const left = (await containersOn(h)).filter((c) => c.startsWith(`${appStackName(h)}-`));
            assert.deepEqual(left, [], `left on ${h}`);
        }
        assert.deepEqual(allChanged(r.diff).filter((u) => !r.diff.deleted.includes(u)), [], "destroy only deletes");
        figures.add({ step: "destroy", seconds: r.seconds, changes: describeDiff(r.diff) });
    });
});
