// Fleet mode (issue 24) through the real index.ts under the strict mocks: a hub and two worker hosts
// of the operator's own servers. The hub alone serves the endpoint and holds the queue (one proxy,
// one Redis, TLS only, published on fleet.redisPort and guarded by the hub's firewall); each worker
// host runs Ollama and the slots' workers, dialling the hub with rediss:// and the stack's CA, and
// publishes nothing. A stack without `fleet` is unchanged (test/compat/plan-diff.ts: 0 differences).
import * as assert from "assert";
import { firewallInstaller } from "../../infra/shell/firewall";
import { HUB_REDIS_TLS_PORT, REDIS_CA_FILE } from "../../infra/service/fleet";
import { passwordHash } from "../../infra/service/redisConf";
import { isSecretInput, plain } from "../helpers/secrets";
import { ProgramRun, runProgram, secret } from "../helpers/stack";
import { mockCertificate } from "../helpers/tlsMocks";
import { expectedContainers } from "../../scripts/lib/status/containers";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { readDeployed } from "../../scripts/lib/deployed";

const HUB = "203.0.113.10";
const FLEET = {
    clouds: ["ssh"],
    ssh: {
        hosts: [
            { name: "hub", address: HUB, gpu: false },
            { name: "w1", address: "198.51.100.21" },
            { name: "w2", address: "198.51.100.22", port: 2222 },
        ],
    },
    sshPrivateKey: secret("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123456789abcdef\n-----END OPENSSH PRIVATE KEY-----\n"),
    fleet: { hub: "hub", redisCidrs: ["192.0.2.0/28"] },
};

const containers = (run: ProgramRun) => run.resources.filter((r) => r.type === "docker:index/container:Container");
const envOf = (run: ProgramRun, name: string): string[] => plain(run.get(name).inputs.envs);
const env = (run: ProgramRun, name: string, key: string) => envOf(run, name).find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1);

