// Readiness gate (infra/shell/readiness.ts and readiness/*.sh): the script's text (golden file,
// shellcheck) and its behaviour, run with bash against stub cloud-init / nvidia-smi / docker / sudo
// commands in a temporary directory. Its text is pinned with every other host script's, one golden
// file per variant in test/golden/shell/ (test/tools/shellGoldens.test.ts).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { READINESS_REBOOTING_EXIT_CODE, REBOOT_REQUIRED_MARKER, SETUP_DONE_MARKER } from "../../infra/shell/host";
import { ReadinessOptions, readinessScript, validateReadinessOptions } from "../../infra/shell/readiness";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";

/** A cloud VM's gate as the program renders it with the config's default image and the fixed timeout. */
const CLOUD: ReadinessOptions = { image: "ubuntu:24.04", timeoutSeconds: 1800, gpu: true, cloudInit: true, pullWithLogin: false };

const STUBS: Record<string, string> = {
    "cloud-init": `#!/bin/sh
case "$*" in
  "status --wait") sleep "\${STUB_CI_SLEEP:-0}"; exit "\${STUB_CI_EXIT:-0}" ;;
  "status --long") echo "stub: cloud-init status --long"; exit 0 ;;
esac
exit 99
`,
    "nvidia-smi": `#!/bin/sh
# What nvidia-smi prints when the driver's user space was upgraded under the loaded module.
[ "\${STUB_NVSMI_MISMATCH:-0}" = 1 ] && { echo "Failed to initialize NVML: Driver/library version mismatch"; echo "NVML library version: 580.95.05"; exit 18; }
[ "\${STUB_NVSMI_OK:-1}" = 1 ] || { echo "NVIDIA-SMI has failed" >&2; exit 9; }
case "$*" in
  "--query-gpu=name,driver_version --format=csv,noheader") printf 'NVIDIA A10G, 570.133.20\\nNVIDIA L4, 570.133.20\\n' ;;
  *) echo "stub nvidia-smi" ;;
esac
`,
    docker: `#!/bin/sh
echo "docker $*" >>"$STUB_LOG"
# The image is on the host unless STUB_IMAGE_PRESENT=0. A pull records the client config it was given
# (DOCKER_CONFIG/config.json), and fails with Docker Hub's answer unless STUB_PULL_OK=1.
if [ "$1 $2" = "image inspect" ]; then [ "\${STUB_IMAGE_PRESENT:-1}" = 1 ]; exit $?; fi
if [ "$1" = pull ]; then
  { echo "DOCKER_CONFIG=\${DOCKER_CONFIG:-}"; cat "\${DOCKER_CONFIG:-/nonexistent}/config.json"; } >"$STUB_PULL_SEEN" 2>&1
  if [ "\${STUB_PULL_OK:-1}" = 1 ]; then echo "docker.io/library/$3"; exit 0; fi
  echo "Error response from daemon: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit" >&2
  exit 1
fi
if [ "$1" = version ]; then
  # As the login user: the docker group decides (a session with stale groups gets this error).
  if [ "\${STUB_DOCKER_USER_OK:-1}" = 1 ] || [ "\${STUB_AS:-}" = root ]; then echo linux/amd64; exit 0; fi
  echo "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock" >&2; exit 1
fi
if [ "\${STUB_DOCKER_OK:-1}" = 1 ]; then echo "GPU 0: NVIDIA A10G (UUID: GPU-0000)"; exit 0; fi
echo "docker: Error response from daemon: could not select device driver \\"\\" with capabilities: [[gpu]]" >&2
exit 125
`,
    sudo: `#!/bin/sh
echo "sudo $*" >>"$STUB_LOG"
[ "$1" = -n ] || { echo "stub sudo: expected -n" >&2; exit 1; }
shift
if [ "$1" = -u ]; then shift 2; else export STUB_AS=root; fi
exec "$@"
`,
    id: `#!/bin/sh
case "$*" in
  -u) echo "\${STUB_UID:-1000}" ;;
  -un) if [ "\${STUB_UID:-1000}" = 0 ]; then echo root; else echo ubuntu; fi ;;
esac
`,
};

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
    log: string;
}

/** A sandbox: stubs on PATH, and the script's host paths pointed into a temp dir. */
class Host {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-readiness-"));
    readonly rebootMarker = path.join(this.dir, "reboot-required");
    readonly doneMarker = path.join(this.dir, "setup-done");
    readonly cloudInitLog = path.join(this.dir, "cloud-init-output.log");
    readonly stubLog = path.join(this.dir, "stub.log");
    readonly bootId = path.join(this.dir, "boot_id");

