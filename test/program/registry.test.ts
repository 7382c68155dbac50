// gpu-hosts:registry through the real index.ts under strict mocks: where a Docker Hub login and
// mirrors reach (every host's Docker provider, the readiness gate, the builds' base images, the
// setup's daemon.json on the hosts it manages, not the local engine), that the password stays a
// secret everywhere, and that a stack without them plans exactly what it did before.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { DOCKER_LOG_ROTATION, READINESS_TIMEOUT_SECONDS } from "../../infra/config/fixed";
import { DOCKER_HUB_HOSTS } from "../../infra/hosts/registry";
import { readinessScript } from "../../infra/shell/readiness";
import { setupScript } from "../../infra/shell/setup";
import { SETUP_SCRIPT_PATH } from "../../cloud-init/render";
import { isSecretInput, plain, plainStrings, unsecret } from "../helpers/secrets";
import { ProgramRun, ROOT, changedInputs, runProgram, runProgramFresh, secret } from "../helpers/stack";

const TOKEN = "dckr_pat_registry-test-Secret_0123";
const LOGIN = { registry: { username: "gpuops", mirrors: [] }, registryPassword: secret(TOKEN) };
const MIRRORS = ["https://mirror.gcr.io", "http://10.0.0.5:5000"];
const BOTH = { registry: { username: "gpuops", mirrors: MIRRORS }, registryPassword: secret(TOKEN) };
const SERVERS = { clouds: ["ssh"], ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com", gpu: false }] } };
const NODE_IMAGE = /^ARG NODE_IMAGE=(\S+)$/m.exec(fs.readFileSync(path.join(ROOT, "app", "Dockerfile"), "utf8"))![1];

/** The provider's registryAuth blocks, checking on the way that the whole value is a secret. */
function registryAuthOf(run: ProgramRun, provider: string): { address: string; username: string; password: string }[] {
    const input = run.get(provider).inputs.registryAuth;
    assert.ok(isSecretInput(input), `${provider}'s registryAuth is a secret`);
    return JSON.parse(unsecret(input));
}

/** Nothing the engine would store or show in plain text holds the password: no input outside a secret, no output. */
function assertPasswordHidden(run: ProgramRun): void {
    const encoded = Buffer.from(`gpuops:${TOKEN}`).toString("base64");
    for (const r of run.resources) {
        const plain = plainStrings(r.inputs);
        assert.ok(!plain.some((s) => s.includes(TOKEN) || s.includes(encoded)), `${r.name} holds the password in plain text`);
    }
    const outputs = JSON.stringify(Object.values(run.outputs).map((o) => o.value));
    assert.ok(!outputs.includes(TOKEN) && !outputs.includes(encoded), "no output holds the password");
}

describe("gpu-hosts:registry (Docker Hub mirrors and login)", function () {
    // Each run of a cloud stack is several seconds on this shared 2-core machine; the comparisons run two.
    this.timeout(180_000);
    describe("the local stack with a Docker Hub login", () => {
        let run: ProgramRun;
        before(async () => {
            run = await runProgram("local", LOGIN);
        });

        it("gives the local engine's provider the login, under every name the provider files a Docker Hub pull by", () => {
            assert.deepStrictEqual(registryAuthOf(run, "local-docker"), DOCKER_HUB_HOSTS.map((address) => ({ address, username: "gpuops", password: TOKEN })));
            assert.ok(DOCKER_HUB_HOSTS.includes("registry-1.docker.io"), "the name an image without a registry is pulled under");
        });

        it("pulls the builds' base image once, with the login, before the app's and the key service's builds", () => {
            const bases = run.byType("docker:index/remoteImage:RemoteImage").filter((r) => r.name.includes("-base-"));
            assert.deepStrictEqual(bases.map((r) => [r.name, r.inputs.name, r.inputs.keepLocally]), [[`local-app-base-${NODE_IMAGE.replace(/:/g, "-")}`, NODE_IMAGE, true]]);
            assert.strictEqual(bases[0].provider?.split("::")[3], "local-docker", "through the provider that logs in");
            for (const build of ["local-app-blue-image", "local-app-green-image", "local-app-proxy-auth-image"]) {
                assert.ok(run.get(build).options.dependencies.includes(bases[0].urn), `${build} waits for its base`);
            }
        });

        it("keeps the password secret everywhere", () => assertPasswordHidden(run));

        it("leaves the operator's engine its own settings: mirrors change nothing on the local stack", async () => {
            const withMirrors = await runProgramFresh("local", { ...LOGIN, registry: { username: "gpuops", mirrors: MIRRORS } });
            assert.deepStrictEqual(changedInputs(run, withMirrors), []);
            assert.deepStrictEqual(changedInputs(await runProgram("local"), await runProgramFresh("local", { registry: { mirrors: MIRRORS } })), []);
        });
    });

    describe("cloud hosts with mirrors and a login (dev)", () => {
        let run: ProgramRun;
        let plainRun: ProgramRun;
        before(async () => {
            run = await runProgram("dev", BOTH);
            plainRun = await runProgram("dev");
        });
        const clouds = () => (run.outputs.hosts.value ? Object.keys(run.outputs.hosts.value) : []);

        it("puts the mirrors in each VM's cloud-init setup, before the done marker", () => {
            assert.deepStrictEqual(clouds(), ["aws", "gcp", "azure"]);
            const userData = (c: string, r: ProgramRun) => {
                // The user data is secret (it carries the stack's SSH host key, infra/clouds/common.ts).
                const vm = r.get(`${c}-vm`).inputs;
                const p = plain(vm);
                return String(p.userData ?? p.metadata?.["user-data"] ?? Buffer.from(p.osProfile.customData, "base64").toString());
            };
            for (const c of clouds()) {
                const setup = (YAML.parse(userData(c, run)).write_files as { path: string; content: string }[]).find((f) => f.path === SETUP_SCRIPT_PATH)!.content;
                const without = (YAML.parse(userData(c, plainRun)).write_files as { path: string; content: string }[]).find((f) => f.path === SETUP_SCRIPT_PATH)!.content;
                assert.strictEqual(setup, setupScript({ sshUser: "ubuntu", gpu: true, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: MIRRORS }), c);
                assert.strictEqual(without, setupScript({ sshUser: "ubuntu", gpu: true, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [] }), c);
                assert.match(setup, /printf '%s\\n' https:\/\/mirror\.gcr\.io http:\/\/10\.0\.0\.5:5000 \| jq -cRn '\[inputs\]'/);
            }
        });

        it("logs every VM's provider in, and its readiness gate pulls the GPU check image with the login from stdin", () => {
            for (const c of clouds()) {
                assert.deepStrictEqual(registryAuthOf(run, `${c}-docker`).map((b) => b.address), [...DOCKER_HUB_HOSTS]);
                const gate = run.get(`${c}-ready`).inputs;
                assert.strictEqual(gate.create, readinessScript({ image: "ubuntu:24.04", timeoutSeconds: READINESS_TIMEOUT_SECONDS, gpu: true, cloudInit: true, pullWithLogin: true }));
                assert.ok(isSecretInput(gate.stdin), `${c}-ready's stdin is a secret`);
                assert.deepStrictEqual(JSON.parse(unsecret(gate.stdin)), { auths: { "https://index.docker.io/v1/": { auth: Buffer.from(`gpuops:${TOKEN}`).toString("base64") } } });
                assert.ok(run.get(`${c}-app-blue-image`).options.dependencies.some((u) => u.endsWith(`::${c}-app-base-${NODE_IMAGE.replace(/:/g, "-")}`)));
            }
        });

        it("keeps the password secret everywhere", () => assertPasswordHidden(run));
    });

    describe("the operator's servers with mirrors and a login", () => {
        let run: ProgramRun;
        before(async () => {
            run = await runProgram("dev", { ...SERVERS, ...BOTH });
        });

        it("merges the mirrors through the setup over SSH; the gate logs in only where it pulls an image (a GPU)", () => {
            assert.strictEqual(run.get("box1-setup").inputs.stdin, setupScript({ sshUser: "ubuntu", gpu: true, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: MIRRORS }));
            assert.strictEqual(run.get("box2-setup").inputs.stdin, setupScript({ sshUser: "ubuntu", gpu: false, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: MIRRORS }));
            assert.ok(isSecretInput(run.get("box1-ready").inputs.stdin));
            assert.match(run.get("box1-ready").inputs.create, /DOCKER_CONFIG="\$login_dir" docker pull --quiet "\$IMAGE"/);
            assert.strictEqual(run.get("box2-ready").inputs.stdin, undefined, "no GPU, no image to pull: no login sent");
            assert.strictEqual(run.get("box2-ready").inputs.create, readinessScript({ image: "ubuntu:24.04", timeoutSeconds: READINESS_TIMEOUT_SECONDS, gpu: false, cloudInit: false, pullWithLogin: false }));
            for (const box of ["box1", "box2"]) assert.strictEqual(registryAuthOf(run, `${box}-docker`).length, DOCKER_HUB_HOSTS.length);
        });

        it("keeps the password secret everywhere", () => assertPasswordHidden(run));
    });

    describe("never pulls an image a host already has (a retry, recover)", () => {
        // The Docker provider pulls only what the engine lacks: RemoteImage create and a container's
        // create look the image up on the host first (kreuzwerker/terraform-provider-docker
        // internal/provider/resource_docker_image_funcs.go findImage; resource_docker_container_funcs.go
        // resourceDockerContainerCreate), shown on the real plugin in test/engine/registry.test.ts. What
        // would pull again is the program's to keep out: a pull trigger (pullTriggers re-pulls on its
        // change), or a delete that removes the image (keepLocally false), after which a replacement
        // or another stack's copy pulls it back.
        for (const [label, stack, o] of [["local", "local", LOGIN], ["cloud VMs", "dev", BOTH], ["servers", "dev", { ...SERVERS, ...BOTH }], ["cloud VMs, anonymous", "dev", {}]] as const) {
            it(`${label}: every pinned or base image is kept on the host and has no pull trigger; containers run it by id`, async () => {
                const run = await runProgram(stack, o);
                const images = run.byType("docker:index/remoteImage:RemoteImage");
                assert.ok(images.length >= 3, `${label}: redis, ollama and caddy at least`);
                for (const r of images) {
                    assert.strictEqual(r.inputs.keepLocally, true, `${r.name} keeps its image on delete`);
                    assert.strictEqual(r.inputs.pullTriggers, undefined, `${r.name} has no pull trigger`);
                    assert.ok(!r.inputs.forceRemove, `${r.name} is not force-removed`);
                }
                // By id, so a container's create finds its image on the host and never resolves a tag at a registry.
                for (const c of run.byType("docker:index/container:Container")) assert.match(String(c.inputs.image), /^sha256:[0-9a-f]{64}$/, `${c.name} runs its image by id`);
            });
        }
    });

    describe("without it", () => {
        it("no provider logs in, no gate gets stdin, no base image is pulled ahead, no setup holds a mirror", async () => {
            for (const [stack, o] of [["local", {}], ["dev", {}], ["dev", SERVERS]] as const) {
                const run = await runProgram(stack, o);
                for (const p of run.byType("pulumi:providers:docker")) assert.strictEqual(p.inputs.registryAuth, undefined, p.name);
                for (const r of run.resources.filter((x) => x.name.endsWith("-ready"))) assert.strictEqual(r.inputs.stdin, undefined, r.name);
                assert.deepStrictEqual(run.resources.filter((r) => r.name.includes("-base-")).map((r) => r.name), []);
                assert.ok(!JSON.stringify(run.resources.map((r) => r.inputs)).includes("registry-mirrors"), stack);
            }
        });

        it("mirrors alone change only where the setup runs: the VMs' user data, the servers' setup; no login anywhere", async () => {
            const servers = await runProgram("dev", SERVERS);
            const mirrored = await runProgramFresh("dev", { ...SERVERS, registry: { mirrors: MIRRORS } });
            assert.deepStrictEqual(changedInputs(servers, mirrored), ["command:remote:Command::box1-setup", "command:remote:Command::box2-setup"]);
            const dev = await runProgram("dev");
            const devMirrored = await runProgramFresh("dev", { registry: { mirrors: MIRRORS } });
            assert.deepStrictEqual(changedInputs(dev, devMirrored), ["aws:ec2/instance:Instance::aws-vm", "azure-native:compute:VirtualMachine::azure-vm", "gcp:compute/instance:Instance::gcp-vm"]);
        });
    });
});