describe("fleet mode: a hub and two worker hosts (own servers)", () => {
    let run: ProgramRun;
    before(async function () {
        this.timeout(120_000);
        run = await runProgram("dev", FLEET);
    });

    it("runs exactly one proxy, one key service, both apis and one Redis, all on the hub; no worker or Ollama on a hub without a GPU", () => {
        const names = containers(run).map((c) => c.name).sort();
        assert.deepStrictEqual(names.filter((n) => n.startsWith("hub-")), [
            "hub-app-blue-api", "hub-app-green-api", "hub-app-proxy", "hub-app-proxy-auth", "hub-app-redis",
        ]);
        for (const w of ["w1", "w2"]) {
            assert.deepStrictEqual(names.filter((n) => n.startsWith(`${w}-`)), [`${w}-app-blue-worker`, `${w}-app-green-worker`, `${w}-app-ollama`], w);
        }
        assert.strictEqual(names.filter((n) => /-redis$/.test(n)).length, 1);
        assert.strictEqual(names.filter((n) => /-proxy$/.test(n)).length, 1);
    });

    it("publishes no port on a worker host, and only the proxy's and Redis's on the hub", () => {
        for (const c of containers(run)) {
            const ports = plain(c.inputs.ports) ?? [];
            if (c.name === "hub-app-redis") assert.deepStrictEqual(ports, [{ internal: HUB_REDIS_TLS_PORT, external: 6380, ip: "0.0.0.0" }]);
            else if (c.name !== "hub-app-proxy") assert.deepStrictEqual(ports, [], c.name);
        }
    });

    it("runs the hub's Redis TLS only, with the ACL users and its certificate from the stack's CA for the hub's address and its alias", () => {
        const redis = run.get("hub-app-redis");
        const uploads: { file: string; content: string; permissions: string }[] = plain(redis.inputs.uploads);
        const conf = uploads.find((u) => u.file.endsWith("redis.conf"))!.content;
        assert.match(conf, /^port 0$/m);
        assert.match(conf, new RegExp(`^tls-port ${HUB_REDIS_TLS_PORT}$`, "m"));
        assert.match(conf, /^user default off resetpass/m);
        assert.match(conf, /^maxmemory-policy noeviction$/m);
        assert.match(conf, /^appendonly yes$/m);
        // The mocks' RandomPassword result (test/helpers/mocks.ts), the same the workers' URLs carry.
        const workerPassword = /^rediss:\/\/worker:([A-Za-z0-9]+)@/.exec(env(run, "w1-app-blue-worker", "REDIS_URL")!)![1];
        assert.match(conf, new RegExp(`^user worker reset on ${passwordHash(workerPassword)} `, "m"), "the worker user's password, as its hash");
        assert.ok(!conf.includes(workerPassword), "never the password itself");
        assert.ok(!/requirepass/.test(conf));
        const cert = mockCertificate(uploads.find((u) => u.file.endsWith("server.crt"))!.content);
        assert.deepStrictEqual([cert.ipAddresses, cert.dnsNames], [[HUB], ["redis"]]);
        assert.strictEqual(uploads.find((u) => u.file.endsWith("ca.crt"))!.content, run.outputs.caRootCert.value);
        assert.ok(isSecretInput(redis.inputs.uploads), "the key is uploaded as a secret");
        // The health check goes through TLS as the api user; no password in argv.
        assert.match(plain(redis.inputs.healthcheck).tests[1], /redis-cli --tls --cacert \S+ -h redis -p 6380 --user api ping/);
    });

    it("points every worker at the hub's Redis with the worker user over TLS, trusting only the stack's CA, and stamps its host", () => {
        for (const w of ["w1", "w2"]) {
            for (const c of ["blue", "green"]) {
                const name = `${w}-app-${c}-worker`;
                assert.match(env(run, name, "REDIS_URL")!, new RegExp(`^rediss://worker:[A-Za-z0-9]{40}@${HUB.replace(/\./g, "\\.")}:6380/0$`), name);
                assert.strictEqual(env(run, name, "REDIS_CA_FILE"), REDIS_CA_FILE);
                assert.strictEqual(env(run, name, "APP_HOST"), w);
                assert.strictEqual(env(run, name, "QUEUE_NAME"), `jobs-${c}`, "slot-scoped queues, as on an island");
                assert.ok(isSecretInput(run.get(name).inputs.envs), `${name}: its env (with the password) stays secret`);
                const ca = plain(run.get(name).inputs.uploads).find((u: { file: string }) => u.file === REDIS_CA_FILE);
                assert.strictEqual(ca.content, run.outputs.caRootCert.value);
            }
        }
        assert.match(env(run, "hub-app-blue-api", "REDIS_URL")!, /^rediss:\/\/api:[A-Za-z0-9]{40}@redis:6380\/0$/, "the api as the api user, on the hub's network");
    });

    it("opens the hub's Redis port, on its own firewall, to the worker hosts' addresses and fleet.redisCidrs only; the worker hosts get none", () => {
        assert.strictEqual(run.get("hub-firewall").inputs.stdin, firewallInstaller({ ports: [
            { port: 8001, from: ["203.0.113.0/24"] },
            { port: 6380, from: ["198.51.100.21/32", "198.51.100.22/32", "192.0.2.0/28"] },
        ] }));
        // A worker host publishes nothing, so it needs no firewall of the stack's.
        for (const w of ["w1", "w2"]) assert.ok(!run.resources.some((r) => r.name === `${w}-firewall`), w);
    });

    it("outputs the hub's URLs as the stack's, each host's role, and the fleet", () => {
        const o = run.outputs;
        assert.strictEqual(o.liveUrl.value, `https://${HUB}:8000`);
        assert.strictEqual(o.idleUrl.value, `https://${HUB}:8001`);
        assert.deepStrictEqual(o.fleet.value, { hub: "hub", redisAddress: HUB, redisPort: 6380 });
        const hosts = o.hosts.value;
        assert.deepStrictEqual(Object.keys(hosts), ["hub", "w1", "w2"]);
        assert.deepStrictEqual(Object.values(hosts).map((h: any) => h.role), ["hub", "worker", "worker"]);
        assert.strictEqual(hosts.w1.liveUrl, o.liveUrl.value, "a worker host's work arrives through the hub");
        assert.strictEqual(hosts.w1.address, "198.51.100.21");
    });

    it("the scripts read it: status expects each host's part, and the checks and route switches go to the hub alone", () => {
        const raw = Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, v.value]));
        const outputs = parseStackOutputs(raw);
        assert.deepStrictEqual(outputs.fleet, { hub: "hub", redisAddress: HUB, redisPort: 6380 });
        for (const [h, part] of [["hub", { role: "hub", workers: false }], ["w1", { role: "worker", workers: true }], ["w2", { role: "worker", workers: true }]] as const) {
            const mine = containers(run).filter((c) => c.name.startsWith(`${h}-app-`)).map((c) => c.name);
            assert.deepStrictEqual(mine.sort(), expectedContainers(h, true, part).sort(), h);
        }
        assert.deepStrictEqual(readDeployed(raw, "dev").hosts.map((h) => h.name), ["hub"]);
    });
});

