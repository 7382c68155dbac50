// The look at a host's machine: the script (run here for real under sh, with stand-ins for docker and
// nvidia-smi first on PATH), its sections, the verdict on a failed SSH or engine, and the ssh argv.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { containerStatuses, expectedContainers, parseInspect } from "../../scripts/lib/status/containers";
import { lookFrom, parseSections, runWithInput, sshArgv } from "../../scripts/lib/status/probe";
import { scriptFor } from "../helpers/statusFixture";

/** A bin dir with stand-ins: `docker` answers ps/inspect from files, `nvidia-smi` as given. */
function stubs(o: { ps: string; psExit?: number; inspect?: string; nvidia?: string; nvidiaExit?: number }): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-probe-"));
    const file = (name: string, text: string) => {
        fs.writeFileSync(path.join(dir, name), text);
        return path.join(dir, name);
    };
    const ps = file("ps.txt", o.ps);
    const inspect = file("inspect.txt", o.inspect ?? "");
    fs.writeFileSync(path.join(dir, "docker"), [
        "#!/bin/sh",
        `case "$1" in ps) cat '${ps}'; exit ${o.psExit ?? 0};;`,
        `inspect) printf '%s\\n' "$@" > '${path.join(dir, "args")}'; cat '${inspect}';; esac`,
        "",
    ].join("\n"), { mode: 0o755 });
    if (o.nvidia !== undefined) {
        const out = file("nvidia.txt", o.nvidia);
        fs.writeFileSync(path.join(dir, "nvidia-smi"), `#!/bin/sh\ncat '${out}'\nexit ${o.nvidiaExit ?? 0}\n`, { mode: 0o755 });
    }
    return dir;
}

const run = (bin: string) => runWithInput(["sh", "-s"], scriptFor("local"), 20_000, { PATH: `${bin}:/usr/bin:/bin` });

describe("status: looking at a host", () => {
    it("the script lists the app's containers with docker inspect and the GPUs with nvidia-smi", async () => {
        const inspect = '{"name":"/local-app-redis","state":"running","health":"healthy","exitCode":0,"restarts":0}\n' +
            '{"name":"/local-app-blue-worker","state":"exited","health":"unhealthy","exitCode":137,"restarts":2}\n';
        const bin = stubs({ ps: "WARNING: a warning beside the ids\nabc123\ndef456\n", inspect, nvidia: "Tesla T4, 0, 0, 15360, 34\n" });
        const r = await run(bin);
        const look = lookFrom(r, "local", 20_000);
        assert.ok(look.ok, JSON.stringify(look));
        // Only the ids reach docker inspect, never the warning; the template is passed as one argument.
        const args = fs.readFileSync(path.join(bin, "args"), "utf8").split("\n");
        assert.deepEqual([args[0], args[1], args.slice(3, 5)], ["inspect", "--format", ["abc123", "def456"]]);
        assert.match(args[2], /^\{"name":\{\{json \.Name\}\}/);
        const found = parseInspect(look.docker.output);
        assert.deepEqual(found.map((c) => [c.name, c.state, c.health, c.exitCode, c.restarts]),
            [["local-app-redis", "running", "healthy", 0, 0], ["local-app-blue-worker", "exited", "unhealthy", 137, 2]]);
        const statuses = containerStatuses("local", found, expectedContainers("local", false));
        assert.deepEqual(statuses.map((c) => `${c.name}:${c.state}:${c.ok}`), [
            "local-app-proxy:missing:false", "local-app-redis:running:true", "local-app-ollama:missing:false", "local-app-blue-api:missing:false",
            "local-app-blue-worker:exited:false", "local-app-green-api:missing:false", "local-app-green-worker:missing:false",
        ]);
        assert.deepEqual(look.gpu, { output: "Tesla T4, 0, 0, 15360, 34\n", exitCode: 0 });
    });

    it("no nvidia-smi on the host: a section with exit 127, the look still ok", async () => {
        const look = lookFrom(await run(stubs({ ps: "" })), "local", 20_000);
        assert.ok(look.ok);
        assert.equal(look.docker.output, "");
        assert.equal(look.gpu.exitCode, 127);
    });

    it("an engine that does not answer is a host not reached, in docker's words", async () => {
        const look = lookFrom(await run(stubs({ ps: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", psExit: 1 })), "local", 20_000);
        assert.deepEqual(look, { ok: false, reason: "the Docker engine does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" });
    });

    it("a failed SSH connection or a timeout is a host not reached, in ssh's words", () => {
        assert.deepEqual(lookFrom({ code: 255, stdout: "", stderr: "ssh: connect to host 203.0.113.7 port 22: Connection refused\r\n", timedOut: false }, "ssh", 30_000),
            { ok: false, reason: "ssh failed: ssh: connect to host 203.0.113.7 port 22: Connection refused" });
        assert.deepEqual(lookFrom({ code: null, stdout: "", stderr: "", timedOut: true }, "ssh", 30_000), { ok: false, reason: "no answer within 30 s over SSH" });
    });

    it("a run is bounded by its timeout", async () => {
        const started = Date.now();
        const r = await runWithInput(["sh", "-c", "sleep 10"], "", 300);
        assert.equal(r.timedOut, true);
        assert.ok(Date.now() - started < 5000);
    });

    it("sections: output and exit code by name; one cut off has exit -1", () => {
        const s = parseSections("@@gpu-hosts-status docker\nx\n@@gpu-hosts-status exit 0\n@@gpu-hosts-status nvidia-smi\npartial");
        assert.deepEqual(s, { docker: { output: "x\n", exitCode: 0 }, "nvidia-smi": { output: "partial", exitCode: -1 } });
    });

    it("ssh argv: the output's command with batch mode and timeouts, then sh reading the script from stdin", () => {
        assert.deepEqual(sshArgv("ssh -i ~/.ssh/gpu-hosts/gpu-hosts-e2e-box -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-e2e-box.known_hosts -p 2222 e2e@127.0.0.1"), [
            "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=8", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no",
            "-i", "~/.ssh/gpu-hosts/gpu-hosts-e2e-box", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-e2e-box.known_hosts", "-p", "2222", "e2e@127.0.0.1",
            "sh", "-s",
        ]);
        assert.throws(() => sshArgv("rm -rf /"), /not an ssh command line/);
    });
});
