// The remote-host skeleton (infra/hosts/remote.ts) under strict mocks, with a machine of the
// test's own: the key file, the SSH gate, the setup over SSH, the readiness gate, the runner and the
// Docker provider, their order, what follows the machine, and the key's secrecy.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { RemoteHostArgs, connectRemote, sshAccess } from "../../infra/hosts/remote";
import { readinessScript } from "../../infra/shell/readiness";
import { keyFileDeleteScript, sshClientOptions } from "../../infra/hosts/ssh";
import { knownHostsText } from "../../infra/hosts/hostKeys";
import { buildHost } from "../helpers/hosts";
import { isSecretInput, plainStrings, unsecret } from "../helpers/secrets";
import { TEST_HOME } from "../helpers/setup";
import { resolve } from "../helpers/stack";

const KEY = "~/.ssh/gpu-hosts/gpu-hosts-dev-h1";
const KNOWN = `${KEY}.known_hosts`;
/** The machine's host key, as the kind pins it (a VM's generated one, a server's recorded one). */
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheTestMachineHostKeyOfTheTestMach";

type Kind = "vm" | "server";

/** A host whose machine is a stand-in command (a VM the stack owns), or nothing (a server it does not), connected by the skeleton. */
const build = (kind: Kind = "vm", port = 22) => buildHost("dev", (cfg, args) => {
    class Component extends pulumi.ComponentResource {
        constructor(t: string, n: string) { super(t, n); }
    }
    const remote: RemoteHostArgs = {
        user: "ubuntu", port, privateKey: args.sshPrivateKey, publicKey: args.sshPublicKey, gpu: kind === "vm",
        gpuCheckImage: cfg.images.gpuCheck, readinessTimeoutSeconds: 1800, bootTimeoutSeconds: 2400, keyDir: "~/.ssh/gpu-hosts", bindAddress: "0.0.0.0",
    };
    const parent = new Component("gpu-hosts:test:RemoteHost", "h1");
    const access = sshAccess("h1", remote);
    const machine = kind === "vm" ? new command.local.Command("h1-vm", { create: "true" }, { parent }) : undefined;
    const host = connectRemote(parent, "h1", remote, access, {
        address: pulumi.output("198.51.100.7"),
        machineId: pulumi.output("i-0123456789abcdef0"),
        hostKey: pulumi.output(HOST_KEY),
        machine,
        dependsOn: [],
        setup: kind === "vm" ? { by: "cloud-init" } : { by: "ssh", script: "#!/bin/bash\necho set up\n" },
        gpuModel: kind === "vm" ? "NVIDIA T4" : undefined,
        platform: kind === "vm" ? "linux/amd64" : undefined,
        details: kind === "vm"
            ? { kind: "aws", region: "here", zone: "here-a", instanceType: "g4dn.xlarge", spot: false }
            : { kind: "ssh", port, user: "ubuntu", machineId: "0123456789abcdef0123456789abcdef" },
    });
    const app = new Component("gpu-hosts:test:Host", "h1-app");
    const cmd = host.run("h1-model-pull", { create: "docker exec h1-ollama ollama pull llama3.2:3b", triggers: ["llama3.2:3b"] }, { parent: app });
    return { host, cmd };
});