    constructor() {
        const bin = path.join(this.dir, "bin");
        fs.mkdirSync(bin);
        for (const [name, body] of Object.entries(STUBS)) {
            fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
        }
        fs.writeFileSync(this.cloudInitLog, "line 1\nLAST LINE OF CLOUD-INIT OUTPUT\n");
        fs.writeFileSync(this.doneMarker, "");
        fs.writeFileSync(this.stubLog, "");
        fs.writeFileSync(this.bootId, "boot-2\n");
    }

    /** Runs a script without cloud-init or GPU (only the done marker is local to this sandbox). */
    runPlain(script: string, env: Record<string, string> = {}): Run {
        return this.exec(script.replace(`readonly DONE_MARKER=${SETUP_DONE_MARKER}\n`, `readonly DONE_MARKER=${this.doneMarker}\n`), env);
    }

    run(script: string, env: Record<string, string> = {}): Run {
        return this.exec(this.localise(script), env);
    }

    /** Runs a GPU server's script (no cloud-init): its markers and boot id local to this sandbox. */
    runGpuServer(script: string, env: Record<string, string> = {}): Run {
        return this.exec(this.localise(script, false), env);
    }

    /** Where the stub docker writes what a pull was given (DOCKER_CONFIG and its config.json). */
    readonly pullSeen = path.join(this.dir, "pull-seen");

    /** Runs a script with `input` on its stdin, as the gate's remote command gets it. */
    runWithStdin(script: string, input: string, env: Record<string, string> = {}): Run {
        return this.exec(this.localise(script), env, input);
    }

    private exec(script: string, env: Record<string, string>, input = ""): Run {
        const res = spawnSync("bash", ["--norc", "-c", script], {
            encoding: "utf8",
            input,
            env: { PATH: `${path.join(this.dir, "bin")}:/usr/bin:/bin`, STUB_LOG: this.stubLog, STUB_PULL_SEEN: this.pullSeen, TMPDIR: this.dir, ...env },
            timeout: 15000,
        });
        return { status: res.status, stdout: res.stdout, stderr: res.stderr, log: fs.readFileSync(this.stubLog, "utf8") };
    }

    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    private localise(script: string, cloudInit = true): string {
        const swaps: Array<[string, string]> = [
            [`readonly REBOOT_MARKER=${REBOOT_REQUIRED_MARKER}\n`, `readonly REBOOT_MARKER=${this.rebootMarker}\n`],
            [`readonly DONE_MARKER=${SETUP_DONE_MARKER}\n`, `readonly DONE_MARKER=${this.doneMarker}\n`],
            ...(cloudInit ? [["readonly CLOUD_INIT_LOG=/var/log/cloud-init-output.log\n", `readonly CLOUD_INIT_LOG=${this.cloudInitLog}\n`] as [string, string]] : []),
            ["readonly BOOT_ID_FILE=/proc/sys/kernel/random/boot_id\n", `readonly BOOT_ID_FILE=${this.bootId}\n`],
        ];
        for (const [from, to] of swaps) {
            assert.ok(script.includes(from), `script has no line ${JSON.stringify(from)}`);
            script = script.replace(from, to);
        }
        return script;
    }
}

