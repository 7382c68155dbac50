// The operator's own servers (host kind "ssh") through the real index.ts under strict mocks: one
// host per configured server, set up over SSH with the cloud-init setup script, identified by its
// /etc/machine-id (read over SSH; the stub ssh of test/helpers/setup.ts answers here), and the same
// AppStack, proxy, keys, TLS and outputs as a cloud host.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { DOCKER_LOG_ROTATION, READINESS_TIMEOUT_SECONDS } from "../../infra/config/fixed";
import { SshServerHost } from "../../infra/hosts/server";
import { SSH_HOST_DEFAULTS } from "../../infra/config/sections/hosts";
import { StrictMocks } from "../helpers/mocks";
import { TEST_HOME } from "../helpers/setup";
import { setupScript } from "../../infra/shell/setup";
import { readinessScript } from "../../infra/shell/readiness";
import { firewallInstaller } from "../../infra/shell/firewall";
import { isSecretInput, plain, plainStrings, unsecret } from "../helpers/secrets";
import { ProgramRun, changedInputs, runProgram, runProgramFresh, secret } from "../helpers/stack";

export const OPERATOR_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123456789abcdef\n-----END OPENSSH PRIVATE KEY-----\n";
const SERVERS = {
    clouds: ["ssh"],
    ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false }] },
    sshPrivateKey: secret(OPERATOR_SSH_KEY),
};