describe("the remote-host skeleton under strict mocks", () => {
    it("points the Docker provider at ssh://user@address(:port) with the multiplexed options; the SSH gate never multiplexes", async () => {
        const run = await build();
        const p = run.get("h1-docker");
        assert.strictEqual(p.type, "pulumi:providers:docker");
        assert.strictEqual(p.inputs.host, "ssh://ubuntu@198.51.100.7");
        assert.strictEqual(p.inputs.disableDockerDaemonCheck, "true", "a destroy must not dial a dead spot VM's engine");
        assert.deepStrictEqual(JSON.parse(p.inputs.sshOpts), sshClientOptions(KEY, KNOWN, true));
        assert.doesNotMatch(run.get("h1-ssh-gate").inputs.create, /Control(Master|Path|Persist)/,
            "a master opened by the gate before the setup added the user to the docker group would carry stale groups to every Docker call");
        assert.strictEqual((await resolve(run.host.host.sshCommand)).value, `ssh -i ${KEY} -o IdentitiesOnly=yes -o UserKnownHostsFile=${KNOWN} ubuntu@198.51.100.7`);
        const other = await build("server", 2222);
        assert.strictEqual(other.get("h1-docker").inputs.host, "ssh://ubuntu@198.51.100.7:2222");
        assert.match(other.get("h1-ssh-gate").inputs.create, /'-o' 'Port=2222'|-o Port=2222/);
        assert.strictEqual(unsecret(other.get("h1-ready").inputs.connection).port, 2222);
    });

    it("pins the machine's host key everywhere: every remote command's connection, and a known_hosts the gate and the provider trust alone", async () => {
        for (const [kind, port] of [["vm", 22], ["server", 2222]] as const) {
            const run = await build(kind, port);
            const remotes = run.byType("command:remote:Command");
            assert.ok(remotes.length >= (kind === "server" ? 3 : 2), remotes.map((r) => r.name).join(", "));
            for (const r of remotes) assert.strictEqual(unsecret(r.inputs.connection).hostKey, HOST_KEY, `${r.name} verifies the host key`);
            const file = path.join(TEST_HOME, ".ssh", "gpu-hosts", "gpu-hosts-dev-h1.known_hosts");
            assert.strictEqual(fs.readFileSync(file, "utf8"), knownHostsText("198.51.100.7", port, HOST_KEY));
            assert.strictEqual(fs.readFileSync(file, "utf8"), port === 22 ? `198.51.100.7 ${HOST_KEY}\n` : `[198.51.100.7]:2222 ${HOST_KEY}\n`);
            assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600);
            const strict = ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${KNOWN}`, "-o", "GlobalKnownHostsFile=/dev/null"];
            const opts: string[] = JSON.parse(run.get("h1-docker").inputs.sshOpts);
            assert.ok(opts.join(" ").includes(strict.join(" ")), opts.join(" "));
            assert.ok(!opts.join(" ").includes("accept-new"));
            assert.ok(run.get("h1-ssh-gate").inputs.create.includes("'StrictHostKeyChecking=yes'") || run.get("h1-ssh-gate").inputs.create.includes("StrictHostKeyChecking=yes"));
            assert.doesNotMatch(run.get("h1-ssh-gate").inputs.create, /accept-new/);
        }
    });

    it("writes the key file, mode 0600, on the machine that runs the program, before anything dials the host", async () => {
        const keyFile = path.join(TEST_HOME, ".ssh", "gpu-hosts", "gpu-hosts-dev-h1");
        fs.rmSync(keyFile, { force: true });
        const run = await build();
        const key = (await resolve(run.privateKey)).value as string;
        assert.strictEqual(fs.readFileSync(keyFile, "utf8"), key.endsWith("\n") ? key : `${key}\n`);
        assert.strictEqual(fs.statSync(keyFile).mode & 0o777, 0o600);
        fs.rmSync(keyFile);
        await build();
        assert.ok(fs.existsSync(keyFile), "written again on the next run");
    });

    it("orders SSH files -> SSH gate (after the machine) -> readiness -> Docker provider, and run() after readiness", async () => {
        const run = await build();
        assert.ok(run.regs.get("h1-docker")!.deps.includes("h1-ready"));
        assert.ok(run.regs.get("h1-ready")!.deps.includes("h1-ssh-gate"));
        assert.ok(run.regs.get("h1-ssh-gate")!.deps.includes("h1-ssh-files"));
        assert.ok(run.regs.get("h1-ssh-gate")!.deps.includes("h1-vm"), "a recovered VM is waited for");
        const pull = run.regs.get("h1-model-pull")!;
        assert.ok(pull.deps.includes("h1-ready"));
        assert.strictEqual(pull.parent, "h1-app", "the caller's parent wins");
        assert.strictEqual(run.get("h1-ssh-files").options.replacementTrigger, undefined, "the clean-up command is never replaced, so a new VM never deletes the key");
        assert.strictEqual(run.get("h1-ssh-files").inputs.delete, keyFileDeleteScript(KEY, KNOWN));
        assert.ok(!run.mocks.resources.some((r) => r.name === "h1-known-hosts"), "the program writes known_hosts from the pin: nothing to forget");
        assert.ok(!run.mocks.resources.some((r) => r.name === "h1-setup"), "cloud-init sets a VM up");
    });

    it("sets a server up over SSH as root, from stdin, before the readiness gate, again only when the script changes", async () => {
        const run = await build("server");
        const setup = run.get("h1-setup");
        assert.strictEqual(setup.type, "command:remote:Command");
        assert.strictEqual(setup.inputs.create, "sudo -n bash -s");
        assert.strictEqual(setup.inputs.stdin, "#!/bin/bash\necho set up\n");
        assert.match(setup.inputs.triggers[0], /^[0-9a-f]{64}$/, "the script's digest");
        assert.ok(run.regs.get("h1-setup")!.deps.includes("h1-ssh-gate"));
        assert.ok(run.regs.get("h1-ready")!.deps.includes("h1-setup"));
        assert.doesNotMatch(run.get("h1-ssh-gate").inputs.create, /cloud-init/, "a server's gate waits for nothing but SSH");
        assert.strictEqual(run.get("h1-ready").inputs.create, readinessScript({ image: run.cfg.images.gpuCheck, timeoutSeconds: 1800, gpu: false, cloudInit: false, pullWithLogin: false }));
        assert.strictEqual(setup.options.deletedWith, "", "a server the stack does not own: its resources are deleted on destroy");
    });

    it("takes the platform and GPU from the readiness gate where the machine does not say", async () => {
        const run = await build("server");
        assert.strictEqual((await resolve(run.host.host.platform)).value, "linux/amd64", "the mocked gate prints the engine's platform");
        assert.strictEqual((await resolve(run.host.host.gpuModel)).value, "none", "a server without a GPU");
        assert.strictEqual((await resolve((await build("vm")).host.host.gpuModel)).value, "NVIDIA T4", "the catalog's");
        const details = run.host.host.details;
        assert.ok(details.kind === "ssh", "the kind the machine's record names");
        assert.strictEqual(run.host.host.kind, "ssh");
        assert.strictEqual((await resolve(details.ssh)).value.startsWith("ssh -i"), true, "the skeleton adds the ssh command");
    });

    it("replaces the gates, the provider and every command on the host when the machine id changes; deletes them with a VM", async () => {
        const run = await build();
        for (const name of ["h1-ssh-gate", "h1-ready", "h1-docker", "h1-model-pull"]) {
            assert.strictEqual(run.get(name).options.replacementTrigger, JSON.stringify("i-0123456789abcdef0"), name);
        }
        for (const name of ["h1-ready", "h1-model-pull"]) {
            assert.match(run.get(name).options.deletedWith, /::h1-vm$/, `${name} goes with the machine`);
        }
        assert.strictEqual(run.get("h1-ssh-files").options.deletedWith, "", "the operator's own files are cleaned up on destroy");
        assert.deepStrictEqual(run.get("h1-ready").inputs.triggers, ["198.51.100.7"]);
    });

    it("runs the readiness script on the host; remote commands pass no previous output in env", async () => {
        const run = await build();
        assert.strictEqual(run.get("h1-ready").inputs.create, readinessScript({ image: run.cfg.images.gpuCheck, timeoutSeconds: 1800, gpu: true, cloudInit: true, pullWithLogin: false }));
        for (const name of ["h1-ready", "h1-model-pull", "h1-ssh-gate", "h1-ssh-files"]) {
            assert.strictEqual(run.get(name).inputs.addPreviousOutputInEnv, false, name);
        }
    });

    it("keeps the private key secret: in memory only, every remote connection secret, nothing in plain text or argv", async () => {
        for (const kind of ["vm", "server"] as const) {
            const run = await build(kind);
            const key = (await resolve(run.privateKey)).value as string;
            for (const name of ["h1-ready", "h1-model-pull", ...(kind === "server" ? ["h1-setup"] : [])]) {
                const conn = run.get(name).inputs.connection;
                assert.ok(isSecretInput(conn), `${name}'s connection must be secret`);
                assert.deepStrictEqual(unsecret(conn), {
                    host: "198.51.100.7", user: "ubuntu", port: 22, privateKey: key, hostKey: HOST_KEY, dialErrorLimit: 20, perDialTimeout: 15,
                });
            }
            for (const r of run.mocks.resources) {
                assert.ok(!plainStrings(r.inputs).some((s) => s.includes(key.trim())), `${r.name} has the private key in plain text`);
                assert.ok(!JSON.stringify(r.inputs.stdin ?? "").includes("PRIVATE KEY"), `${r.name} gets the key on stdin`);
            }
        }
    });
});