describe("fleet mode on clouds: prod with hub aws and gcp.count 2", () => {
    let run: ProgramRun;
    const GCP = { project: "gpu-hosts-prod", zone: "us-central1-a", machineType: "g2-standard-8", gpuType: "", count: 2 };
    const HOSTS = ["aws", "gcp", "gcp-2", "azure"];
    before(async function () {
        this.timeout(120_000);
        run = await runProgram("prod", { fleet: { hub: "aws" }, gcp: GCP });
    });

    it("plans exactly one proxy and one Redis, both on the hub, and a worker pair with Ollama on every GPU host (the hub's too)", () => {
        const names = containers(run).map((c) => c.name);
        assert.deepStrictEqual(names.filter((n) => /-redis$|-proxy$/.test(n)).sort(), ["aws-app-proxy", "aws-app-redis"]);
        for (const h of HOSTS) {
            assert.deepStrictEqual(names.filter((n) => n.startsWith(`${h}-app-`) && /-worker$|-ollama$/.test(n)).sort(),
                [`${h}-app-blue-worker`, `${h}-app-green-worker`, `${h}-app-ollama`], h);
        }
        assert.deepStrictEqual(names.filter((n) => /-api$/.test(n)).sort(), ["aws-app-blue-api", "aws-app-green-api"]);
        // The hub's own workers dial Redis on its network, as the worker user.
        assert.match(env(run, "aws-app-blue-worker", "REDIS_URL")!, /^rediss:\/\/worker:[A-Za-z0-9]{40}@redis:6380\/0$/);
        assert.match(env(run, "gcp-2-app-green-worker", "REDIS_URL")!, /^rediss:\/\/worker:[A-Za-z0-9]{40}@[0-9.]+:6380\/0$/);
    });

    it("opens the hub's Redis port only to the worker hosts' addresses (a /32 each), never to apiCidrs; no other host opens it", () => {
        const rules = run.resources.filter((r) => r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" && r.inputs.fromPort === 6380);
        const addresses = HOSTS.filter((h) => h !== "aws").map((h) => `${run.outputs.hosts.value[h].address}/32`);
        assert.deepStrictEqual(rules.map((r) => [r.name, r.inputs.cidrIpv4, r.inputs.toPort]).sort(),
            [["aws-redis-azure", addresses[2], 6380], ["aws-redis-gcp", addresses[0], 6380], ["aws-redis-gcp-2", addresses[1], 6380]]);
        assert.ok(!rules.some((r) => (run.outputs.apiCidrs?.value ?? ["192.0.2.0/24"]).includes(r.inputs.cidrIpv4)));
        const gcpRedis = run.resources.filter((r) => r.type === "gcp:compute/firewall:Firewall" && JSON.stringify(plain(r.inputs.allows)).includes("6380"));
        const azureRedis = run.resources.filter((r) => r.type === "azure-native:network:NetworkSecurityGroup" && JSON.stringify(plain(r.inputs.securityRules)).includes("6380"));
        assert.deepStrictEqual([gcpRedis.length, azureRedis.length], [0, 0], "only the hub opens it");
    });

    it("keeps the hub's Redis data on a disk outside the VM, not replaced or deleted with it, bound into the Redis container", () => {
        const disk = run.resources.find((r) => r.type === "aws:ebs/volume:Volume")!;
        assert.ok(disk, "an EBS volume");
        assert.strictEqual(disk.inputs.size, 20);
        assert.deepStrictEqual([disk.options.replacementTrigger, disk.options.deletedWith], [undefined, ""], "not tied to the VM");
        assert.strictEqual(run.resources.filter((r) => r.type === "aws:ebs/volume:Volume").length, 1, "only the hub has one");
        assert.deepStrictEqual(plain(run.get("aws-app-redis").inputs.volumes), [{ hostPath: "/var/lib/gpu-hosts/data/redis", containerPath: "/data" }]);
        assert.ok(!run.resources.some((r) => r.name === "aws-app-redis-data"), "no Docker volume for it on the hub");
    });

    it("outputs the hub's endpoint as the stack's, and each host's role", () => {
        assert.strictEqual(run.outputs.liveUrl.value, run.outputs.hosts.value.aws.liveUrl);
        assert.deepStrictEqual(Object.entries(run.outputs.hosts.value).map(([n, h]: [string, any]) => [n, h.role]),
            [["aws", "hub"], ["gcp", "worker"], ["gcp-2", "worker"], ["azure", "worker"]]);
    });
});
