// The SSH plumbing of remote hosts (infra/hosts/ssh.ts, hostKeys.ts): client options, the key file,
// the known_hosts pin, the SSH gate (infra/shell/gate.sh, probe.sh), the machine-id read and the
// probe recover and destroy run. Scripts are shellchecked and run against a stub ssh, the options
// through the real `ssh -G`, and the host-key checks against a real sshd on loopback whose host key
// and machine id the tests change (test/helpers/sshd.ts); the skeleton's resources are
// test/program/remoteHost.test.ts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONTROL_PERSIST_SECONDS, expandHome, keyFileDeleteScript, keyFileName, sshClientOptions, writeKeyFile } from "../../infra/hosts/ssh";
import {
    HostAccessError, describeKey, fingerprint, hostKeyOf, knownHostsText, preferredHostKey, probeServer, readMachineId, scanHostKeys, writeKnownHosts,
} from "../../infra/hosts/hostKeys";
import { LoopbackSshd, loopbackSshdUnavailable, realClientsPath } from "../helpers/sshd";
import { SERVER_GATE_PROBE, SSH_GATE_PROBE, sshGateScript } from "../../infra/shell/gate";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";
import { sshArgv } from "../../scripts/lib/status/probe";

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
    it("passes the stack key, only it, strict host key checking against the host's own known_hosts alone; only the provider's multiplex", () => {
        assert.deepStrictEqual(PLAIN, OPTS.slice(0, 16));
        assert.deepStrictEqual(OPTS, [
            "-i", KEY,
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${KNOWN}`,
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no",
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
        assert.strictEqual(conf.get("stricthostkeychecking"), "true");
        assert.strictEqual(conf.get("globalknownhostsfile"), "/dev/null");
        assert.strictEqual(conf.get("updatehostkeys"), "false");
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

    it("the delete script removes key and known_hosts, and is shellcheck-clean", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(keyFileDeleteScript(KEY, KNOWN), "key file delete script", "sh");
        writeKeyFile(KEY, "k", home);
        writeKnownHosts(KNOWN, "198.51.100.7", 22, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIold", home);
        assert.strictEqual(sh(keyFileDeleteScript(KEY, KNOWN), { HOME: home }).status, 0);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(file())), []);
    });

    it("writes the known_hosts pin: one line, the address (or [address]:port) and the key without its comment, mode 0600", () => {
        writeKnownHosts(KNOWN, "198.51.100.7", 22, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIpin root@box\n", home);
        assert.strictEqual(fs.readFileSync(`${file()}.known_hosts`, "utf8"), "198.51.100.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIpin\n");
        assert.strictEqual(fs.statSync(`${file()}.known_hosts`).mode & 0o777, 0o600);
        assert.strictEqual(knownHostsText("2001:db8::7", 2222, "ecdsa-sha2-nistp256 AAAAE2Vj"), "[2001:db8::7]:2222 ecdsa-sha2-nistp256 AAAAE2Vj\n");
        assert.throws(() => knownHostsText("h", 22, "ssh-rsa AAAAB3NzaC1yc2E"), /not a host key to pin/);
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

    it("stops at once, in one line, when the host presents a key other than the pinned one: waiting would not change it", () => {
        fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh
n=$(cat "$STUB_DIR/n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/n"
printf '%s\\n' '@@@@@@@@@@@' 'The fingerprint for the ED25519 key sent by the remote host is' 'SHA256:newnewnew' 'Host key verification failed.' >&2
exit 255
`, { mode: 0o755 });
        const res = run("", 600);
        assert.strictEqual(res.status, 1);
        assert.strictEqual(fs.readFileSync(path.join(dir, "n"), "utf8").trim(), "1", "no second attempt");
        assert.strictEqual(res.stderr, "gpu-hosts: ubuntu@198.51.100.7 presents an SSH host key (SHA256:newnewnew) other than the one the stack pinned; nothing was sent to it\n");
    });

    it("names what ssh said while it waits", () => {
        fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh
n=$(cat "$STUB_DIR/n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/n"
[ "$n" -ge 2 ] && exit 0
echo "ssh: connect to host 198.51.100.7 port 22: Connection refused" >&2; exit 255
`, { mode: 0o755 });
        const res = run("");
        assert.strictEqual(res.status, 0);
        assert.match(res.stdout, /does not accept SSH yet \(attempt 1: ssh: connect to host 198\.51\.100\.7 port 22: Connection refused\)/);
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
    const read = () => readMachineId({ who: "box2", target: "gpuops@203.0.113.10", port: 2222, options: PLAIN, key: { generated: "ssh-ed25519 AAAAC3Nza stack\n" } });

    it("reads /etc/machine-id without multiplexing, on the server's port", () => {
        process.env.STUB_OUT = "0123456789abcdef0123456789abcdef\n";
        assert.strictEqual(read(), "0123456789abcdef0123456789abcdef");
        const argv = fs.readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n");
        assert.deepStrictEqual(argv, ["-n", ...PLAIN, "-o", "Port=2222", "-o", "ConnectTimeout=15", "--", "gpuops@203.0.113.10", "cat /etc/machine-id"]);
    });

    it("says in one line which key to authorise when the server refuses it, and what failed otherwise", () => {
        Object.assign(process.env, { STUB_CODE: "255", STUB_ERR: "gpuops@203.0.113.10: Permission denied (publickey).\n" });
        assert.throws(read, { name: "HostAccessError", message: "box2: gpuops@203.0.113.10 port 2222 refuses the stack's SSH key; authorise it (one line, in ~gpuops/.ssh/authorized_keys on the server), then run again: ssh-ed25519 AAAAC3Nza stack" });
        assert.throws(() => readMachineId({ who: "box2", target: "gpuops@203.0.113.10", port: 2222, options: PLAIN, key: { own: true } }),
            { message: "box2: gpuops@203.0.113.10 port 2222 refuses the key in gpu-hosts:sshPrivateKey; add its public half (ssh-keygen -y -f <that key>) to ~gpuops/.ssh/authorized_keys on the server, then run again" });
        Object.assign(process.env, { STUB_CODE: "255", STUB_ERR: "ssh: connect to host 203.0.113.10 port 2222: Connection refused\n" });
        assert.throws(read, { message: "box2: cannot read /etc/machine-id of gpuops@203.0.113.10 port 2222 over SSH (ssh: connect to host 203.0.113.10 port 2222: Connection refused)" });
        Object.assign(process.env, { STUB_CODE: "0", STUB_ERR: "", STUB_OUT: "uninitialized\n" });
        assert.throws(read, /^HostAccessError: box2: \/etc\/machine-id on gpuops@203\.0\.113\.10 port 2222 holds "uninitialized", not a machine id/);
    });
});

describe("ssh: host keys against a real sshd on loopback", function () {
    this.timeout(60_000);
    let sshd: LoopbackSshd;
    let known: string;
    const saved = process.env.PATH;
    before(async function () {
        const why = loopbackSshdUnavailable();
        if (why) {
            if (process.env.CI === "true") throw new Error(`the real sshd tests ${why}`);
            console.warn(`      skipping: ${why}`);
            this.skip();
        }
        // The real ssh and ssh-keyscan, not the stubs of test/helpers/setup.ts.
        process.env.PATH = realClientsPath();
        sshd = new LoopbackSshd();
        await sshd.start();
        known = path.join(sshd.dir, "known_hosts");
    });
    after(async () => {
        process.env.PATH = saved;
        await sshd?.stop();
    });

    const pin = (key: string) => fs.writeFileSync(known, knownHostsText("127.0.0.1", sshd.port, key), { mode: 0o600 });
    const read = () => readMachineId({ who: "box", target: "root@127.0.0.1", port: sshd.port, options: sshClientOptions(sshd.clientKey, known, false), key: { own: true } });
    const server = () => ({ name: "box", address: "127.0.0.1", port: sshd.port, user: "root", keyPath: sshd.clientKey });

    it("ssh-keyscan reads the key the server presents, before any login; the pin is what sshd's own .pub file says", () => {
        const keys = scanHostKeys("127.0.0.1", sshd.port, "box");
        assert.deepStrictEqual(keys, [sshd.hostKey()]);
        assert.strictEqual(preferredHostKey(keys), sshd.hostKey());
        assert.strictEqual(hostKeyOf(`${sshd.hostKey()} root@box\n`), sshd.hostKey());
        const lf = spawnSync("ssh-keygen", ["-l", "-f", path.join(sshd.dir, "host_key.pub")], { encoding: "utf8" }).stdout.split(" ")[1];
        assert.strictEqual(fingerprint(sshd.hostKey()), lf, "the fingerprint ssh-keygen -l prints");
    });

    it("accepts the pinned key: the machine id is read over a strictly checked connection", () => {
        pin(sshd.hostKey());
        assert.strictEqual(read(), sshd.machineId());
    });

    it("refuses a changed key in one line (with the fingerprint the server sent), never adding it to the known_hosts", async () => {
        pin(sshd.hostKey());
        await sshd.newHostKey();
        const before = fs.readFileSync(known, "utf8");
        assert.throws(read, (e: Error) => {
            assert.ok(e instanceof HostAccessError);
            assert.strictEqual(e.message, `box: root@127.0.0.1 port ${sshd.port} presents an SSH host key (${fingerprint(sshd.hostKey())}) other than the one the stack pinned; nothing was sent to it`);
            return true;
        });
        assert.strictEqual(fs.readFileSync(known, "utf8"), before, "StrictHostKeyChecking=yes never writes the file");
        pin(sshd.hostKey());
        assert.strictEqual(read(), sshd.machineId(), "the new key, once pinned, is accepted");
    });

    it("the operator scripts' ssh (status, a swap's routes) checks the pin the output names, and refuses a changed key", async () => {
        pin(sshd.hostKey());
        const output = `ssh -i ${sshd.clientKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${known} -p ${sshd.port} root@127.0.0.1`;
        const run = () => spawnSync(sshArgv(output, ["cat", "/etc/machine-id"])[0], sshArgv(output, ["cat", "/etc/machine-id"]).slice(1), { encoding: "utf8", timeout: 30_000 });
        const ok = run();
        assert.strictEqual(ok.status, 0, ok.stderr);
        assert.strictEqual(ok.stdout.trim(), sshd.machineId());
        await sshd.newHostKey();
        const before = fs.readFileSync(known, "utf8");
        const refused = run();
        assert.strictEqual(refused.status, 255);
        assert.match(refused.stderr, /Host key verification failed/);
        assert.strictEqual(refused.stdout, "", "nothing ran on the host");
        assert.strictEqual(fs.readFileSync(known, "utf8"), before, "the changed key is not written to the pin");
        // A host the pin file does not know is refused too (no first-use trust in the operator scripts).
        fs.writeFileSync(known, "");
        assert.match(run().stderr, /Host key verification failed|No (ED25519|ECDSA) host key is known/);
    });

    it("the SSH gate stops at once on a changed key, with the same line", async () => {
        pin(sshd.hostKey());
        await sshd.newHostKey();
        const started = Date.now();
        const res = sh(sshGateScript({ target: "root@127.0.0.1", sshOptions: sshClientOptions(sshd.clientKey, known, false), port: sshd.port, timeoutSeconds: 120, probe: SERVER_GATE_PROBE }),
            { HOME: os.homedir() });
        assert.strictEqual(res.status, 1);
        assert.ok(Date.now() - started < 15_000, "no waiting for the timeout");
        assert.strictEqual(res.stderr, `gpu-hosts: root@127.0.0.1 presents an SSH host key (${fingerprint(sshd.hostKey())}) other than the one the stack pinned; nothing was sent to it\n`);
        pin(sshd.hostKey());
        assert.strictEqual(sh(sshGateScript({ target: "root@127.0.0.1", sshOptions: sshClientOptions(sshd.clientKey, known, false), port: sshd.port, timeoutSeconds: 120, probe: SERVER_GATE_PROBE }),
            { HOME: os.homedir() }).status, 0);
    });

    it("probes a server as recover and destroy do: the same machine, a reinstall (new id, new key), a new key alone, gone", async () => {
        const pinned = sshd.hostKey();
        const recorded = sshd.machineId();
        assert.deepStrictEqual(probeServer({ ...server(), pinnedKey: pinned, machineId: recorded }, true), { state: "same" });
        // A reinstall that kept the keys (restored from a backup): a new machine id.
        const id2 = sshd.newMachineId();
        assert.deepStrictEqual(probeServer({ ...server(), pinnedKey: pinned, machineId: recorded }, true),
            { state: "reinstalled", machineId: id2, hostKey: pinned, keyChanged: false });
        // A real reinstall: new id and new keys. Recover reads the id with the new key and takes both;
        // destroy never logs in with a key it has not pinned.
        await sshd.newHostKey();
        const id3 = sshd.newMachineId();
        assert.deepStrictEqual(probeServer({ ...server(), pinnedKey: pinned, machineId: id2 }, true),
            { state: "reinstalled", machineId: id3, hostKey: sshd.hostKey(), keyChanged: true });
        assert.deepStrictEqual(probeServer({ ...server(), pinnedKey: pinned, machineId: id2 }, false), { state: "key-changed", hostKey: sshd.hostKey() });
        // A new key on the same machine: not a reinstall.
        assert.deepStrictEqual(probeServer({ ...server(), pinnedKey: pinned, machineId: id3 }, true),
            { state: "key-changed", hostKey: sshd.hostKey(), machineId: id3 });
        // Our key no longer authorised.
        sshd.authorize(false);
        const refused = probeServer({ ...server(), pinnedKey: sshd.hostKey(), machineId: id3 }, true);
        assert.strictEqual(refused.state, "refused");
        assert.match((refused as { why: string }).why, new RegExp(`^box: root@127\\.0\\.0\\.1 port ${sshd.port} refuses the key in gpu-hosts:sshPrivateKey`));
        sshd.authorize(true);
        await sshd.pause();
        const gone = probeServer({ ...server(), pinnedKey: sshd.hostKey(), machineId: id3 }, true);
        assert.strictEqual(gone.state, "gone");
        assert.match((gone as { why: string }).why, new RegExp(`^box: no SSH answer from 127\\.0\\.0\\.1 port ${sshd.port} within 10 s`));
        await sshd.restart();
        assert.strictEqual(describeKey(sshd.hostKey()), `ssh-ed25519 ${fingerprint(sshd.hostKey())}`);
    });
});
