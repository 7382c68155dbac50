// The host setup script (infra/shell/setup.sh, rendered by infra/shell/setup.ts), run for real with bash as root in a
// private mount namespace: tmpfs over every directory it writes (/etc/docker, the sshd drop-in
// directory, /var/lib/gpu-hosts, /run...), stubs on PATH for what would change the machine or reach
// the network (apt-get, systemctl, usermod, the NVIDIA tools, curl), and the real sshd for `sshd -t`.
// Needs root and unshare (util-linux); under CI=true both must be there.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { SETUP_DONE_MARKER } from "../../infra/shell/host";
import { SSHD_DROP_IN_PATH, SetupOptions, setupScript } from "../../infra/shell/setup";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { isCI, requireTool } from "../helpers/tools";

const BASE: SetupOptions = { sshUser: "gpuops", gpu: false, nvidiaDriverBranch: "570-server", dockerLog: DOCKER_LOG_ROTATION };
/** Every directory the script may write, each a fresh tmpfs in the namespace. */
const SANDBOXED = ["/etc/docker", "/etc/ssh/sshd_config.d", "/etc/udev/rules.d", "/var/lib/gpu-hosts", "/run", "/etc/apt/keyrings", "/etc/apt/sources.list.d", "/usr/share/keyrings"];

const STUB = (name: string, body = "") => `#!/bin/sh\necho "${name} $*" >>"$STUB_LOG"\n${body}\n`;
const STUBS: Record<string, string> = {
    "apt-get": STUB("apt-get"),
    systemctl: STUB("systemctl"),
    usermod: STUB("usermod"),
    modprobe: STUB("modprobe", '[ "${STUB_MODPROBE_OK:-0}" = 1 ]'),
    curl: STUB("curl", 'for a in "$@"; do case "$prev" in -o) echo key >"$a" ;; esac; prev="$a"; done'),
    gpg: STUB("gpg", 'for a in "$@"; do case "$prev" in -o) echo key >"$a" ;; esac; prev="$a"; done'),
    dpkg: STUB("dpkg", "echo amd64"),
    "nvidia-smi": STUB("nvidia-smi", '[ "${STUB_NVSMI_OK:-0}" = 1 ]'),
    // Adds the nvidia runtime to daemon.json the first time, as the real one merges it in.
    "nvidia-ctk": STUB("nvidia-ctk", 'if [ "$1 $2" = "runtime configure" ] && ! grep -q nvidia /etc/docker/daemon.json 2>/dev/null; then echo \'{"runtimes":{"nvidia":{}}}\' >/etc/docker/daemon.json; fi'),
};

interface Outcome {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
    /** Every stubbed command the script ran, in order. */
    readonly calls: string[];
    /** Files the script left in the sandbox, by path. */
    readonly files: Record<string, string>;
}

interface Machine {
    /** /etc/os-release ID and VERSION_CODENAME. Defaults to this machine's own. */
    readonly os?: { id: string; codename: string };
    /** Whether dockerd is installed. Defaults to true. */
    readonly docker?: boolean;
    /** Whether the NVIDIA driver works already. Defaults to false. */
    readonly nvidia?: boolean;
    /** Whether nvidia-ctk is installed. Defaults to false. */
    readonly toolkit?: boolean;
    /** Whether systemd runs (/run/systemd/system exists). Defaults to false. */
    readonly systemd?: boolean;
    /** Files present before the run (in sandboxed directories). */
    readonly files?: Record<string, string>;
    /** Runs the script twice in the same sandbox; the outcome is the second run's. */
    readonly twice?: boolean;
}

const requireSshd = () => ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((p) => fs.existsSync(p)) ?? "/usr/sbin/sshd";