describe("readiness gate", () => {
    const script = readinessScript(CLOUD);

    it("is deterministic, strict bash, and holds no defaults (every option required)", () => {
        assert.strictEqual(readinessScript({ ...CLOUD }), script);
        const required: Required<ReadinessOptions> = CLOUD;
        assert.deepStrictEqual(Object.keys(required).sort(), ["cloudInit", "gpu", "image", "pullWithLogin", "timeoutSeconds"]);
        assert.ok(script.startsWith("#!/bin/bash\n"));
        assert.match(script, /^set -Eeuo pipefail$/m);
        assert.match(script, /^readonly IMAGE=ubuntu:24\.04$/m);
        assert.match(script, /timeout "\$TIMEOUT_SECONDS" cloud-init status --wait/);
        assert.match(script, /as_root docker run --rm --gpus all "\$IMAGE" nvidia-smi -L/);
        assert.match(script, /sudo -n "\$@"/);
        assert.match(script, /nvidia-smi --query-gpu=name,driver_version --format=csv,noheader/);
    });

    it("quotes the image and timeout it is given", () => {
        const custom = readinessScript({ ...CLOUD, image: "nvidia/cuda:12.8.1-base-ubuntu24.04", timeoutSeconds: 60 });
        assert.match(custom, /^readonly IMAGE=nvidia\/cuda:12\.8\.1-base-ubuntu24\.04$/m);
        assert.match(custom, /^readonly TIMEOUT_SECONDS=60$/m);
    });

    it("rejects options that could inject shell or docker flags, with the config's image rule (infra/validators.ts IMAGE_PIN)", () => {
        assert.throws(() => readinessScript({ ...CLOUD, image: "ubuntu; rm -rf /" }), {
            message: 'readiness option image must be an image with an explicit version tag other than "latest", e.g. "redis:7.4.2-alpine", got "ubuntu; rm -rf /"',
        });
        assert.throws(() => readinessScript({ ...CLOUD, image: "--privileged" }), /readiness option image/);
        assert.throws(() => readinessScript({ ...CLOUD, image: "ubuntu:$(id)" }), /readiness option image/);
        assert.deepStrictEqual(validateReadinessOptions({ ...CLOUD, image: "x'y", timeoutSeconds: 1.5 }), [
            'readiness option image must be an image with an explicit version tag other than "latest", e.g. "redis:7.4.2-alpine", got "x\'y"',
            "readiness option timeoutSeconds must be an integer from 1 to 86400, got 1.5",
        ]);
        // What the config accepts for images.gpuCheck, the gate accepts.
        assert.doesNotThrow(() => readinessScript({ ...CLOUD, image: `ubuntu:24.04@sha256:${"a".repeat(64)}` }));
        assert.doesNotThrow(() => readinessScript({ ...CLOUD, image: "registry.example.com/team/cuda:12.8" }));
        assert.doesNotThrow(() => readinessScript({ ...CLOUD, image: "registry.example.com:5000/team/cuda:12.8" }));
    });

    it("shellcheck finds nothing", function () {
        requireTool("shellcheck", this);
        for (const gpu of [true, false]) {
            for (const cloudInit of [true, false]) assertScriptShellcheckClean(readinessScript({ ...CLOUD, gpu, cloudInit }), `readiness gpu=${gpu} cloudInit=${cloudInit}`, "bash");
        }
    });

    describe("behaviour against stub commands", () => {
        let host: Host;
        beforeEach(() => {
            host = new Host();
        });
        afterEach(() => host.cleanup());

        it("passes and prints one parseable GPU line per GPU when all is well", () => {
            const r = host.run(script);
            assert.strictEqual(r.status, 0, r.stderr);
            const gpuLines = r.stdout.split("\n").filter((l) => l.startsWith("GPU: "));
            assert.deepStrictEqual(gpuLines, ["GPU: NVIDIA A10G, driver 570.133.20", "GPU: NVIDIA L4, driver 570.133.20"]);
            assert.match(r.stdout, /^GPU 0: NVIDIA A10G \(UUID: GPU-0000\)$/m);
            assert.match(r.stdout, /host ready\n$/);
            assert.match(r.stdout, /^gpu-hosts: docker platform linux\/amd64$/m);
            // Not root: the GPU container through sudo -n; then Docker as the user, groups re-read by sudo -u.
            assert.deepStrictEqual(r.log.trim().split("\n"), [
                "sudo -n docker run --rm --gpus all ubuntu:24.04 nvidia-smi -L",
                "docker run --rm --gpus all ubuntu:24.04 nvidia-smi -L",
                "sudo -n -u ubuntu docker version --format {{.Server.Os}}/{{.Server.Arch}}",
                "docker version --format {{.Server.Os}}/{{.Server.Arch}}",
            ]);
        });

        it("runs docker directly as root", () => {
            const r = host.run(script, { STUB_UID: "0" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.log, "docker run --rm --gpus all ubuntu:24.04 nvidia-smi -L\ndocker version --format {{.Server.Os}}/{{.Server.Arch}}\n");
        });

        it("fails, naming the user, when the user cannot use Docker without sudo (not in the docker group)", () => {
            const r = host.run(script, { STUB_DOCKER_USER_OK: "0" });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /host NOT ready: user ubuntu cannot use Docker without sudo: permission denied while trying to connect to the Docker daemon socket/);
        });

        it("on a server without a GPU or cloud-init: no cloud-init, no driver, no GPU container; the user's Docker and its platform", () => {
            const plain = readinessScript({ ...CLOUD, gpu: false, cloudInit: false });
            assert.doesNotMatch(plain, /cloud-init|nvidia-smi|--gpus|CLOUD_INIT_LOG|REBOOT_MARKER/);
            const r = host.runPlain(plain);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "gpu-hosts: docker platform linux/amd64\ngpu-hosts: host ready\n");
            assert.strictEqual(r.log, "sudo -n -u ubuntu docker version --format {{.Server.Os}}/{{.Server.Arch}}\ndocker version --format {{.Server.Os}}/{{.Server.Arch}}\n");
            fs.rmSync(host.doneMarker);
            const unfinished = host.runPlain(plain);
            assert.strictEqual(unfinished.status, 1);
            assert.strictEqual(unfinished.stderr, `gpu-hosts: host NOT ready: the setup script did not finish (${host.doneMarker} is missing)\n`, "no cloud-init log to show");
        });

        it("continues with a warning when cloud-init had recoverable errors (exit 2)", () => {
            const r = host.run(script, { STUB_CI_EXIT: "2" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stderr, /WARNING: cloud-init finished with recoverable errors/);
            assert.match(r.stderr, /stub: cloud-init status --long/);
        });

        for (const [code, why] of [
            ["1", /host NOT ready: cloud-init failed/],
            ["3", /host NOT ready: cloud-init status --wait exited 3/],
        ] as const) {
            it(`fails with the cloud-init log tail when cloud-init exits ${code}`, () => {
                const r = host.run(script, { STUB_CI_EXIT: code });
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, why);
                assert.match(r.stderr, /LAST LINE OF CLOUD-INIT OUTPUT/);
                assert.strictEqual(r.log, `sudo -n tail -n 80 ${host.cloudInitLog}\n`);
            });
        }

        it("fails when cloud-init does not finish in time", () => {
            const r = host.run(readinessScript({ ...CLOUD, timeoutSeconds: 1 }), { STUB_CI_SLEEP: "5" });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /cloud-init did not finish within 1s/);
        });

        it("says the host is rebooting for the driver and exits non-zero", () => {
            fs.writeFileSync(host.rebootMarker, "boot-2\n"); // written during this boot
            const r = host.run(script, { STUB_NVSMI_OK: "0" });
            assert.strictEqual(r.status, READINESS_REBOOTING_EXIT_CODE);
            assert.match(r.stderr, /rebooting to load the NVIDIA driver.*run 'pulumi up' again/);
            assert.strictEqual(r.log, "", "nothing else runs while the host reboots");
        });

        it("on a GPU server: no cloud-init wait; asks the operator to reboot, and passes once the driver works", () => {
            const server = readinessScript({ ...CLOUD, cloudInit: false });
            assert.doesNotMatch(server, /cloud-init|CLOUD_INIT_LOG|TIMEOUT_SECONDS/);
            fs.writeFileSync(host.rebootMarker, "boot-2\n");
            const r = host.runGpuServer(server, { STUB_NVSMI_OK: "0" });
            assert.strictEqual(r.status, READINESS_REBOOTING_EXIT_CODE);
            assert.match(r.stderr, /loads only after a reboot: reboot the server, then run 'npm run up' again/);
            assert.strictEqual(r.log, "", "nothing else runs before the reboot");
            const after = host.runGpuServer(server);
            assert.strictEqual(after.status, 0, after.stderr);
            assert.match(after.stdout, /^GPU: NVIDIA A10G, driver 570\.133\.20$/m);
            const broken = host.runGpuServer(server, { STUB_DOCKER_OK: "0" });
            assert.strictEqual(broken.status, 1);
            assert.doesNotMatch(broken.stderr, /cloud-init/, "no cloud-init log to show on a server");
        });

        it("ignores a stale reboot marker once the driver works", () => {
            fs.writeFileSync(host.rebootMarker, "boot-1\n");
            assert.strictEqual(host.run(script).status, 0);
        });

        it("fails clearly when the driver still does not load after the reboot", () => {
            fs.writeFileSync(host.rebootMarker, "boot-1\n"); // written before this boot
            const r = host.run(script, { STUB_NVSMI_OK: "0" });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /the NVIDIA driver still does not load after the reboot/);
            assert.match(r.stderr, /LAST LINE OF CLOUD-INIT OUTPUT/);
        });

        it("fails when the setup script did not finish", () => {
            fs.rmSync(host.doneMarker);
            const r = host.run(script);
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /setup script did not finish/);
        });

        it("fails when nvidia-smi cannot reach the driver, with what nvidia-smi said", () => {
            const r = host.run(script, { STUB_NVSMI_OK: "0" });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /host NOT ready: nvidia-smi cannot reach the NVIDIA driver: NVIDIA-SMI has failed\n/);
            assert.match(r.stderr, /LAST LINE OF CLOUD-INIT OUTPUT/);
        });

        it("recognises \"Driver/library version mismatch\" (a user space upgraded under the loaded module): says what it is and that a reboot fixes it", () => {
            for (const [label, run] of [["cloud VM", () => host.run(script, { STUB_NVSMI_MISMATCH: "1" })], ["server", () => host.runGpuServer(readinessScript({ ...CLOUD, cloudInit: false }), { STUB_NVSMI_MISMATCH: "1" })]] as const) {
                const r = run();
                assert.strictEqual(r.status, 1, label);
                assert.match(r.stderr, new RegExp("^gpu-hosts: host NOT ready: the NVIDIA driver's packages were upgraded under its running kernel module " +
                    "\\(nvidia-smi: Driver/library version mismatch; see: sudo dmesg \\| grep NVRM\\)\\. Reboot the host to load the module that matches, " +
                    "then deploy again\\. The setup holds the driver's packages so that unattended-upgrades leaves them alone: check apt-mark showhold$", "m"), label);
                assert.ok(!r.log.includes("docker"), `${label}: no container is started on a broken driver: ${r.log}`);
            }
        });

        it("fails once, with the log tail, when the GPU container fails", () => {
            const r = host.run(script, { STUB_DOCKER_OK: "0" });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /could not select device driver/);
            assert.match(r.stderr, /command failed \(exit 125\) at line \d+: in_container=/);
            assert.strictEqual(r.stderr.split("host NOT ready").length - 1, 1, r.stderr);
            assert.match(r.stderr, /LAST LINE OF CLOUD-INIT OUTPUT/);
        });
        describe("with a Docker Hub login (gpu-hosts:registry.username)", () => {
            const login = readinessScript({ ...CLOUD, pullWithLogin: true });
            const CONFIG = '{"auths":{"https://index.docker.io/v1/":{"auth":"Z3B1b3BzOmRja3JfcGF0X3NlY3JldA=="}}}\n';
            const loginDirs = () => fs.readdirSync(host.dir).filter((f) => f.startsWith("tmp."));

            it("is the gate it was without one, byte for byte, when there is none; shellcheck-clean with one", function () {
                assert.strictEqual(readinessScript({ ...CLOUD, pullWithLogin: false }), script);
                assert.ok(!script.includes("DOCKER_CONFIG"));
                assert.strictEqual(readinessScript({ ...CLOUD, gpu: false, pullWithLogin: true }), readinessScript({ ...CLOUD, gpu: false }), "no GPU: no image to pull");
                requireTool("shellcheck", this);
                assertScriptShellcheckClean(login, "readiness with a login", "bash");
            });

            it("pulls the image with the login from its stdin before running it, and leaves no login behind", () => {
                const r = host.runWithStdin(login, CONFIG, { STUB_IMAGE_PRESENT: "0" });
                assert.strictEqual(r.status, 0, r.stderr);
                assert.match(r.stdout, /^gpu-hosts: pulling ubuntu:24\.04 with the Docker Hub login$/m);
                const seen = fs.readFileSync(host.pullSeen, "utf8").split("\n");
                assert.match(seen[0], /^DOCKER_CONFIG=.+\/tmp\.[A-Za-z0-9]+$/);
                assert.strictEqual(`${seen.slice(1).join("\n")}`, CONFIG, "the pull got the config from stdin, as sent");
                const log = r.log.trim().split("\n");
                assert.ok(log.indexOf(`sudo -n env ${seen[0]} docker pull --quiet ubuntu:24.04`) >= 0, r.log);
                assert.ok(log.findIndex((l) => l.includes("docker pull")) < log.findIndex((l) => l.includes("docker run")), "pulled before it runs");
                assert.deepStrictEqual(loginDirs(), [], "the config is removed");
                assert.ok(!r.log.includes("Z3B1b3Bz") && !r.stdout.includes("Z3B1b3Bz") && !r.stderr.includes("Z3B1b3Bz"), "the login is in no argv or output");
            });

            it("pulls nothing when the host has the image already (a re-run, a retry, a recover of the same machine)", () => {
                const r = host.runWithStdin(login, CONFIG);
                assert.strictEqual(r.status, 0, r.stderr);
                assert.ok(!r.log.includes("docker pull"), r.log);
                assert.ok(!fs.existsSync(host.pullSeen));
                assert.deepStrictEqual(loginDirs(), []);
            });

            it("fails with Docker Hub's answer when the pull is refused, and still removes the login", () => {
                const r = host.runWithStdin(login, CONFIG, { STUB_IMAGE_PRESENT: "0", STUB_PULL_OK: "0" });
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /toomanyrequests: You have reached your unauthenticated pull rate limit/);
                assert.match(r.stderr, /host NOT ready: could not pull ubuntu:24\.04 with the Docker Hub login of gpu-hosts:registry\.username \(see the error above\)/);
                assert.ok(!r.log.includes("docker run"), "nothing runs without the image");
                assert.deepStrictEqual(loginDirs(), []);
            });
        });
    });
});
