// What the real engine and providers do that plain mocks never showed, modelled and pinned:
// - the engine's config rules for project-declared keys (the test loader applies them);
// - replacementTrigger/deletedWith: everything on a VM follows its machine;
// - pulumi-docker's Image Check defaulting the platform to the operator's CPU;
// - kreuzwerker's container Read writing memorySwap (2x memory) and the image id back;
// - the Docker provider taking DOCKER_CONTEXT over its host.
import * as assert from "assert";
import { dockerCliEndpoint, localReadyScript } from "../../infra/hosts/local";
import { environmentProblem } from "../../infra/inventory";
import { EngineConfigError, ProgramRun, runProgram, stackConfig } from "../helpers/stack";

const PROJECT_YAML = `name: gpu-hosts
runtime: nodejs
config:
  required:
    type: string
  alsoRequired:
    type: string
  apiPort:
    type: integer
    default: 8000
  spot:
    type: boolean
    default: false
  clouds:
    type: array
    items:
      type: string
    default: [local]
  slots:
    default: {blue: {release: workdir}}
`;

function refused(stack: string, overrides: Record<string, unknown>, files: { project?: string; stack?: string }): readonly string[] {
    try {
        stackConfig(stack, overrides, files);
    } catch (e) {
        assert.ok(e instanceof EngineConfigError, String(e));
        return e.problems;
    }
    return assert.fail("expected the engine to refuse the stack");
}

describe("engine rules: project-declared config (the test loader refuses what the engine refuses)", () => {
    it("accepts every real stack file: no declared key lacks a default", () => {
        for (const stack of ["local", "dev", "prod"]) assert.doesNotThrow(() => stackConfig(stack), stack);
    });

    it("refuses a stack that leaves a declared key without default unset, worded as the engine words it", () => {
        assert.deepStrictEqual(refused("local", {}, { project: PROJECT_YAML, stack: "config:\n  gpu-hosts:alsoRequired: x\n" }),
            ["Stack 'local' is missing configuration value 'required'"]);
        assert.deepStrictEqual(refused("dev", {}, { project: PROJECT_YAML, stack: "config: {}\n" }),
            ["Stack 'dev' is missing configuration values 'alsoRequired' and 'required'"]);
    });

    it("refuses a wrongly typed value of a typed key, worded as the engine words it", () => {
        const stack = "config:\n  gpu-hosts:required: x\n  gpu-hosts:alsoRequired: y\n";
        assert.deepStrictEqual(refused("dev", { apiPort: "eighty" }, { project: PROJECT_YAML, stack }),
            ["Stack 'dev' with configuration key 'apiPort' must be of type 'integer'"]);
        assert.deepStrictEqual(refused("dev", { spot: "yes" }, { project: PROJECT_YAML, stack }),
            ["Stack 'dev' with configuration key 'spot' must be of type 'boolean'"]);
        assert.deepStrictEqual(refused("dev", { clouds: "aws" }, { project: PROJECT_YAML, stack }),
            ["Stack 'dev' with configuration key 'clouds' must be of type 'array<string>'"]);
        // Integers may be written as text, as `pulumi config set` stores them; untyped keys take anything.
        assert.doesNotThrow(() => stackConfig("dev", { apiPort: "8080", spot: "true", slots: "x" }, { project: PROJECT_YAML, stack }));
    });

    it("refuses an undeclared gpu-hosts: key (the program would), and leaves other namespaces alone", () => {
        const stack = "config:\n  gpu-hosts:required: x\n  gpu-hosts:alsoRequired: y\n  aws:region: us-east-1\n";
        assert.deepStrictEqual(refused("dev", { modle: "x" }, { project: PROJECT_YAML, stack }),
            ["Stack 'dev' sets gpu-hosts:modle, which Pulumi.yaml does not declare"]);
        assert.strictEqual(stackConfig("dev", {}, { project: PROJECT_YAML, stack })["aws:region"], "us-east-1");
    });

    it("runProgram refuses before the program runs, exactly as the real stack would be", async () => {
        await assert.rejects(runProgram("local", { apiPort: "x" }), { name: "EngineConfigError", message: "Stack 'local' with configuration key 'apiPort' must be of type 'integer'" });
    });
});

const hostSide = (run: ProgramRun) => run.resources.filter((r) => r.custom && (
    r.provider?.includes("pulumi:providers:docker") || r.type === "command:remote:Command" || r.type === "pulumi:providers:docker"
    || /-ssh-gate$/.test(r.name)));