/** Runs `script` as root in a fresh sandbox shaped like `m`. */
function runSetup(script: string, m: Machine = {}): Outcome {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-setup-"));
    try {
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        // dockerd and nvidia-ctk exist only when the machine has them: the script looks for them.
        const stubs = { ...STUBS, ...(m.docker === false ? {} : { dockerd: STUB("dockerd") }) };
        if (!m.toolkit) delete (stubs as Record<string, string>)["nvidia-ctk"];
        for (const [name, body] of Object.entries(stubs)) fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "setup.sh"), script);
        fs.writeFileSync(path.join(dir, "log"), "");
        const osRelease = path.join(dir, "os-release");
        if (m.os) fs.writeFileSync(osRelease, `ID=${m.os.id}\nVERSION_CODENAME=${m.os.codename}\n`);
        const seed = path.join(dir, "seed");
        for (const [f, content] of Object.entries(m.files ?? {})) {
            fs.mkdirSync(path.dirname(path.join(seed, f)), { recursive: true });
            fs.writeFileSync(path.join(seed, f), content);
        }
        const out = path.join(dir, "out");
        // Inside the namespace: tmpfs over each sandboxed directory (made on the host if missing, empty),
        // the seeded files, then the script (twice if asked), then a copy of what it left.
        const sandbox = [
            "set -e",
            ...SANDBOXED.map((d) => `mkdir -p ${d} && mount -t tmpfs tmpfs ${d}`),
            ...(m.os ? [`mount --bind ${osRelease} /etc/os-release`] : []),
            ...(m.systemd ? ["mkdir -p /run/systemd/system"] : []),
            `[ -d ${seed} ] && cp -a ${seed}/. /`,
            "set +e",
            ...(m.twice ? [`bash ${dir}/setup.sh >/dev/null 2>&1; : >"$STUB_LOG"`] : []),
            `bash ${dir}/setup.sh; rc=$?`,
            `for d in ${SANDBOXED.join(" ")}; do mkdir -p ${out}$d; cp -a $d/. ${out}$d/ 2>/dev/null; done`,
            "exit $rc",
        ].join("\n");
        // No /usr/sbin or /sbin on PATH: this machine's own dockerd must not count; the real sshd is linked in.
        fs.symlinkSync(requireSshd(), path.join(bin, "sshd"));
        const pathDirs = [bin, "/usr/bin", "/bin"];
        const res = spawnSync("unshare", ["-m", "--propagation", "private", "bash", "-c", sandbox], {
            encoding: "utf8",
            env: { PATH: pathDirs.join(":"), STUB_LOG: path.join(dir, "log"), STUB_NVSMI_OK: m.nvidia ? "1" : "0", HOME: dir },
            timeout: 60_000,
        });
        const files: Record<string, string> = {};
        const walk = (d: string) => {
            if (!fs.existsSync(d)) return;
            for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                const p = path.join(d, e.name);
                if (e.isDirectory()) walk(p);
                else if (e.isFile()) files[p.slice(out.length)] = fs.readFileSync(p, "utf8");
                else files[p.slice(out.length)] = "";
            }
        };
        walk(out);
        for (const d of ["/run/sshd", "/run/systemd"]) if (fs.existsSync(path.join(out, d))) files[`${d}/`] = "";
        return { status: res.status, stdout: res.stdout, stderr: res.stderr, calls: fs.readFileSync(path.join(dir, "log"), "utf8").split("\n").filter(Boolean), files };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("the host setup script, run as root in a sandbox", function () {
    this.timeout(120_000);
    before(function () {
        const why = process.getuid?.() !== 0 ? "it runs as root (mount namespaces, the real sshd -t)" : undefined;
        if (why) {
            if (isCI()) throw new Error(`CI=true: ${why}`);
            console.warn(`      skipping: ${why}`);
            this.skip();
        }
        requireTool("unshare", this);
        requireTool("sshd", this);
    });

    it("is shellcheck-clean, with a GPU and without", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(setupScript(BASE), "setup script (no GPU)", "bash");
        assertScriptShellcheckClean(setupScript({ ...BASE, gpu: true }), "setup script (GPU)", "bash");
    });

    it("an operator's server with Docker and no GPU: no install, the user joins the docker group, sshd's limits, done", () => {
        const r = runSetup(setupScript(BASE));
        assert.strictEqual(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.deepStrictEqual(r.calls.filter((c) => c.startsWith("apt-get")), [], "nothing to install");
        assert.ok(r.calls.includes("usermod -aG docker gpuops"), r.calls.join("\n"));
        assert.ok(!r.calls.some((c) => /^(nvidia|modprobe|systemctl)/.test(c)), r.calls.join("\n"));
        assert.deepStrictEqual(JSON.parse(r.files["/etc/docker/daemon.json"]), { "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "3" } });
        assert.deepStrictEqual(r.files[SSHD_DROP_IN_PATH].split("\n").filter((l) => l && !l.startsWith("#")), ["MaxStartups 64:30:128", "MaxSessions 64"]);
        assert.ok(SETUP_DONE_MARKER in r.files);
        assert.match(r.stdout, /sshd runs neither under systemd nor with \/run\/sshd\.pid: the new limits apply when it next starts/);
    });

    it("makes /run/sshd before `sshd -t` (Ubuntu 24.04 starts sshd through a socket, so it may not exist yet)", () => {
        const script = setupScript(BASE);
        const r = runSetup(script);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok("/run/sshd/" in r.files);
        // Without that line, the real sshd -t fails the whole setup on such a machine.
        const without = script.replace("  install -d -m 0755 /run/sshd\n", "");
        assert.notStrictEqual(without, script);
        const broken = runSetup(without);
        assert.notStrictEqual(broken.status, 0);
        assert.match(broken.stderr, /Missing privilege separation directory: \/run\/sshd/);
        assert.ok(!(SETUP_DONE_MARKER in broken.files), "the readiness gate would wait for the marker forever");
    });

    it("keeps a daemon.json its owner wrote, and reloads sshd through systemd only when the limits change", () => {
        const own = '{"data-root":"/srv/docker"}\n';
        const r = runSetup(setupScript(BASE), { systemd: true, files: { "/etc/docker/daemon.json": own } });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.files["/etc/docker/daemon.json"], own);
        assert.ok(r.calls.includes("systemctl try-reload-or-restart ssh.service"), r.calls.join("\n"));
        const again = runSetup(setupScript(BASE), { systemd: true, twice: true });
        assert.strictEqual(again.status, 0, again.stderr);
        assert.ok(!again.calls.some((c) => c.startsWith("systemctl")), `a second run reloads nothing: ${again.calls.join(", ")}`);
    });

    it("a GPU on Ubuntu: installs the driver, the toolkit and the nvidia runtime; restarts Docker only when the runtime was added", () => {
        const ubuntu = { id: "ubuntu", codename: "noble" };
        const r = runSetup(setupScript({ ...BASE, gpu: true }), { os: ubuntu, toolkit: true, nvidia: false });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(r.calls.some((c) => /^apt-get .* install --no-install-recommends linux-headers-\S+ nvidia-headless-570-server nvidia-utils-570-server$/.test(c)), r.calls.join("\n"));
        assert.ok(r.calls.includes("nvidia-ctk runtime configure --runtime=docker"));
        assert.ok(r.calls.includes("systemctl restart docker"), "the runtime was added: Docker restarts");
        assert.ok("/var/lib/gpu-hosts/reboot-required" in r.files, "the driver could not load without a reboot");
        const configured = runSetup(setupScript({ ...BASE, gpu: true }), { os: ubuntu, toolkit: true, nvidia: true, files: { "/etc/docker/daemon.json": '{"runtimes":{"nvidia":{}}}\n' } });
        assert.strictEqual(configured.status, 0, configured.stderr);
        assert.ok(!configured.calls.includes("systemctl restart docker"), "nothing changed: the operator's containers keep running");
        assert.deepStrictEqual(configured.calls.filter((c) => c.startsWith("apt-get")), []);
    });

    it("installs Docker from Docker's repository for the machine's own distribution, and refuses others clearly", () => {
        const debian = runSetup(setupScript(BASE), { os: { id: "debian", codename: "bookworm" }, docker: false });
        assert.strictEqual(debian.status, 0, debian.stderr);
        assert.ok(debian.calls.some((c) => /^curl -fsSL https:\/\/download\.docker\.com\/linux\/debian\/gpg -o \S+$/.test(c)), debian.calls.join("\n"));
        assert.strictEqual(debian.files["/etc/apt/sources.list.d/docker.list"], "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable\n");
        assert.ok(debian.calls.some((c) => /install docker-ce docker-ce-cli containerd\.io docker-buildx-plugin$/.test(c)));
        const fedora = runSetup(setupScript(BASE), { os: { id: "fedora", codename: "" }, docker: false });
        assert.strictEqual(fedora.status, 1);
        assert.match(fedora.stdout + fedora.stderr, /Docker Engine is installed here on Ubuntu and Debian only; install it yourself, then run this again/);
        const gpuDebian = runSetup(setupScript({ ...BASE, gpu: true }), { os: { id: "debian", codename: "bookworm" }, nvidia: false, toolkit: true });
        assert.strictEqual(gpuDebian.status, 1);
        assert.match(gpuDebian.stderr, /the NVIDIA driver is installed here on Ubuntu only: install it yourself \(nvidia-smi must work\), then run this again/);
    });
});
