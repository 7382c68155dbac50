// The SSH plumbing shared by the cloud hosts: the key file, the SSH gate, the readiness gate,
// the HostRunner and the Docker provider. Scripts are shellchecked and run for real against a
// stub ssh; the resources are checked under strict mocks.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import {
    CONTROL_PERSIST_SECONDS, SSH_GATE_PROBE, connectHost, expandHome, forgetHostKeysScript, keyFileDeleteScript, keyFileName,
    sshClientOptions, sshGateScript, writeKeyFile,
} from "../../components/hosts/ssh";
import { readinessScript } from "../../components/hosts/readiness";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { buildHost } from "../helpers/hosts";
import { isSecretInput, plainStrings, unsecret } from "../helpers/secrets";
import { resolve } from "../helpers/stack";
import { requireTool } from "../helpers/tools";
import { TEST_HOME } from "../helpers/setup";

const KEY = "~/.ssh/gpu-hosts/gpu-hosts-dev-h1";
const KNOWN = `${KEY}.known_hosts`;
const OPTS = sshClientOptions(KEY, KNOWN);

function sh(script: string, env: Record<string, string>, input = ""): { status: number | null; stdout: string; stderr: string } {
    const res = spawnSync("/bin/sh", ["-c", script], { input, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20000 });
    if (res.error) throw res.error;
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe("ssh: client options and paths", () => {
    it("passes the stack key, only it, trust-on-first-use and a per-host known_hosts to ssh", () => {
        assert.deepStrictEqual(OPTS, [
            "-i", KEY,
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", `UserKnownHostsFile=${KNOWN}`,
            "-o", "BatchMode=yes",
            "-o", "ServerAliveInterval=15",
            // One multiplexed connection per host instead of one ssh per Docker API call.
            "-o", "ControlMaster=auto",
            "-o", "ControlPath=~/.ssh/gpu-hosts/cm-%C",
            "-o", `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
        ]);
    });

    it("are options OpenSSH accepts, and it expands the ~ itself (the Docker provider runs no shell)", function () {
        requireTool("ssh", this);
        const res = spawnSync("ssh", ["-G", ...OPTS, "ubuntu@198.51.100.7"], { encoding: "utf8" });
        assert.strictEqual(res.status, 0, res.stderr);
        const conf = new Map(res.stdout.split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)] as const));
        assert.strictEqual(conf.get("identitiesonly"), "yes");
        assert.strictEqual(conf.get("stricthostkeychecking"), "accept-new");
        assert.strictEqual(conf.get("batchmode"), "yes");
        assert.match(conf.get("userknownhostsfile") ?? "", /^\/.*\/\.ssh\/gpu-hosts\/gpu-hosts-dev-h1\.known_hosts$/);
        assert.strictEqual(conf.get("controlmaster"), "auto");
        assert.strictEqual(conf.get("controlpersist"), String(CONTROL_PERSIST_SECONDS));
        // ssh -G expands the ControlPath; a unix socket path must stay under 104 bytes.
        const controlPath = conf.get("controlpath") ?? "";
        assert.match(controlPath, /^\/.*\/\.ssh\/gpu-hosts\/cm-[0-9a-f]{40}$/);
        assert.ok(Buffer.byteLength(controlPath) < 104, controlPath);
    });

    it("derives the key file name from project, stack and host", async () => {
        await pulumi.runtime.setMocks({ newResource: () => ({ id: "x", state: {} }), call: () => ({}) }, "gpu-hosts", "prod", false);
        assert.strictEqual(keyFileName("aws"), "gpu-hosts-prod-aws");
        assert.strictEqual(keyFileName("a b/c"), "gpu-hosts-prod-a_b_c");
    });
});

describe("ssh: key file", function () {
    let home: string;
    beforeEach(() => { home = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-home-")); });
    afterEach(() => fs.rmSync(home, { recursive: true, force: true }));
    const file = () => path.join(home, ".ssh", "gpu-hosts", "gpu-hosts-dev-h1");

    it("writes the key with mode 0600 in a 0700 directory, leaves no temporary file, and rewrites a changed key", () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----";
        writeKeyFile(KEY, key, home);
        assert.strictEqual(fs.readFileSync(file(), "utf8"), `${key}\n`);
        assert.strictEqual(fs.statSync(file()).mode & 0o777, 0o600);
        assert.strictEqual(fs.statSync(path.dirname(file())).mode & 0o777, 0o700);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(file())), ["gpu-hosts-dev-h1"], "no temporary file left behind");
        fs.chmodSync(file(), 0o644);
        writeKeyFile(KEY, "second", home);
        assert.strictEqual(fs.readFileSync(file(), "utf8"), "second\n");
        assert.strictEqual(fs.statSync(file()).mode & 0o777, 0o600, "a loosened mode is tightened again");
    });

    it("expands ~ to this machine's home", () => {
        assert.strictEqual(expandHome(KEY, "/home/op"), "/home/op/.ssh/gpu-hosts/gpu-hosts-dev-h1");
        assert.strictEqual(expandHome("/abs/key", "/home/op"), "/abs/key");
    });

    it("forgets a replaced VM's host keys, and the delete script removes key and known_hosts; both shellcheck-clean", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(forgetHostKeysScript(KNOWN), "forget host keys script", "sh");
        assertScriptShellcheckClean(keyFileDeleteScript(KEY, KNOWN), "key file delete script", "sh");
        writeKeyFile(KEY, "k", home);
        fs.writeFileSync(`${file()}.known_hosts`, "198.51.100.7 ssh-ed25519 AAAAold\n");
        assert.strictEqual(sh(forgetHostKeysScript(KNOWN), { HOME: home }).status, 0);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(file())), ["gpu-hosts-dev-h1"]);
        assert.strictEqual(sh(keyFileDeleteScript(KEY, KNOWN), { HOME: home }).status, 0);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(file())), []);
    });
});

describe("ssh: SSH gate script", function () {
    let dir: string;
    // A stub ssh that answers with the exit codes listed in $STUB_CODES, one per call, and logs its argv.
    const STUB_SSH = `#!/bin/sh
n=$(cat "$STUB_DIR/n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/n"
for a in "$@"; do printf '%s\\n' "$a"; done >"$STUB_DIR/argv.$n"
code=$(echo "$STUB_CODES" | cut -d' ' -f"$n")
exit "\${code:-0}"
`;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-gate-"));
        fs.writeFileSync(path.join(dir, "ssh"), STUB_SSH, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (codes: string, timeoutSeconds = 600) => (fs.rmSync(path.join(dir, "n"), { force: true }), sh(
        sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: OPTS, timeoutSeconds }),
        { PATH: `${dir}:${process.env.PATH}`, STUB_DIR: dir, STUB_CODES: codes },
    ));

    it("is shellcheck-clean, and so is the probe it runs on the host", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: OPTS, timeoutSeconds: 2400 }), "ssh gate", "sh");
        assertScriptShellcheckClean(`#!/bin/bash\n${SSH_GATE_PROBE}`, "ssh gate probe", "bash");
    });

    it("retries while sshd is down and while the host reboots for the driver, then passes", () => {
        const res = run("255 255 75 255 0");
        assert.strictEqual(res.status, 0, res.stderr);
        assert.strictEqual(fs.readFileSync(path.join(dir, "n"), "utf8").trim(), "5");
        assert.match(res.stdout, /does not accept SSH yet \(attempt 1\)/);
        assert.match(res.stdout, /rebooting to load the NVIDIA driver \(attempt 3\)/);
        assert.match(res.stdout, /answers over SSH and has finished its first boot/);
    });

    it("uses exactly the Docker provider's ssh options, then the target and the probe", () => {
        assert.strictEqual(run("0").status, 0);
        const argv = fs.readFileSync(path.join(dir, "argv.1"), "utf8").split("\n");
        assert.strictEqual(argv[0], "-n", "stdin from /dev/null: nothing to hang on");
        assert.deepStrictEqual(argv.slice(1, OPTS.length + 1), OPTS);
        const rest = argv.slice(OPTS.length + 1, -1).join("\n");
        assert.strictEqual(rest, ["-o", "ConnectTimeout=10", "-o", "ServerAliveCountMax=4", "--", "ubuntu@198.51.100.7", SSH_GATE_PROBE].join("\n"));
    });

    it("leaves other failures to the readiness gate, and gives up at the deadline", () => {
        assert.strictEqual(run("1").status, 0);
        const res = run("255 255 255 255", 0);
        assert.strictEqual(res.status, 1);
        assert.match(res.stderr, /ubuntu@198\.51\.100\.7 did not come up within 0s/);
    });
});

describe("ssh: connectHost under strict mocks", () => {
    const build = () => buildHost("dev", (cfg, args) => {
        class Host extends pulumi.ComponentResource {
            constructor(n: string) { super("gpu-hosts:test:Host", n); }
        }
        const parent = new Host("h1");
        const machine = new command.local.Command("h1-vm", { create: "true" });
        const conn = connectHost(parent, "h1", {
            address: pulumi.output("198.51.100.7"),
            user: "ubuntu",
            privateKey: args.sshPrivateKey,
            machineId: pulumi.output("i-0123456789abcdef0"),
            machine,
            gpuCheckImage: cfg.images.gpuCheck,
        });
        const app = new Host("h1-app");
        const cmd = conn.run("h1-model-pull", { create: "docker exec h1-ollama ollama pull llama3.2:3b", triggers: ["llama3.2:3b"] }, { parent: app });
        return { conn, cmd };
    });

    it("points the Docker provider at ssh://user@address with the key file's options", async () => {
        const run = await build();
        const p = run.get("h1-docker");
        assert.strictEqual(p.type, "pulumi:providers:docker");
        assert.strictEqual(p.inputs.host, "ssh://ubuntu@198.51.100.7");
        assert.strictEqual(p.inputs.disableDockerDaemonCheck, "true", "a destroy must not dial a dead spot VM's engine");
        assert.deepStrictEqual(JSON.parse(p.inputs.sshOpts), sshClientOptions(KEY, KNOWN));
        assert.strictEqual(run.host.conn.keyPath, KEY);
        assert.strictEqual((await resolve(run.host.conn.sshCommand)).value,
            `ssh -i ${KEY} -o IdentitiesOnly=yes -o UserKnownHostsFile=${KNOWN} ubuntu@198.51.100.7`);
    });

    it("writes the key file, mode 0600, on the machine that runs the program, before anything dials the host", async () => {
        const keyFile = path.join(TEST_HOME, ".ssh", "gpu-hosts", "gpu-hosts-dev-h1");
        fs.rmSync(keyFile, { force: true });
        const run = await build();
        const key = (await resolve(run.privateKey)).value as string;
        assert.strictEqual(fs.readFileSync(keyFile, "utf8"), key.endsWith("\n") ? key : `${key}\n`);
        assert.strictEqual(fs.statSync(keyFile).mode & 0o777, 0o600);
        // A second run (another `up`, or a teammate's first) finds it again; nothing ran a shell to write it.
        fs.rmSync(keyFile);
        await build();
        assert.ok(fs.existsSync(keyFile), "written again on the next run");
    });

    it("orders SSH files -> SSH gate (after the machine) -> readiness -> Docker provider, and run() after readiness", async () => {
        const run = await build();
        assert.ok(run.regs.get("h1-docker")!.deps.includes("h1-ready"));
        assert.ok(run.regs.get("h1-ready")!.deps.includes("h1-ssh-gate"));
        assert.ok(run.regs.get("h1-ssh-gate")!.deps.includes("h1-known-hosts"));
        assert.ok(run.regs.get("h1-known-hosts")!.deps.includes("h1-ssh-files"));
        assert.ok(run.regs.get("h1-ssh-gate")!.deps.includes("h1-vm"), "a recovered VM is waited for");
        const pull = run.regs.get("h1-model-pull")!;
        assert.ok(pull.deps.includes("h1-ready"));
        assert.strictEqual(pull.parent, "h1-app", "the caller's parent wins");
        assert.strictEqual(run.get("h1-model-pull").type, "command:remote:Command");
        assert.strictEqual(run.get("h1-ssh-files").options.replacementTrigger, undefined, "the clean-up command is never replaced, so a new VM never deletes the key");
        assert.strictEqual(run.get("h1-ssh-files").inputs.delete, keyFileDeleteScript(KEY, KNOWN));
        assert.strictEqual(run.get("h1-known-hosts").inputs.create, forgetHostKeysScript(KNOWN));
    });

    it("replaces the gates, the provider and every command on the host when the machine id changes, and deletes them with the machine", async () => {
        const run = await build();
        for (const name of ["h1-known-hosts", "h1-ssh-gate", "h1-ready", "h1-docker", "h1-model-pull"]) {
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
        const ready = run.get("h1-ready");
        assert.strictEqual(ready.inputs.create, readinessScript({ image: run.cfg.images.gpuCheck }));
        for (const name of ["h1-ready", "h1-model-pull", "h1-ssh-gate", "h1-ssh-files", "h1-known-hosts"]) {
            assert.strictEqual(run.get(name).inputs.addPreviousOutputInEnv, false, name);
        }
    });

    it("keeps the private key secret: in memory only, every remote connection secret, nothing in plain text or argv", async () => {
        const run = await build();
        const key = (await resolve(run.privateKey)).value as string;
        for (const name of ["h1-ready", "h1-model-pull"]) {
            const conn = run.get(name).inputs.connection;
            assert.ok(isSecretInput(conn), `${name}'s connection must be secret`);
            // The SSH gate waits out sshd; these bound each remote command's own dialling (~5 min).
            assert.deepStrictEqual(unsecret(conn), {
                host: "198.51.100.7", user: "ubuntu", port: 22, privateKey: key, dialErrorLimit: 20, perDialTimeout: 15,
            });
        }
        for (const r of run.mocks.resources) {
            assert.ok(!plainStrings(r.inputs).some((s) => s.includes(key.trim())), `${r.name} has the private key in plain text`);
            assert.ok(!JSON.stringify(r.inputs.stdin ?? "").includes("PRIVATE KEY"), `${r.name} gets the key on stdin`);
        }
        assert.strictEqual((await resolve(run.host.conn.sshCommand)).value.includes("PRIVATE"), false);
    });
});