describe("engine rules: a replaced or recreated VM takes everything on it along", () => {
    let first: ProgramRun;
    let second: ProgramRun;
    before(async function () {
        // Two runs of the whole three-cloud program: ~15 s together here, more on a loaded machine.
        this.timeout(90_000);
        first = await runProgram("dev");
        second = await runProgram("dev", {}, { machineGeneration: 1 });
    });

    it("two runs that differ only in the VMs' ids plan a replacement of every host-side resource", () => {
        const resources = hostSide(first);
        assert.ok(resources.length > 3 * 20, `host-side resources: ${resources.length}`);
        const replaced = (name: string) => {
            const a = first.get(name).options.replacementTrigger;
            const b = second.get(name).options.replacementTrigger;
            // The engine replaces when a non-null trigger changes (pulumi/pulumi#20936).
            return a !== undefined && b !== undefined && a !== b;
        };
        const notReplaced = resources.map((r) => r.name).filter((n) => !replaced(n));
        assert.deepStrictEqual(notReplaced, []);
        for (const cloud of ["aws", "gcp", "azure"]) {
            for (const kind of ["docker:index/network:Network", "docker:index/volume:Volume", "docker:index/container:Container",
                "docker:index/image:Image", "docker:index/remoteImage:RemoteImage"]) {
                assert.ok(resources.some((r) => r.type === kind && r.name.startsWith(`${cloud}-`)), `${cloud} ${kind} is covered`);
            }
            for (const n of [`${cloud}-app-model-pull`, `${cloud}-app-proxy-routes`, `${cloud}-ready`, `${cloud}-ssh-gate`, `${cloud}-docker`]) {
                assert.ok(replaced(n), n);
            }
        }
    });

    it("the VMs are delete-before-replace: the new one needs the old one's ENI, static IP or NIC", () => {
        for (const vm of ["aws-vm", "gcp-vm", "azure-vm"]) assert.strictEqual(first.get(vm).options.deleteBeforeReplace, true, vm);
    });

    it("everything on a VM is deleted with it, so a destroy never dials its engine; named Docker objects go before their replacement", () => {
        for (const r of hostSide(first).filter((x) => !/-ssh-gate$/.test(x.name) && x.type !== "pulumi:providers:docker")) {
            const cloud = r.name.split("-")[0];
            assert.strictEqual(r.options.deletedWith, first.get(`${cloud}-vm`).urn, `${r.name} is deleted with ${cloud}-vm`);
        }
        for (const r of first.resources.filter((x) => ["docker:index/network:Network", "docker:index/volume:Volume", "docker:index/container:Container"].includes(x.type))) {
            // A named object's id is its name: create-first would clash with the old one (or, for a
            // volume, delete the new one). The key service's container has no name of its own (the
            // provider names it <resource>-<random>), so its replacement starts before the old one
            // stops and no key check fails meanwhile (infra/service/proxy.ts).
            const named = r.inputs.name !== undefined;
            assert.strictEqual(r.options.deleteBeforeReplace, named, `${r.name}: ${named ? "named, so deleted before its replacement" : "provider-named, so created before the old one is deleted"}`);
            if (!named) assert.match(r.name, /-proxy-auth$/, `${r.name}: only the key service goes without a name`);
        }
        for (const p of first.byType("pulumi:providers:docker")) assert.strictEqual(p.inputs.disableDockerDaemonCheck, "true", p.name);
    });

    it("the local engine's resources follow nothing (it is no machine of the stack's)", async () => {
        const local = await runProgram("local");
        for (const r of local.resources.filter((x) => x.custom)) {
            assert.strictEqual(r.options.replacementTrigger, undefined, r.name);
            assert.strictEqual(r.options.deletedWith, "", r.name);
        }
    });
});

