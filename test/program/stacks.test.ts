// dev and prod through the real index.ts with their real YAML: a host plus an AppStack per cloud,
// containers on each host's own engine, per-host outputs, secrets, and blue-green diffs.
import * as assert from "assert";
import { isSecretInput, plainStrings } from "../helpers/secrets";
import { ProgramRun, changedInputs, runProgram, runProgramFresh } from "../helpers/stack";

const CLOUDS = ["aws", "gcp", "azure"];

for (const stack of ["dev", "prod"]) {
    describe(`${stack} stack`, () => {
        let run: ProgramRun;
        before(async () => { run = await runProgram(stack); });

        it("creates one host and one app stack per enabled cloud", () => {
            const components = run.resources.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`);
            for (const c of CLOUDS) {
                assert.ok(components.some((x) => x.endsWith(`GpuHost ${c}`)), `${c} host`);
                assert.ok(components.includes(`gpu-hosts:app:AppStack ${c}-app`), `${c} app stack`);
            }
            assert.ok(!components.some((x) => x.includes("LocalHost")), "no local host in a cloud stack");
        });

        it("runs each host's containers through that host's own ssh:// Docker provider", () => {
            const providers = run.byType("pulumi:providers:docker");
            assert.deepStrictEqual(providers.map((p) => p.name).sort(), CLOUDS.map((c) => `${c}-docker`).sort());
            for (const p of providers) assert.match(p.inputs.host, /^ssh:\/\/ubuntu@198\.51\.100\.\d+$/, p.name);
            for (const c of run.byType("docker:index/container:Container")) {
                const cloud = c.name.split("-")[0];
                assert.ok(c.provider?.includes(`::${cloud}-docker::`), `${c.name} uses ${cloud}-docker, got ${c.provider}`);
            }
        });

        it("gives ollama the GPU on every cloud host, and nothing else", () => {
            for (const c of run.byType("docker:index/container:Container")) {
                assert.strictEqual(c.inputs.gpus, c.name.endsWith("-ollama") ? "all" : undefined, c.name);
            }
        });

        it("publishes only the proxy on each host, on all interfaces (the cloud firewall decides who reaches it)", () => {
            const published = run.byType("docker:index/container:Container").filter((c) => (c.inputs.ports ?? []).length > 0);
            assert.deepStrictEqual(published.map((c) => c.name).sort(), CLOUDS.map((c) => `${c}-app-proxy`).sort());
            for (const p of published) assert.deepStrictEqual(p.inputs.ports.map((x: any) => [x.ip, x.external]), [["0.0.0.0", 8000], ["0.0.0.0", 8001]]);
        });

        it("exports per host: cloud, region/zone, instance type, GPU, spot, address, ssh command and URLs", () => {
            const hosts = run.outputs.hosts.value;
            assert.deepStrictEqual(Object.keys(hosts), CLOUDS);
            for (const c of CLOUDS) {
                const h = hosts[c];
                assert.strictEqual(h.kind, c);
                assert.strictEqual(h.spot, stack === "dev");
                assert.match(h.gpu, /^NVIDIA (T4|L4|A10G)$/);
                assert.ok(h.region && h.zone && h.instanceType, `${c} region/zone/instance type`);
                assert.match(h.address, /^198\.51\.100\.\d+$/);
                assert.match(h.ssh, new RegExp(`^ssh -i ~/\\.ssh/gpu-hosts/gpu-hosts-${stack}-${c} .* ubuntu@${h.address.replace(/\./g, "\\.")}$`));
                // HTTPS by default on cloud hosts, with a certificate from the host's own CA for its IP.
                assert.strictEqual(h.liveUrl, `https://${h.address}:8000`);
                assert.strictEqual(h.idleUrl, `https://${h.address}:8001`);
                assert.strictEqual(h.healthUrl, `https://${h.address}:8000/health`);
                assert.strictEqual(h.docsUrl, `https://${h.address}:8000/docs`);
            }
            assert.strictEqual(run.outputs.liveUrl.value, hosts.aws.liveUrl, "the top-level URLs are the first host's");
        });

        it("keeps the SSH private key and the Redis passwords secret everywhere", () => {
            // The stack's SSH key; its PKI's keys are ECDSA (test/program/pki.test.ts).
            const key = run.get("ssh-key");
            assert.strictEqual(key.inputs.algorithm, "ED25519");
            const passwords = run.byType("random:index/randomPassword:RandomPassword").map((p) => p.name).sort();
            assert.deepStrictEqual(passwords, ["api-keys-generated", "api-keys-ops", ...CLOUDS.map((c) => `${c}-app-redis-password`)].sort(), "one Redis password per host; a client key and the scripts' key per stack");
            for (const c of CLOUDS) {
                for (const name of [`${c}-app-redis`, `${c}-app-blue-api`, `${c}-app-green-worker`]) {
                    assert.ok(isSecretInput(run.get(name).inputs.envs), `${name} envs (REDISCLI_AUTH / REDIS_URL) are secret`);
                }
            }
            const outputs = JSON.stringify(Object.values(run.outputs).map((o) => o.value));
            assert.ok(!outputs.includes("PRIVATE KEY"), "no private key in the outputs");
            for (const r of run.resources) {
                assert.ok(!plainStrings(r.inputs).some((s) => s.includes("PRIVATE KEY")), `${r.name} has a private key in plain text`);
            }
        });

        it("swapping liveColor replaces nothing but each host's proxy routes", async () => {
            const swapped = await runProgram(stack, { liveColor: "green" });
            assert.deepStrictEqual(changedInputs(run, swapped), CLOUDS.map((c) => `command:remote:Command::${c}-app-proxy-routes`).sort());
            assert.strictEqual(swapped.outputs.liveColor.value, "green");
            for (const c of CLOUDS) assert.strictEqual(swapped.outputs.hosts.value[c].liveColor, "green");
        });

        it("the same config twice gives identical inputs", async () => {
            assert.deepStrictEqual(changedInputs(run, await runProgramFresh(stack)), []);
        });
    });
}
