// The SSH plumbing of remote hosts (infra/hosts/ssh.ts): client options, the key file, the SSH
// gate (infra/shell/gate.sh, probe.sh) and the machine-id read. Scripts are shellchecked and run for real against a stub ssh (and
// the options through the real `ssh -G`); the skeleton's resources are test/program/remoteHost.test.ts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    CONTROL_PERSIST_SECONDS, expandHome, forgetHostKeysScript, keyFileDeleteScript, keyFileName, readMachineId, sshClientOptions, writeKeyFile,
} from "../../infra/hosts/ssh";
import { SERVER_GATE_PROBE, SSH_GATE_PROBE, sshGateScript } from "../../infra/shell/gate";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";

const KEY = "~/.ssh/gpu-hosts/gpu-hosts-dev-h1";
const KNOWN = `${KEY}.known_hosts`;
/** The Docker provider's options (multiplexed), and everyone else's. */
const OPTS = sshClientOptions(KEY, KNOWN, true);
const PLAIN = sshClientOptions(KEY, KNOWN, false);

function sh(script: string, env: Record<string, string>, input = ""): { status: number | null; stdout: string; stderr: string } {
    const res = spawnSync("/bin/sh", ["-c", script], { input, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20000 });
    if (res.error) throw res.error;
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe("ssh: client options and paths", () => {
    it("passes the stack key, only it, trust-on-first-use and a per-host known_hosts to ssh; only the provider's multiplex", () => {
        assert.deepStrictEqual(PLAIN, OPTS.slice(0, 12));
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
        sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: PLAIN, port: 22, timeoutSeconds, probe: SSH_GATE_PROBE }),
        { PATH: `${dir}:${process.env.PATH}`, STUB_DIR: dir, STUB_CODES: codes },
    ));

    it("is shellcheck-clean, and so is the probe it runs on the host", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: PLAIN, port: 22, timeoutSeconds: 2400, probe: SSH_GATE_PROBE }), "ssh gate", "sh");
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

    it("uses the provider's ssh options without multiplexing, then the port, the target and the probe", () => {
        assert.strictEqual(run("0").status, 0);
        const argv = fs.readFileSync(path.join(dir, "argv.1"), "utf8").split("\n");
        assert.strictEqual(argv[0], "-n", "stdin from /dev/null: nothing to hang on");
        assert.deepStrictEqual(argv.slice(1, PLAIN.length + 1), PLAIN);
        const rest = argv.slice(PLAIN.length + 1, -1).join("\n");
        assert.strictEqual(rest, ["-o", "Port=22", "-o", "ConnectTimeout=10", "-o", "ServerAliveCountMax=4", "--", "ubuntu@198.51.100.7", SSH_GATE_PROBE].join("\n"));
        assert.ok(!argv.some((a) => /^Control(Master|Path|Persist)=/.test(a)), "no master connection to outlive the setup's group change");
    });

    it("refuses multiplexed options: a master opened before the setup keeps the user's old groups", () => {
        assert.throws(() => sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: OPTS, port: 22, timeoutSeconds: 10, probe: SSH_GATE_PROBE }), /the SSH gate must not multiplex/);
    });

    it("refuses a port or timeout that would not read as a number in the script", () => {
        const gate = { target: "ubuntu@198.51.100.7", sshOptions: PLAIN, port: 22, timeoutSeconds: 10, probe: SSH_GATE_PROBE };
        assert.throws(() => sshGateScript({ ...gate, port: 0 }), /port must be from 1 to 65535, got 0/);
        assert.throws(() => sshGateScript({ ...gate, timeoutSeconds: 1.5 }), /timeout must be a whole number of seconds, got 1.5/);
    });

    it("never waits for cloud-init on an operator's server: one installed but not in use would wait forever", () => {
        assert.strictEqual(SERVER_GATE_PROBE, "true\n");
        assert.match(SSH_GATE_PROBE, /cloud-init status --wait/, "a cloud VM's gate does wait for it");
    });

    it("leaves other failures to the readiness gate, and gives up at the deadline", () => {
        assert.strictEqual(run("1").status, 0);
        const res = run("255 255 255 255", 0);
        assert.strictEqual(res.status, 1);
        assert.match(res.stderr, /ubuntu@198\.51\.100\.7 did not come up within 0s/);
    });
});

describe("ssh: reading a server's machine id", function () {
    let dir: string;
    const saved = process.env.PATH;
    // A stub ssh that prints $STUB_OUT, writes $STUB_ERR to stderr and exits $STUB_CODE; logs its argv.
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-mid-"));
        fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >"${dir}/argv"\nprintf '%s' "$STUB_OUT"\nprintf '%s' "$STUB_ERR" >&2\nexit "\${STUB_CODE:-0}"\n`, { mode: 0o755 });
        process.env.PATH = `${dir}:${saved}`;
    });
    afterEach(() => {
        process.env.PATH = saved;
        for (const k of ["STUB_OUT", "STUB_ERR", "STUB_CODE"]) delete process.env[k];
        fs.rmSync(dir, { recursive: true, force: true });
    });
    const read = () => readMachineId({ target: "gpuops@203.0.113.10", port: 2222, options: PLAIN, publicKey: "ssh-ed25519 AAAAC3Nza stack\n" });

    it("reads /etc/machine-id without multiplexing, on the server's port", () => {
        process.env.STUB_OUT = "0123456789abcdef0123456789abcdef\n";
        assert.strictEqual(read(), "0123456789abcdef0123456789abcdef");
        const argv = fs.readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n");
        assert.deepStrictEqual(argv, ["-n", ...PLAIN, "-o", "Port=2222", "-o", "ConnectTimeout=15", "--", "gpuops@203.0.113.10", "cat /etc/machine-id"]);
    });

    it("says which key to authorise when the server refuses it, and what failed otherwise", () => {
        Object.assign(process.env, { STUB_CODE: "255", STUB_ERR: "gpuops@203.0.113.10: Permission denied (publickey).\n" });
        assert.throws(read, { message: "cannot read /etc/machine-id of gpuops@203.0.113.10 port 2222 over SSH (gpuops@203.0.113.10: Permission denied (publickey).); " +
            "authorise the key: add this line to ~/.ssh/authorized_keys of that user: ssh-ed25519 AAAAC3Nza stack" });
        Object.assign(process.env, { STUB_CODE: "255", STUB_ERR: "ssh: connect to host 203.0.113.10 port 2222: Connection refused\n" });
        assert.throws(read, { message: "cannot read /etc/machine-id of gpuops@203.0.113.10 port 2222 over SSH (ssh: connect to host 203.0.113.10 port 2222: Connection refused)" });
        Object.assign(process.env, { STUB_CODE: "0", STUB_ERR: "", STUB_OUT: "uninitialized\n" });
        assert.throws(read, /\/etc\/machine-id holds "uninitialized", not a machine id/);
    });
});