describe("ssh hosts (the operator's own servers)", () => {
    let run: ProgramRun;
    before(async () => {
        run = await runProgram("dev", SERVERS);
    });

    it("makes one host per server, with the operator's key and no generated one", () => {
        const hosts = run.resources.filter((r) => r.type === "gpu-hosts:hosts:SshServerHost").map((r) => r.name);
        assert.deepStrictEqual(hosts, ["box1", "box2"]);
        assert.deepStrictEqual(run.byType("tls:index/privateKey:PrivateKey").filter((k) => k.inputs.algorithm === "ED25519"), [], "no generated SSH key when the operator gives one");
        assert.ok(!run.resources.some((r) => /^(aws|gcp|azure):/.test(r.type)), "no cloud resource");
        assert.deepStrictEqual(Object.keys(run.outputs.hosts.value), ["box1", "box2"]);
    });

    it("sets each server up over SSH with the cloud-init setup script (GPU parts only where there is a GPU), as root through sudo", () => {
        const s1 = run.get("box1-setup");
        assert.strictEqual(s1.inputs.create, "sudo -n bash -s");
        assert.strictEqual(s1.inputs.stdin, setupScript({ sshUser: "ubuntu", gpu: true, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [] }));
        assert.strictEqual(run.get("box2-setup").inputs.stdin, setupScript({ sshUser: "gpuops", gpu: false, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [] }));
        assert.match(run.get("box2-setup").inputs.stdin, /^readonly GPU=false$/m);
        assert.strictEqual(run.get("box1-ready").inputs.create, readinessScript({ image: "ubuntu:24.04", timeoutSeconds: READINESS_TIMEOUT_SECONDS, gpu: true, cloudInit: false, pullWithLogin: false }));
        assert.strictEqual(run.get("box2-ready").inputs.create, readinessScript({ image: "ubuntu:24.04", timeoutSeconds: READINESS_TIMEOUT_SECONDS, gpu: false, cloudInit: false, pullWithLogin: false }));
        assert.strictEqual(run.get("box1-app-ollama").inputs.gpus, "all");
        assert.strictEqual(run.get("box2-app-ollama").inputs.gpus, undefined, "no GPU asked for on a server without one");
    });

    it("keeps each server's idle port to operatorCidrs (the dev stack's) with the firewall it installs after the setup and before the readiness gate; the live port stays open", () => {
        // Docker's published ports bypass a host firewall such as UFW (docker/for-linux#690): the server has none of the stack's otherwise.
        const f1 = run.get("box1-firewall");
        assert.strictEqual(f1.type, "command:remote:Command");
        assert.strictEqual(f1.inputs.create, "sudo -n bash -s -- install");
        assert.strictEqual(f1.inputs.delete, "sudo -n bash -s -- uninstall");
        assert.strictEqual(f1.inputs.stdin, firewallInstaller({ ports: [{ port: 8001, from: ["203.0.113.0/24"] }] }));
        assert.strictEqual(run.get("box2-firewall").inputs.stdin, f1.inputs.stdin, "the same firewall on a server without a GPU");
        assert.strictEqual(f1.inputs.triggers, undefined, "a changed firewall is updated in place (create runs again), never deleted first");
        assert.strictEqual(f1.options.deleteBeforeReplace, true, "a reinstalled server's old firewall is taken away before the new one is installed at the same address");
        assert.ok(f1.options.dependencies.some((u) => u.endsWith("::box1-setup")), "after the setup, which installs Docker (and DOCKER-USER)");
        assert.ok(run.get("box1-ready").options.dependencies.some((u) => u.endsWith("::box1-firewall")), "in place before the proxy publishes a port");
        assert.match(f1.inputs.stdin, /^readonly PORTS=\(8001\)$/m, "the idle port alone is guarded; the live port (8000) is not");
    });

    it("identifies each server by its machine id: everything on it follows that id, nothing is deleted with a machine", () => {
        const id: string = run.get("box1-machine").inputs.triggers[0];
        assert.match(id, /^[0-9a-f]{32}$/);
        for (const name of ["box1-ssh-gate", "box1-setup", "box1-firewall", "box1-ready", "box1-docker", "box1-app-redis", "box1-app-blue-api", "box1-app-proxy-routes"]) {
            assert.strictEqual(run.get(name).options.replacementTrigger, JSON.stringify(id), name);
            assert.strictEqual(run.get(name).options.deletedWith, "", `${name}: a destroy removes it from the operator's server`);
        }
        assert.ok(run.get("box1-ssh-gate").options.dependencies.some((u) => u.endsWith("::box1-machine")), "everything on the server depends on its identity record");
        assert.notStrictEqual(run.get("box2-machine").inputs.triggers[0], id, "each server has its own");
    });

    it("records the host key each server presents the first time, and every connection requires it", () => {
        for (const [name, address] of [["box1", "203.0.113.10"], ["box2", "[gpu2.example.com]:2222"]] as const) {
            const record = run.get(`${name}-host-key`);
            assert.strictEqual(record.type, "command:local:Command");
            const key: string = record.inputs.triggers[0];
            assert.match(key, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[0-9a-f]{43}$/, "the key the (stub) ssh-keyscan saw");
            // Kept: a later scan never overwrites it (the engine uses the state's value for an ignored input).
            assert.deepStrictEqual(record.options.ignoreChanges, ["triggers"]);
            assert.strictEqual(record.options.replacementTrigger, undefined, "not replaced with the machine: recover rewrites it");
            for (const r of run.byType("command:remote:Command").filter((x) => x.name.startsWith(`${name}-`))) {
                assert.strictEqual(unsecret(r.inputs.connection).hostKey, key, `${r.name} verifies the recorded key`);
            }
            assert.ok(run.get(`${name}-machine`).options.dependencies.some((u) => u.endsWith(`::${name}-host-key`)), "the machine id is read with the recorded key");
            const known = fs.readFileSync(path.join(TEST_HOME, ".ssh", "gpu-hosts", `gpu-hosts-dev-${name}.known_hosts`), "utf8");
            assert.strictEqual(known, `${address} ${key}\n`);
            assert.match(run.get(`${name}-docker`).inputs.sshOpts, /StrictHostKeyChecking=yes/);
        }
    });

    it("reaches each server's engine on its own port and user", () => {
        assert.strictEqual(run.get("box1-docker").inputs.host, "ssh://ubuntu@203.0.113.10");
        assert.strictEqual(run.get("box2-docker").inputs.host, "ssh://gpuops@gpu2.example.com:2222");
    });

    it("serves HTTPS for the server's address from the stack's CA, with the same outputs as a cloud host", () => {
        const h = run.outputs.hosts.value.box2;
        assert.strictEqual(h.kind, "ssh");
        assert.strictEqual(h.liveUrl, "https://gpu2.example.com:8000");
        assert.strictEqual(h.apiUrl, h.liveUrl);
        assert.strictEqual(h.idleHealthUrl, "https://gpu2.example.com:8001/health");
        assert.strictEqual(h.port, 2222);
        assert.strictEqual(h.user, "gpuops");
        assert.match(h.machineId, /^[0-9a-f]{32}$/);
        assert.strictEqual(h.gpu, "none");
        assert.strictEqual(run.outputs.hosts.value.box1.gpu, "Tesla T4", "the GPU the readiness gate saw");
        assert.strictEqual(h.ssh, "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-box2 -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-dev-box2.known_hosts -p 2222 gpuops@gpu2.example.com");
        assert.strictEqual(h.authorizedKey, undefined, "the operator's own key: nothing to authorise");
        assert.match(plain(run.get("box2-app-proxy").inputs.uploads)[0].content, /\ttls \/etc\/caddy\/server.crt \/etc\/caddy\/server.key\n/);
        assert.strictEqual(h.caRootCert, run.get("box2-app-proxy-tls-cert").inputs.caCertPem, "the stack CA");
    });

    it("keeps the operator's private key secret in every input and output", () => {
        const body = OPERATOR_SSH_KEY.split("\n")[1];
        for (const r of run.resources) assert.ok(!plainStrings(r.inputs).some((s) => s.includes(body)), `${r.name} has the key in plain text`);
        assert.ok(isSecretInput(run.get("box1-setup").inputs.connection));
        for (const [k, o] of Object.entries(run.outputs)) assert.ok(!(JSON.stringify(o.value) ?? "").includes(body), `output ${k}`);
    });

    it("uses the stack's generated key when the operator gives none, and outputs the line to authorise", async () => {
        const gen = await runProgram("dev", { ...SERVERS, sshPrivateKey: undefined });
        assert.strictEqual(gen.byType("tls:index/privateKey:PrivateKey").filter((k) => k.inputs.algorithm === "ED25519").length, 1);
        assert.match(gen.outputs.hosts.value.box1.authorizedKey, /^ssh-ed25519 AAAA\S+$/);
    });

    it("a reinstalled server (a new machine id) is deployed afresh: every resource on it follows the new id", async function () {
        // Two runs of the program on freshly loaded modules: ~10 s each here, more on a loaded machine.
        this.timeout(90_000);
        const before = await runProgramFresh("dev", SERVERS);
        const after = await runProgramFresh("dev", SERVERS, { machineGeneration: 1 });
        const onBox1 = before.resources.filter((r) => r.name.startsWith("box1-") && r.options.replacementTrigger !== undefined);
        assert.ok(onBox1.length >= 25, `${onBox1.length} resources follow box1's id`);
        for (const r of onBox1) {
            assert.notStrictEqual(after.get(r.name).options.replacementTrigger, r.options.replacementTrigger, `${r.name} is replaced with the machine`);
            assert.strictEqual(after.get(r.name).options.replacementTrigger, JSON.stringify(after.get("box1-machine").inputs.triggers[0]));
        }
        assert.ok(changedInputs(before, after).includes("command:local:Command::box1-machine"), "the identity record changes, which is what recover looks for");
        assert.strictEqual(after.get("box1-ssh-files").options.replacementTrigger, undefined, "the key files stay");
    });
});