describe("engine rules: provider defaults and read-backs the program must not trip over", () => {
    it("builds cloud images for linux/amd64, never the operator's CPU (pulumi-docker's Check default)", async () => {
        const run = await runProgram("dev");
        const images = run.byType("docker:index/image:Image");
        assert.strictEqual(images.length, 9, "two slots and the key service on each of three hosts");
        for (const i of images) assert.strictEqual(i.inputs.build.platform, "linux/amd64", i.name);
    });

    it("builds local images for the local engine's own platform, as its ready command reports it", async () => {
        const run = await runProgram("local", {}, { localEnginePlatform: "linux/arm64" });
        assert.strictEqual(run.get("local-ready").inputs.create, localReadyScript());
        for (const i of run.byType("docker:index/image:Image")) assert.strictEqual(i.inputs.build.platform, "linux/arm64", i.name);
        assert.ok(run.get("local-app-blue-image").options.dependencies.some((u) => u.endsWith("::local-ready")), "the platform comes from the ready command");
    });

    it("sets memorySwap to the memory limit on every limited container (Docker stores 2x memory when unset, and the provider reads it back)", async () => {
        for (const stack of ["local", "prod"]) {
            const run = await runProgram(stack);
            const limited = run.byType("docker:index/container:Container").filter((c) => c.inputs.memory !== undefined);
            assert.ok(limited.length >= 6, stack);
            for (const c of limited) assert.strictEqual(c.inputs.memorySwap, c.inputs.memory, `${stack} ${c.name}`);
        }
    });

    it("gives every container its image by id (the provider reads the id back, and image forces a replacement)", async () => {
        const run = await runProgram("dev");
        for (const c of run.byType("docker:index/container:Container")) assert.match(c.inputs.image, /^sha256:[0-9a-f]{64}$/, c.name);
    });

    it("writes health check durations in Go's canonical form, which the provider reads back unchanged", async () => {
        const canonical = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;
        const run = await runProgram("local");
        for (const c of run.byType("docker:index/container:Container")) {
            for (const k of ["interval", "timeout", "startPeriod"]) {
                const v = c.inputs.healthcheck[k];
                assert.ok(canonical.test(v) && !/^\d+m$|^\d+h$/.test(v), `${c.name} healthcheck.${k} ${v}`);
            }
        }
    });

    it("makes the slot api wait for Redis itself (a component's dependsOn does not order its children)", async () => {
        const run = await runProgram("local");
        const redis = run.get("local-app-redis").urn;
        for (const n of ["local-app-blue-api", "local-app-green-api", "local-app-blue-worker"]) {
            assert.ok(run.get(n).options.dependencies.includes(redis), `${n} depends on redis`);
        }
    });

    it("passes no previous output in env to any command", async () => {
        for (const stack of ["local", "dev"]) {
            const run = await runProgram(stack);
            const cmds = run.resources.filter((r) => r.type.startsWith("command:"));
            for (const c of cmds) assert.strictEqual(c.inputs.addPreviousOutputInEnv, false, `${stack} ${c.name}`);
        }
    });
});

describe("engine rules: the local engine", () => {
    it("uses DOCKER_HOST, else the current docker context's endpoint", () => {
        assert.strictEqual(dockerCliEndpoint({ DOCKER_HOST: "tcp://10.0.0.2:2375" }, () => assert.fail("no CLI call")), "tcp://10.0.0.2:2375");
        const calls: string[][] = [];
        const endpoint = dockerCliEndpoint({ DOCKER_CONTEXT: "colima" }, (args, env) => {
            calls.push([...args, env.DOCKER_CONTEXT ?? ""]);
            return "unix:///Users/op/.colima/default/docker.sock\n";
        });
        assert.strictEqual(endpoint, "unix:///Users/op/.colima/default/docker.sock");
        assert.deepStrictEqual(calls, [["context", "inspect", "--format", "{{.Endpoints.docker.Host}}", "colima"]]);
    });

    it("names what to do when the docker CLI cannot say", () => {
        const missing = Object.assign(new Error("spawn docker ENOENT"), { code: "ENOENT" });
        assert.throws(() => dockerCliEndpoint({}, () => { throw missing; }), {
            message: "cannot find the local Docker engine: `docker context inspect` failed (the docker CLI is not installed); install the docker CLI, or set gpu-hosts:local.dockerHost (e.g. \"unix:///var/run/docker.sock\")",
        });
    });

    it("points the provider and the commands at the resolved engine; an explicit local.dockerHost wins", async () => {
        const saved = process.env.DOCKER_HOST;
        try {
            process.env.DOCKER_HOST = "unix:///home/op/.docker/run/docker.sock";
            const run = await runProgram("local");
            assert.strictEqual(run.get("local-docker").inputs.host, "unix:///home/op/.docker/run/docker.sock");
            assert.deepStrictEqual(run.get("local-ready").inputs.environment, { DOCKER_HOST: "unix:///home/op/.docker/run/docker.sock" });
            const pinned = await runProgram("local", { local: { dockerHost: "tcp://127.0.0.1:2375" } });
            assert.strictEqual(pinned.get("local-docker").inputs.host, "tcp://127.0.0.1:2375");
        } finally {
            process.env.DOCKER_HOST = saved;
        }
    });

    it("refuses DOCKER_CONTEXT for a stack with cloud hosts: it would redirect their Docker providers", async () => {
        assert.strictEqual(environmentProblem(["aws", "gcp"], { DOCKER_CONTEXT: "desktop-linux" }),
            "DOCKER_CONTEXT is set (to \"desktop-linux\") and would redirect the Docker provider of aws, gcp from its host to that context's engine; unset it (`unset DOCKER_CONTEXT`) and run again");
        assert.strictEqual(environmentProblem(["local"], { DOCKER_CONTEXT: "desktop-linux" }), undefined);
        assert.strictEqual(environmentProblem(["aws"], {}), undefined);
        process.env.DOCKER_CONTEXT = "desktop-linux";
        try {
            await assert.rejects(runProgram("dev"), /DOCKER_CONTEXT is set/);
        } finally {
            delete process.env.DOCKER_CONTEXT;
        }
    });
});
