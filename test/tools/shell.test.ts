// The host scripts as files (infra/shell/): each .sh file shellcheck-clean as it is, none unused, LF
// on every checkout; and the renderer's in-place binding means what the shell itself would read,
// checked by running both with bash for values full of quotes, spaces, dollars and newlines.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HOST_KEY } from "../helpers/hostKeyFixture";
import { renderCloudInit } from "../../cloud-init/render";
import { localReadyScript } from "../../infra/hosts/local";
import { pruneImagesScript } from "../../infra/service/hostImage";
import { routeScript } from "../../infra/service/route";
import { SSH_GATE_PROBE, sshGateScript } from "../../infra/shell/gate";
import { readinessScript } from "../../infra/shell/readiness";
import { bindInPlace, readonlyHeader, shellFilesRead, withHeader } from "../../infra/shell/render";
import { setupScript } from "../../infra/shell/setup";
import { firewallInstaller } from "../../infra/shell/firewall";
import { dataDiskScript } from "../../infra/shell/dataDisk";
import { shellcheckFindings } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";

const ROOT = path.join(__dirname, "..", "..");
const SHELL_DIR = path.join(ROOT, "infra", "shell");

/** Every .sh file under infra/shell/, relative to it. */
function shellFiles(dir = SHELL_DIR): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? shellFiles(path.join(dir, e.name)) : e.name.endsWith(".sh") ? [path.relative(SHELL_DIR, path.join(dir, e.name))] : []).sort();
}

/** Runs `script` with bash and returns what it printed. */
function bash(script: string): string {
    const r = spawnSync("bash", ["--norc", "-c", script], { encoding: "utf8" });
    assert.strictEqual(r.status, 0, r.stderr);
    return r.stdout;
}

describe("infra/shell: the host scripts as files", () => {
    it("shellcheck finds nothing in any .sh file, read as it is", function () {
        requireTool("shellcheck", this);
        const files = shellFiles();
        assert.ok(files.length >= 15, files.join(" "));
        // Fragments have no shebang; every one of them runs under bash (the gate's source too: see gate.sh).
        const problems = files.map((f) => [f, shellcheckFindings(fs.readFileSync(path.join(SHELL_DIR, f), "utf8"), "bash")])
            .filter(([, findings]) => findings !== "").map(([f, findings]) => `${f}:\n${findings}`);
        assert.deepStrictEqual(problems, []);
    });

    it("every .sh file is part of a script the program renders (none left behind)", () => {
        const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq3Jm0oKjZ2c3b1hXl5m0V8l6mQb0dY3aT0v8cJkF7P op";
        renderCloudInit({ sshUser: "ubuntu", createUser: true, sshAuthorizedKeys: [key], nvidiaDriverBranch: "570-server", dockerLog: { maxSize: "10m", maxFile: 3 }, registryMirrors: [], hostKey: HOST_KEY, gceGuestAgent: true });
        setupScript({ sshUser: "ubuntu", gpu: false, nvidiaDriverBranch: "570-server", dockerLog: { maxSize: "10m", maxFile: 3 }, registryMirrors: ["https://mirror.gcr.io"] });
        for (const gpu of [true, false]) {
            for (const cloudInit of [true, false]) readinessScript({ image: "ubuntu:24.04", timeoutSeconds: 1800, gpu, cloudInit, pullWithLogin: gpu });
        }
        sshGateScript({ target: "u@h", sshOptions: [], port: 22, timeoutSeconds: 1, probe: SSH_GATE_PROBE });
        localReadyScript();
        firewallInstaller({ ports: [{ port: 8001, from: ["203.0.113.0/24"] }] });
        dataDiskScript({ devices: ["/dev/disk/by-id/google-gpu-hosts-data"], mountDir: "/var/lib/gpu-hosts/data", sizeGb: 50, timeoutSeconds: 300 });
        pruneImagesScript("r", "r:1");
        routeScript("local-app-proxy", "blue", "http://local-app-blue-api:8000/health");
        assert.deepStrictEqual(shellFilesRead(), shellFiles());
    });

    it("keeps LF line endings on every checkout (each byte is a resource input)", function () {
        const r = spawnSync("git", ["check-attr", "eol", "--", ...shellFiles().map((f) => path.join("infra", "shell", f))], { cwd: ROOT, encoding: "utf8" });
        if (r.status !== 0) this.skip(); // not a git checkout
        for (const line of r.stdout.trim().split("\n")) assert.match(line, /: eol: lf$/, line);
    });

    describe("binding", () => {
        const values = {
            WORD: "plain-word_1.2:3/x",
            ODD: "it's \"odd\": $HOME `id` \\ * ? [a] ~/x\nsecond line",
            EMPTY: "",
            LIST: ["-i", "~/.ssh/key", "UserKnownHostsFile=~/k", "a b", "it's", "$x"],
            NUMBER: 75,
            FLAG: false,
        };
        const text = [
            'printf "<%s>\\n" "${WORD}" "${ODD}" "${EMPTY}" "${LIST[@]}" "${NUMBER}" "${FLAG}"',
            'printf "<%s>\\n" ${WORD} "in a string: ${NUMBER}s" "x${WORD}y"',
            'case 75 in "${NUMBER}") echo matched ;; esac',
            'echo $(( 1 + ${NUMBER} ))',
            "",
        ].join("\n");

        it("means what the shell means with the values set", () => {
            const assigned = Object.entries(values).map(([k, v]) => `${k}=${Array.isArray(v) ? `(${v.map((x) => `'${x.replace(/'/g, "'\\''")}'`).join(" ")})` : `'${String(v).replace(/'/g, "'\\''")}'`}`).join("\n");
            const bound = bindInPlace(text, values);
            assert.ok(!/\$\{(WORD|ODD|EMPTY|LIST|NUMBER|FLAG)\b/.test(bound), bound);
            assert.strictEqual(bash(bound), bash(`${assigned}\n${text}`));
            assert.match(bash(bound), /^<it's "odd": \$HOME `id` \\ \* \? \[a\] ~\/x\nsecond line>$/m);
        });

        it("refuses what it cannot bind faithfully, and a name the script does not have", () => {
            assert.throws(() => bindInPlace("echo ${X}\n", { X: "a b" }), /X is bound unquoted, which takes a plain word only; got "a b"/);
            assert.throws(() => bindInPlace("echo ${X}\n", { X: ["a"] }), /X is a list: write it "\$\{X\[@\]\}"/);
            assert.throws(() => bindInPlace('echo "${X[@]}"\n', { X: "a" }), /X is not a list/);
            assert.throws(() => bindInPlace("echo ${X}\n", { Y: "a" }), /the script has no \$\{Y\} to bind/);
            assert.throws(() => bindInPlace("echo ${x}\n", { x: "a" }), /UPPER_CASE/);
            assert.throws(() => bindInPlace("echo ${X}\n", { X: 1.5 }), /must be an integer/);
        });

        it("puts the header after the opening paragraph, one readonly line per value", () => {
            const header = readonlyHeader({ USER: "o'hara", GPU: true, PACKAGES: ["a", "b c"], TIMEOUT: 30 });
            assert.strictEqual(header, "readonly USER='o'\\''hara'\nreadonly GPU=true\nreadonly PACKAGES=(a 'b c')\nreadonly TIMEOUT=30\n");
            assert.strictEqual(withHeader("#!/bin/bash\nset -eu\n\necho hi\n", header), `#!/bin/bash\nset -eu\n\n${header}\necho hi\n`);
            assert.throws(() => withHeader("echo hi\n", header), /opening paragraph/);
        });
    });
});