describe("ssh hosts: a host key the operator pins", () => {
    const PRESENTED = (address: string, port: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${require("crypto").createHash("sha256").update(`${address}:${port}:0`).digest("hex").slice(0, 43)}`;

    async function server(hostKey: string): Promise<{ host: SshServerHost; mocks: StrictMocks }> {
        const mocks = new StrictMocks();
        await pulumi.runtime.setMocks(mocks, "gpu-hosts", "dev", false);
        mocks.recordOptions("gpu-hosts", "dev");
        const host = new SshServerHost("box9", {
            server: { ...SSH_HOST_DEFAULTS, name: "box9", address: "203.0.113.9", hostKey },
            privateKey: pulumi.secret(OPERATOR_SSH_KEY), publicKey: "", nvidiaDriverBranch: "570-server", gpuCheckImage: "ubuntu:24.04",
            firewall: { ports: [{ port: 8001, from: ["203.0.113.0/24"] }] }, registryMirrors: [],
        });
        return { host, mocks };
    }
    const value = <T>(o: pulumi.Output<T>): Promise<T> => (o as unknown as { promise(): Promise<T> }).promise();

    it("requires the pinned key: recorded from config (no first use), and every connection trusts it", async () => {
        const pin = PRESENTED("203.0.113.9", 22);
        const { host, mocks } = await server(`${pin} root@box9`);
        assert.match(await value(host.host.machineId), /^[0-9a-f]{32}$/, "read over a connection that trusts the pin");
        await mocks.settle();
        const record = mocks.get("box9-host-key");
        assert.deepStrictEqual(record.inputs.triggers, [pin], "the pin, its comment dropped");
        assert.deepStrictEqual(record.options.ignoreChanges, [], "a pin follows the config");
        assert.strictEqual(unsecret(mocks.get("box9-ready").inputs.connection).hostKey, pin);
    });

    it("refuses a server whose key is not the pinned one, in one line that says what to do, before it logs in", async () => {
        const other = PRESENTED("203.0.113.99", 22);
        const { host } = await server(other);
        await assert.rejects(value(host.host.machineId), (e: Error) => {
            assert.ok(pulumi.ResourceError.isInstance(e) && (e as pulumi.ResourceError).hideStack, "reported without a stack trace");
            assert.doesNotMatch(e.message, /\n/, "one line");
            assert.match(e.message, /^box9: ubuntu@203\.0\.113\.9 port 22 presents SSH host key ssh-ed25519 SHA256:\S+, not the one gpu-hosts:ssh pins \(hostKey\); if the server was reinstalled, set hostKey to its new \/etc\/ssh\/ssh_host_ed25519_key\.pub and run `npm run recover -- --stack dev`; nothing was sent to it$/);
            // npm run up cuts the engine's first error at 400 characters (scripts/lib/stackOps.ts): with this
            // 24-character user@address, a name and an address 80 characters longer still fit.
            assert.ok(e.message.length <= 320, `${e.message.length} characters`);
            // The SDK's "error serializing property" edits do not reach the operator's line.
            e.message = `error serializing property "triggers": ${e.message}`;
            assert.match(e.message, /^box9: /);
            return true;
        });
    });
});
