// The host setup script (infra/shell/setup.sh, rendered by infra/shell/setup.ts), run for real with bash as root in a
// private mount namespace: tmpfs over every directory it writes (/etc/docker, the sshd drop-in
// directory, /var/lib/gpu-hosts, /run...), stubs on PATH for what would change the machine or reach
// the network (apt-get, systemctl, usermod, the NVIDIA tools, curl), and the real sshd for `sshd -t`.
// The package tools are stubs with state, so the driver's logic runs as it would on Ubuntu: apt-cache
// knows an index of available packages, apt-get installs only those (and refuses, as apt does, to
// change a held one), dpkg-query lists what is installed, apt-mark holds and releases, mokutil
// answers for Secure Boot, uname -r names the kernel.
// Needs root and unshare (util-linux); under CI=true both must be there.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { SETUP_DONE_MARKER } from "../../infra/shell/host";
import { DRIVER_BRANCH_PATH, SSHD_DROP_IN_PATH, SetupOptions, setupScript } from "../../infra/shell/setup";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { isCI, requireTool } from "../helpers/tools";

const BASE: SetupOptions = { sshUser: "gpuops", gpu: false, nvidiaDriverBranch: "580-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [] };
const UBUNTU = { id: "ubuntu", codename: "noble" };
/** 580-server's packages as Ubuntu names them, for the default kernel 6.8.0-60-generic. */
const USER_SPACE = ["nvidia-headless-no-dkms-580-server", "nvidia-utils-580-server"];
const PRECOMPILED = "linux-modules-nvidia-580-server-6.8.0-60-generic";
const DKMS = "nvidia-dkms-580-server";
const HEADERS = "linux-headers-6.8.0-60-generic";
/** Every directory the script may write (or read a seeded file from), each a fresh tmpfs in the namespace. */
const SANDBOXED = [
    "/etc/docker", "/etc/ssh/sshd_config.d", "/etc/udev/rules.d", "/var/lib/gpu-hosts", "/run", "/etc/apt/keyrings", "/etc/apt/sources.list.d", "/usr/share/keyrings",
    "/var/lib/shim-signed",
];

const STUB = (name: string, body = "") => `#!/bin/sh\necho "${name} $*" >>"$STUB_LOG"\n${body}\n`;
/** What every index has: the tools to add a repository, Docker's packages and the toolkit. */
const ALWAYS_AVAILABLE = ["ca-certificates", "curl", "gnupg", "docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "nvidia-container-toolkit"];
/** The packages after `install` in an apt-get command line, options left out. */
const INSTALLED_ARGS = 'pkgs=""; seen=""; for a in "$@"; do if [ "$a" = install ]; then seen=1; elif [ -n "$seen" ]; then case "$a" in -*) ;; *) pkgs="$pkgs $a" ;; esac; fi; done';
const STUBS: Record<string, string> = {
    // Installs only what the index has, refuses to change a held package (apt: "Held packages were
    // changed and -y was used without --allow-change-held-packages"), and records what it installed.
    "apt-get": STUB("apt-get", `${INSTALLED_ARGS}
for p in $pkgs; do
  grep -qxF "$p" "$STUB_DIR/available" || { echo "E: Unable to locate package $p" >&2; exit 100; }
  if grep -qxF "hi $p" "$STUB_DIR/dpkg"; then echo "E: Held packages were changed and -y was used without --allow-change-held-packages." >&2; exit 100; fi
done
for p in $pkgs; do grep -q " $p$" "$STUB_DIR/dpkg" || echo "ii $p" >>"$STUB_DIR/dpkg"; done
[ -z "$pkgs" ] || touch "$STUB_DIR/installed"`),
    "apt-cache": STUB("apt-cache", `case "$1" in
  show) grep -qxF "$2" "$STUB_DIR/available" || { echo "E: No packages found" >&2; exit 100; } ;;
  pkgnames) grep "^$2" "$STUB_DIR/available" || true ;;
  *) exit 99 ;;
esac`),
    "apt-mark": STUB("apt-mark", `op="$1"; shift
for p in "$@"; do
  case "$op" in
    hold) sed -i "s/^ii $p$/hi $p/" "$STUB_DIR/dpkg" ;;
    unhold) sed -i "s/^hi $p$/ii $p/" "$STUB_DIR/dpkg" ;;
    *) exit 99 ;;
  esac
done`),
    // dpkg-query -W -f=<format> [package]: "<status> <name>" lines, or one package's status.
    "dpkg-query": `#!/bin/sh
pkg=""; for a in "$@"; do case "$a" in -*) ;; *) pkg="$a" ;; esac; done
if [ -n "$pkg" ]; then
  st="$(awk -v p="$pkg" '$2 == p { print $1 }' "$STUB_DIR/dpkg")"
  [ -n "$st" ] || { echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; }
  printf '%s ' "$st"
else
  awk '{ printf "%s  %s\\n", $1, $2 }' "$STUB_DIR/dpkg"
fi
`,
    uname: `#!/bin/sh\nif [ "$1" = -r ]; then echo "$STUB_KERNEL"; else exec /bin/uname "$@"; fi\n`,
    // A running dockerd (the file $HOME/dockerd: the mirrors it uses) takes daemon.json's registry-mirrors
    // on `systemctl reload docker`, with the trailing "/" moby's registry.ValidateMirror gives each,
    // unless STUB_RELOAD_TAKES=0 (a reload dockerd refuses: it keeps its old settings and only logs why).
    systemctl: STUB("systemctl", `if [ "$1 $2" = "reload docker" ] && [ -e "$HOME/dockerd" ] && [ "\${STUB_RELOAD_TAKES:-1}" = 1 ]; then
  jq -c '(.["registry-mirrors"] // []) | map(rtrimstr("/") + "/")' /etc/docker/daemon.json >"$HOME/dockerd"
fi`),
    pidof: STUB("pidof", '[ -e "$HOME/dockerd" ] && echo 4242'),
    docker: STUB("docker", '[ "$1" = info ] && [ -e "$HOME/dockerd" ] && cat "$HOME/dockerd"'),
    usermod: STUB("usermod"),
    // Loads the module when it may; a loaded module answers nvidia-smi.
    modprobe: STUB("modprobe", '[ "${STUB_MODPROBE_OK:-0}" = 1 ] && touch "$STUB_DIR/loaded"'),
    curl: STUB("curl", 'for a in "$@"; do case "$prev" in -o) echo key >"$a" ;; esac; prev="$a"; done'),
    gpg: STUB("gpg", 'for a in "$@"; do case "$prev" in -o) echo key >"$a" ;; esac; prev="$a"; done'),
    dpkg: STUB("dpkg", "echo amd64"),
    // Works when the machine's driver works, or once modprobe loaded one; with STUB_NVSMI_AFTER_INSTALL
    // =mismatch, a new user space installed under the running module answers as the real one does.
    "nvidia-smi": STUB("nvidia-smi", `if [ -e "$STUB_DIR/installed" ] && [ "\${STUB_NVSMI_AFTER_INSTALL:-}" = mismatch ]; then
  echo "Failed to initialize NVML: Driver/library version mismatch"; exit 18
fi
[ "\${STUB_NVSMI_OK:-0}" = 1 ] || [ -e "$STUB_DIR/loaded" ]`),
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
    /** The installed packages afterwards, by name: "ii" installed, "hi" installed and held. */
    readonly packages: Record<string, string>;
    /** The registry mirrors the running dockerd uses after the run, when one runs. */
    readonly dockerd?: string[];
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
    /** `uname -r`. Defaults to "6.8.0-60-generic". */
    readonly kernel?: string;
    /** The packages apt's index has besides ALWAYS_AVAILABLE. Defaults to none. */
    readonly available?: readonly string[];
    /** Installed packages before the run: "ii <name>" or, held, "hi <name>". Defaults to none. */
    readonly installed?: readonly string[];
    /** What `mokutil --sb-state` says; undefined: no mokutil. */
    readonly secureBoot?: boolean;
    /** Whether `mokutil --test-key` finds a key enrolled. Defaults to false. */
    readonly mokEnrolled?: boolean;
    /** Whether `modprobe nvidia` loads a module. Defaults to false. */
    readonly modprobe?: boolean;
    /** "mismatch": nvidia-smi fails as the real one does once a user space was installed under a running module. */
    readonly afterInstall?: "mismatch";
    /** A running dockerd, using these registry mirrors (needs `systemd`: it is reloaded through systemctl). Defaults to none running. */
    readonly dockerd?: { readonly mirrors: readonly string[]; readonly reloadTakes?: boolean };
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
        if (m.secureBoot !== undefined) {
            (stubs as Record<string, string>).mokutil = STUB("mokutil", `case "$1" in
  --sb-state) echo "SecureBoot ${m.secureBoot ? "enabled" : "disabled"}" ;;
  --test-key) echo "$2 is ${m.mokEnrolled ? "already" : "not"} enrolled" ;;
esac`);
        }
        fs.writeFileSync(path.join(dir, "available"), [...ALWAYS_AVAILABLE, ...(m.available ?? [])].map((p) => `${p}\n`).join(""));
        fs.writeFileSync(path.join(dir, "dpkg"), (m.installed ?? []).map((p) => `${p}\n`).join(""));
        for (const [name, body] of Object.entries(stubs)) fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "setup.sh"), script);
        fs.writeFileSync(path.join(dir, "log"), "");
        if (m.dockerd) fs.writeFileSync(path.join(dir, "dockerd"), `${JSON.stringify(m.dockerd.mirrors)}\n`);
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
            env: {
                PATH: pathDirs.join(":"), STUB_LOG: path.join(dir, "log"), STUB_DIR: dir, HOME: dir,
                STUB_NVSMI_OK: m.nvidia ? "1" : "0", STUB_MODPROBE_OK: m.modprobe ? "1" : "0",
                STUB_KERNEL: m.kernel ?? "6.8.0-60-generic", STUB_NVSMI_AFTER_INSTALL: m.afterInstall ?? "",
                STUB_RELOAD_TAKES: m.dockerd?.reloadTakes === false ? "0" : "1",
            },
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
        const packages = Object.fromEntries(fs.readFileSync(path.join(dir, "dpkg"), "utf8").split("\n").filter(Boolean).map((l) => l.split(" ").reverse()));
        const dockerd = m.dockerd ? JSON.parse(fs.readFileSync(path.join(dir, "dockerd"), "utf8")) as string[] : undefined;
        return { status: res.status, stdout: res.stdout, stderr: res.stderr, calls: fs.readFileSync(path.join(dir, "log"), "utf8").split("\n").filter(Boolean), files, packages, dockerd };
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
        const r = runSetup(setupScript({ ...BASE, gpu: true }), { os: UBUNTU, toolkit: true, nvidia: false, available: [...USER_SPACE, DKMS, HEADERS] });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(r.calls.some((c) => c.endsWith(` install --no-install-recommends ${HEADERS} ${DKMS} ${USER_SPACE.join(" ")}`)), r.calls.join("\n"));
        assert.ok(r.calls.includes("nvidia-ctk runtime configure --runtime=docker"));
        assert.ok(r.calls.includes("systemctl restart docker"), "the runtime was added: Docker restarts");
        assert.ok("/var/lib/gpu-hosts/reboot-required" in r.files, "the driver could not load without a reboot");
        const configured = runSetup(setupScript({ ...BASE, gpu: true }), {
            os: UBUNTU, toolkit: true, nvidia: true, files: { "/etc/docker/daemon.json": '{"runtimes":{"nvidia":{}}}\n', [DRIVER_BRANCH_PATH]: "580-server\n" },
        });
        assert.strictEqual(configured.status, 0, configured.stderr);
        assert.ok(!configured.calls.includes("systemctl restart docker"), "nothing changed: the operator's containers keep running");
        assert.deepStrictEqual(configured.calls.filter((c) => c.startsWith("apt-get")), []);
    });

    describe("the NVIDIA driver: signed precompiled modules first, held against unattended upgrades, changed on purpose", () => {
        const gpu = setupScript({ ...BASE, gpu: true });
        /** The driver's installs (not apt's own tools', not the toolkit's), as the packages each names. */
        const installs = (r: Outcome) => r.calls.filter((c) => c.startsWith("apt-get") && / install .*(nvidia-(headless|dkms|utils)|linux-modules)/.test(c))
            .map((c) => c.replace(/^.* install --no-install-recommends /, ""));
        const marks = (r: Outcome) => r.calls.filter((c) => c.startsWith("apt-mark"));
        const held = (r: Outcome) => Object.entries(r.packages).filter(([, st]) => st === "hi").map(([p]) => p).sort();
        /** What the container toolkit's own apt repository installed: not the driver's. */
        const TOOLKIT = ["ii nvidia-container-toolkit", "ii libnvidia-container1"];

        it("installs Canonical's signed module for the running kernel, not DKMS, and holds every driver package (not the toolkit's)", () => {
            const r = runSetup(gpu, { os: UBUNTU, toolkit: true, modprobe: true, installed: TOOLKIT, available: [...USER_SPACE, PRECOMPILED, DKMS, HEADERS] });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(installs(r), [`${PRECOMPILED} ${USER_SPACE.join(" ")}`], "no headers, no DKMS, no flavour metapackage");
            assert.match(r.stdout, /NVIDIA kernel module: linux-modules-nvidia-580-server-6\.8\.0-60-generic \(signed, precompiled for kernel 6\.8\.0-60-generic\)/);
            assert.deepStrictEqual(held(r), [PRECOMPILED, ...USER_SPACE].sort());
            assert.strictEqual(r.packages["nvidia-container-toolkit"], "ii", "the toolkit updates as its repository says");
            assert.strictEqual(r.files[DRIVER_BRANCH_PATH], "580-server\n");
            assert.match(r.stdout, /NVIDIA driver loaded/);
            assert.ok(!("/var/lib/gpu-hosts/reboot-required" in r.files));
        });

        it("builds with DKMS only where Ubuntu publishes no precompiled module for the kernel, and holds that too", () => {
            const r = runSetup(gpu, { os: UBUNTU, toolkit: true, secureBoot: false, kernel: "6.8.0-60-custom", available: [...USER_SPACE, DKMS, "linux-headers-6.8.0-60-custom", PRECOMPILED] });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(installs(r), [`linux-headers-6.8.0-60-custom ${DKMS} ${USER_SPACE.join(" ")}`]);
            assert.match(r.stdout, /NVIDIA kernel module: nvidia-dkms-580-server, built by DKMS \(Ubuntu publishes no precompiled linux-modules-nvidia-580-server-6\.8\.0-60-custom\)/);
            assert.deepStrictEqual(held(r), [DKMS, ...USER_SPACE].sort(), "the kernel's headers are the kernel's, not the driver's");
        });

        it("with Secure Boot on and only an unsigned (DKMS) module possible: installs nothing and says why, and what to do", () => {
            const available = [
                ...USER_SPACE, DKMS, HEADERS,
                "linux-modules-nvidia-595-server-6.8.0-60-generic", "linux-modules-nvidia-595-server-open-6.8.0-60-generic",
                "linux-modules-nvidia-595-6.8.0-60-generic", // a desktop branch: the config takes server branches only
                "linux-modules-nvidia-580-server-6.8.0-71-generic", // another kernel
            ];
            const r = runSetup(gpu, { os: UBUNTU, toolkit: true, secureBoot: true, available });
            assert.strictEqual(r.status, 1);
            assert.deepStrictEqual(installs(r), [], "nothing installed");
            assert.deepStrictEqual(marks(r), []);
            assert.ok(!(SETUP_DONE_MARKER in r.files));
            assert.strictEqual(r.stderr, "gpu-hosts-setup: Secure Boot is on, and Ubuntu publishes no signed NVIDIA 580-server module for the running kernel " +
                "6.8.0-60-generic (linux-modules-nvidia-580-server-6.8.0-60-generic): the module DKMS would build is unsigned, and the kernel would " +
                "refuse to load it. Either set gpu-hosts:nvidiaDriverBranch to a branch with a signed module for this kernel (595-server " +
                "595-server-open), boot an Ubuntu kernel that has one, enroll a Machine Owner Key for DKMS to sign with (sudo " +
                "update-secureboot-policy --new-key; sudo update-secureboot-policy --enroll-key; reboot and confirm it), or turn Secure Boot off; " +
                "then run this again\n");
        });

        it("with Secure Boot on: the signed module installs; DKMS does once a key it signs with is enrolled", () => {
            const signed = runSetup(gpu, { os: UBUNTU, toolkit: true, secureBoot: true, available: [...USER_SPACE, PRECOMPILED] });
            assert.strictEqual(signed.status, 0, signed.stderr);
            assert.deepStrictEqual(installs(signed), [`${PRECOMPILED} ${USER_SPACE.join(" ")}`]);
            const mok = { "/var/lib/shim-signed/mok/MOK.der": "certificate" };
            const enrolled = runSetup(gpu, { os: UBUNTU, toolkit: true, secureBoot: true, mokEnrolled: true, files: mok, available: [...USER_SPACE, DKMS, HEADERS] });
            assert.strictEqual(enrolled.status, 0, enrolled.stderr);
            assert.deepStrictEqual(installs(enrolled), [`${HEADERS} ${DKMS} ${USER_SPACE.join(" ")}`]);
            const notEnrolled = runSetup(gpu, { os: UBUNTU, toolkit: true, secureBoot: true, mokEnrolled: false, files: mok, available: [...USER_SPACE, DKMS, HEADERS] });
            assert.strictEqual(notEnrolled.status, 1);
            assert.match(notEnrolled.stderr, /Secure Boot is on/);
        });

        it("an open branch: its own headless metapackage and signed module, and the closed branch's nvidia-smi (Ubuntu publishes no nvidia-utils-<branch>-open)", () => {
            const open = ["nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server", "linux-modules-nvidia-580-server-open-6.8.0-60-generic", "nvidia-dkms-580-server-open"];
            const r = runSetup(setupScript({ ...BASE, gpu: true, nvidiaDriverBranch: "580-server-open" }), { os: UBUNTU, toolkit: true, modprobe: true, available: open });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(installs(r), ["linux-modules-nvidia-580-server-open-6.8.0-60-generic nvidia-headless-no-dkms-580-server-open nvidia-utils-580-server"]);
            assert.strictEqual(r.files[DRIVER_BRANCH_PATH], "580-server-open\n");
            assert.ok(!open.includes("nvidia-utils-580-server-open"), "the stub's index, like Ubuntu's, has no such package: asking for it fails the setup");
        });

        it("a second run with the driver working installs nothing and keeps the packages held", () => {
            const r = runSetup(gpu, { os: UBUNTU, toolkit: true, modprobe: true, twice: true, available: [...USER_SPACE, PRECOMPILED] });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(installs(r), []);
            assert.deepStrictEqual(marks(r), [`apt-mark hold ${PRECOMPILED} ${USER_SPACE.join(" ")}`], "held, never released");
            assert.match(r.stdout, /NVIDIA driver 580-server already working; keeping it/);
        });

        it("a change of branch: releases the old packages, installs the new ones, holds them, and asks for the reboot that swaps the module", () => {
            const old = ["hi nvidia-headless-no-dkms-570-server", "hi nvidia-utils-570-server", "hi linux-modules-nvidia-570-server-6.8.0-60-generic"];
            const r = runSetup(gpu, {
                os: UBUNTU, toolkit: true, nvidia: true, modprobe: true, afterInstall: "mismatch", installed: old,
                files: { [DRIVER_BRANCH_PATH]: "570-server\n" }, available: [...USER_SPACE, PRECOMPILED],
            });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, /changing the NVIDIA driver from 570-server to 580-server/);
            const order = r.calls.filter((c) => c.startsWith("apt-mark") || / install .*nvidia-headless/.test(c)).map((c) => c.replace(/ -o \S+/g, "").replace(/ -y -q/, ""));
            assert.deepStrictEqual(order, [
                "apt-mark unhold nvidia-headless-no-dkms-570-server nvidia-utils-570-server linux-modules-nvidia-570-server-6.8.0-60-generic",
                `apt-get install --no-install-recommends ${PRECOMPILED} ${USER_SPACE.join(" ")}`,
                `apt-mark hold nvidia-headless-no-dkms-570-server nvidia-utils-570-server linux-modules-nvidia-570-server-6.8.0-60-generic ${PRECOMPILED} ${USER_SPACE.join(" ")}`,
            ]);
            // (Ubuntu's apt removes the old branch's packages, which conflict with the new ones; the stub keeps them.)
            assert.strictEqual(r.files[DRIVER_BRANCH_PATH], "580-server\n");
            assert.ok("/var/lib/gpu-hosts/reboot-required" in r.files, "the old module is still loaded: the readiness gate asks for the reboot");
        });

        it("a held driver that stopped working (booted into a kernel without its module): installs that kernel's module, releasing and holding again", () => {
            // The stub's apt, like apt, refuses to change a held package: the setup releases them first.
            const broken = runSetup(gpu, {
                os: UBUNTU, toolkit: true, modprobe: true, installed: ["hi nvidia-headless-no-dkms-580-server", "hi nvidia-utils-580-server"],
                files: { [DRIVER_BRANCH_PATH]: "580-server\n" }, kernel: "6.8.0-71-generic", available: [...USER_SPACE, "linux-modules-nvidia-580-server-6.8.0-71-generic"],
            });
            assert.strictEqual(broken.status, 0, broken.stderr);
            assert.deepStrictEqual(installs(broken), [`linux-modules-nvidia-580-server-6.8.0-71-generic ${USER_SPACE.join(" ")}`], "the module for the kernel it booted into");
            assert.deepStrictEqual(held(broken), ["linux-modules-nvidia-580-server-6.8.0-71-generic", ...USER_SPACE].sort());
            assert.match(broken.stdout, /NVIDIA driver loaded/);
        });

        it("leaves a working driver it did not install alone (no hold, no install); adopts one an earlier setup installed", () => {
            const foreign = runSetup(gpu, { os: UBUNTU, toolkit: true, nvidia: true, installed: ["ii nvidia-driver-580-open", "ii libnvidia-compute-580"] });
            assert.strictEqual(foreign.status, 0, foreign.stderr);
            assert.deepStrictEqual([...installs(foreign), ...marks(foreign)], []);
            assert.match(foreign.stdout, /an NVIDIA driver this setup did not install already works; leaving it, and its updates, to its owner/);
            assert.ok(!(DRIVER_BRANCH_PATH in foreign.files));
            const earlier = runSetup(gpu, { os: UBUNTU, toolkit: true, nvidia: true, installed: ["ii nvidia-headless-580-server", "ii nvidia-headless-no-dkms-580-server", "ii nvidia-dkms-580-server"] });
            assert.strictEqual(earlier.status, 0, earlier.stderr);
            assert.deepStrictEqual(installs(earlier), []);
            assert.deepStrictEqual(held(earlier), ["nvidia-dkms-580-server", "nvidia-headless-580-server", "nvidia-headless-no-dkms-580-server"]);
            assert.strictEqual(earlier.files[DRIVER_BRANCH_PATH], "580-server\n");
        });
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
    describe("with Docker Hub mirrors (gpu-hosts:registry.mirrors)", () => {
        const MIRRORS = ["https://mirror.gcr.io", "http://10.0.0.5:5000/"];
        const withMirrors = (o: Partial<SetupOptions> = {}) => setupScript({ ...BASE, registryMirrors: MIRRORS, ...o });

        it("is the script it was without them when there are none (byte for byte: test/golden/shell/setup.server-*.sh, recorded before mirrors)", () => {
            assert.ok(!setupScript(BASE).includes("registry-mirrors"));
            assert.ok(!setupScript({ ...BASE, gpu: true }).includes("jq"));
        });

        it("is shellcheck-clean, with a GPU and without", function () {
            requireTool("shellcheck", this);
            assertScriptShellcheckClean(withMirrors(), "setup script with mirrors (no GPU)", "bash");
            assertScriptShellcheckClean(withMirrors({ gpu: true }), "setup script with mirrors (GPU)", "bash");
        });

        it("a new VM: daemon.json gets the log rotation and the mirrors before dockerd first reads it", () => {
            const r = runSetup(withMirrors(), { os: { id: "ubuntu", codename: "noble" }, docker: false });
            assert.strictEqual(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.deepStrictEqual(JSON.parse(r.files["/etc/docker/daemon.json"]), {
                "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "3" }, "registry-mirrors": MIRRORS,
            });
            assert.match(r.stdout, /dockerd is not running: it reads the registry mirrors from \/etc\/docker\/daemon\.json when it starts/);
            assert.ok(SETUP_DONE_MARKER in r.files);
        });

        it("an operator's server: merges the mirrors into its own daemon.json, keeps the rest, reloads dockerd (no restart); a second run touches nothing", () => {
            const own = '{"data-root":"/srv/docker","registry-mirrors":["https://old.example.com"],"runtimes":{"nvidia":{"path":"nvidia-container-runtime"}}}\n';
            const r = runSetup(withMirrors(), { systemd: true, dockerd: { mirrors: ["https://old.example.com/"] }, files: { "/etc/docker/daemon.json": own } });
            assert.strictEqual(r.status, 0, `${r.stdout}\n${r.stderr}`);
            assert.deepStrictEqual(JSON.parse(r.files["/etc/docker/daemon.json"]), {
                "data-root": "/srv/docker", "registry-mirrors": MIRRORS, runtimes: { nvidia: { path: "nvidia-container-runtime" } },
            });
            assert.ok(r.calls.includes("systemctl reload docker"), r.calls.join("\n"));
            assert.ok(!r.calls.some((c) => /^systemctl (restart|stop|start) docker/.test(c)), "no restart: the operator's containers keep running");
            assert.deepStrictEqual(r.dockerd, ["https://mirror.gcr.io/", "http://10.0.0.5:5000/"], "the running dockerd uses them");
            const again = runSetup(withMirrors(), { systemd: true, twice: true, dockerd: { mirrors: [] }, files: { "/etc/docker/daemon.json": own } });
            assert.strictEqual(again.status, 0, again.stderr);
            assert.ok(!again.calls.some((c) => c.startsWith("systemctl reload docker")), `a second run reloads nothing: ${again.calls.join(", ")}`);
            assert.doesNotMatch(again.stdout, /registry mirrors written/);
        });

        it("a GPU host: the nvidia runtime and the mirrors both end up in daemon.json", () => {
            const r = runSetup(withMirrors({ gpu: true }), { os: { id: "ubuntu", codename: "noble" }, toolkit: true, nvidia: true, systemd: true, dockerd: { mirrors: [] } });
            assert.strictEqual(r.status, 0, `${r.stdout}\n${r.stderr}`);
            const daemon = JSON.parse(r.files["/etc/docker/daemon.json"]);
            assert.deepStrictEqual(daemon, { runtimes: { nvidia: {} }, "registry-mirrors": MIRRORS });
            assert.ok(r.calls.indexOf("systemctl restart docker") < r.calls.indexOf("systemctl reload docker"), r.calls.join("\n"));
        });

        it("stops before the done marker on a daemon.json that is not a JSON object, and leaves it as it was", () => {
            for (const broken of ['{"log-driver": "json-file",\n', '["registry-mirrors"]\n']) {
                const r = runSetup(withMirrors(), { files: { "/etc/docker/daemon.json": broken } });
                assert.strictEqual(r.status, 1, r.stdout);
                assert.match(r.stderr, /gpu-hosts-setup: \/etc\/docker\/daemon\.json is not a JSON object: fix it \(dockerd would not start on it either\), then run this again/);
                assert.strictEqual(r.files["/etc/docker/daemon.json"], broken);
                assert.ok(!(SETUP_DONE_MARKER in r.files), "the readiness gate sees an unfinished setup");
            }
        });

        it("fails, naming what dockerd uses, when dockerd does not take the mirrors on reload", () => {
            const r = runSetup(withMirrors(), { systemd: true, dockerd: { mirrors: ["https://old.example.com/"], reloadTakes: false } });
            assert.strictEqual(r.status, 1, r.stdout);
            assert.match(r.stderr, /dockerd did not take registry-mirrors from \/etc\/docker\/daemon\.json on reload \(it uses \["https:\/\/old\.example\.com"\]\); see its log, e\.g\. journalctl -u docker/);
            assert.ok(!(SETUP_DONE_MARKER in r.files));
        });

        it("refuses a mirror dockerd could not start on, with the option's name", () => {
            assert.throws(() => setupScript({ ...BASE, registryMirrors: ["https://mirror.example.com/path"] }),
                /^Error: setup script option registryMirrors\[0\] must be an http\(s\) URL of a registry mirror's root, e\.g\. "https:\/\/mirror\.gcr\.io" \(no user, path, query or fragment\), got "https:\/\/mirror\.example\.com\/path"$/);
        });
    });
});
