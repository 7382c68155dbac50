// Every script the program hands a host, for each input combination it uses, byte for byte. The
// rendered text is a resource input: a changed byte of the cloud-init user data replaces a cloud VM,
// one of the setup script re-runs it on a server (its sha is a trigger), one of the readiness, SSH
// gate or route commands re-runs them. These golden files were recorded from the TS string builders
// before the scripts moved to infra/shell/*.sh, and must never change as a side effect of a
// refactor. Rewrite them after an intended change only, with
// `UPDATE_GOLDEN=1 /work/tools/m test/tools/shellGoldens.test.ts`, and review the diff.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { setupScript } from "../../infra/shell/setup";
import { firewallInstaller, firewallScript } from "../../infra/shell/firewall";
import { localReadyScript } from "../../infra/hosts/local";
import { readinessScript } from "../../infra/shell/readiness";
import { awsEbsDevice, azureLunDevices, dataDiskScript } from "../../infra/shell/dataDisk";
import { keyFileDeleteScript, sshClientOptions } from "../../infra/hosts/ssh";
import { SERVER_GATE_PROBE, SSH_GATE_PROBE, sshGateScript } from "../../infra/shell/gate";
import { writeKeysScript } from "../../infra/service/apiKeys";
import { TLS_CERT_PATH, TLS_KEY_PATH } from "../../infra/service/proxy";
import { renderCaddyfile } from "../../infra/service/caddy";
import { routeScript, switchScript } from "../../infra/service/route";
import { imageIdScript, pruneImagesScript } from "../../infra/service/hostImage";
import { hostScript } from "../../scripts/lib/status/probe";
import { swapRouteScript } from "../../scripts/lib/routes";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";

const DIR = path.join(__dirname, "..", "golden", "shell");

const CLOUD_KEY = "~/.ssh/gpu-hosts/gpu-hosts-dev-aws";
const SERVER_KEY = "~/.ssh/gpu-hosts/gpu-hosts-prod-box1";
const LOG = { dockerLog: { maxSize: "10m", maxFile: 3 } };

interface Case {
    /** File under test/golden/shell/. */
    readonly file: string;
    readonly render: () => string;
    /** The shell that runs it, for shellcheck; none for text that is not shell (the Caddyfile). */
    readonly shell?: "bash" | "sh";
}

const CASES: Case[] = [
    // The setup script an operator's server gets over SSH (cloud VMs get it inside cloud-init: test/golden/cloud-init.*.yaml).
    { file: "setup.server-gpu.sh", shell: "bash", render: () => setupScript({ sshUser: "gpuops", gpu: true, nvidiaDriverBranch: "580-server", ...LOG, registryMirrors: [] }) },
    { file: "setup.server-cpu.sh", shell: "bash", render: () => setupScript({ sshUser: "ubuntu", gpu: false, nvidiaDriverBranch: "580-server", ...LOG, registryMirrors: [] }) },
    { file: "setup.server-root-open.sh", shell: "bash", render: () => setupScript({ sshUser: "root", gpu: true, nvidiaDriverBranch: "575-server-open", ...LOG, registryMirrors: [] }) },
    // With Docker Hub mirrors: the registry-mirrors part, just before the done marker.
    { file: "setup.server-mirrors.sh", shell: "bash", render: () => setupScript({ sshUser: "gpuops", gpu: true, nvidiaDriverBranch: "580-server", ...LOG, registryMirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000/"] }) },

    // The firewall an operator's server keeps in front of the idle port, and its installer (which carries it).
    { file: "firewall.server.sh", shell: "bash", render: () => firewallScript({ ports: [{ port: 8001, from: ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"] }] }) },
    { file: "firewall-install.server.sh", shell: "bash", render: () => firewallInstaller({ ports: [{ port: 8001, from: ["203.0.113.0/24"] }] }) },

    // The readiness gate: a cloud VM (GPU, cloud-init), a GPU server, a CPU server, and the combination no host uses yet.
    { file: "readiness.cloud.sh", shell: "bash", render: () => readinessScript({ image: "ubuntu:24.04", timeoutSeconds: 1800, gpu: true, cloudInit: true, pullWithLogin: false }) },
    { file: "readiness.server-gpu.sh", shell: "bash", render: () => readinessScript({ image: "nvidia/cuda:12.8.1-base-ubuntu24.04", timeoutSeconds: 1800, gpu: true, cloudInit: false, pullWithLogin: false }) },
    { file: "readiness.server-cpu.sh", shell: "bash", render: () => readinessScript({ image: "ubuntu:24.04", timeoutSeconds: 1800, gpu: false, cloudInit: false, pullWithLogin: false }) },
    { file: "readiness.cloud-cpu.sh", shell: "bash", render: () => readinessScript({ image: "ubuntu:24.04", timeoutSeconds: 60, gpu: false, cloudInit: true, pullWithLogin: false }) },
    // A GPU host with a Docker Hub login: its image pulled with the login from stdin before it runs.
    { file: "readiness.server-gpu-login.sh", shell: "bash", render: () => readinessScript({ image: "ubuntu:24.04", timeoutSeconds: 1800, gpu: true, cloudInit: false, pullWithLogin: true }) },

    // The SSH gate, run on the operator's machine, and the probe it runs on the host.
    {
        file: "gate.cloud.sh", shell: "sh",
        render: () => sshGateScript({ target: "ubuntu@198.51.100.7", sshOptions: sshClientOptions(CLOUD_KEY, `${CLOUD_KEY}.known_hosts`, false), port: 22, timeoutSeconds: 2400, probe: SSH_GATE_PROBE }),
    },
    {
        file: "gate.server.sh", shell: "sh",
        render: () => sshGateScript({ target: "gpuops@gpu1.example.com", sshOptions: sshClientOptions(SERVER_KEY, `${SERVER_KEY}.known_hosts`, false), port: 2222, timeoutSeconds: 120, probe: SERVER_GATE_PROBE }),
    },
    {
        file: "gate.server-ipv6.sh", shell: "sh",
        render: () => sshGateScript({ target: "ubuntu@2001:db8::7", sshOptions: sshClientOptions(SERVER_KEY, `${SERVER_KEY}.known_hosts`, false), port: 22, timeoutSeconds: 120, probe: SERVER_GATE_PROBE }),
    },
    { file: "probe.cloud.sh", shell: "bash", render: () => SSH_GATE_PROBE },
    { file: "probe.server.sh", shell: "bash", render: () => SERVER_GATE_PROBE },

    // The key file's companion, run on the operator's machine.
    { file: "key-file-delete.sh", shell: "sh", render: () => keyFileDeleteScript(CLOUD_KEY, `${CLOUD_KEY}.known_hosts`) },

    // A cloud fleet hub's data disk mount: AWS (by volume id), Azure (by LUN, SCSI then NVMe).
    { file: "data-disk.aws.sh", shell: "bash", render: () => dataDiskScript({ devices: [awsEbsDevice("vol-0123456789abcdef0")], mountDir: "/var/lib/gpu-hosts/data", sizeGb: 50, timeoutSeconds: 300 }) },
    { file: "data-disk.azure.sh", shell: "bash", render: () => dataDiskScript({ devices: azureLunDevices(0), mountDir: "/var/lib/gpu-hosts/data", sizeGb: 50, timeoutSeconds: 300 }) },

    // Beside the local engine.
    { file: "local-ready.sh", shell: "bash", render: () => localReadyScript() },

    // On every host: the proxy's routes and keys; the slots' images.
    { file: "route.green.sh", shell: "bash", render: () => routeScript("aws-app-proxy", "green", "http://aws-app-green-api:8000/health") },
    { file: "route.blue.sh", shell: "bash", render: () => routeScript("local-app-proxy", "blue", "http://local-app-blue-api:8000/health") },
    // The same command as `npm run promote`/`rollback` run it on each host themselves (no settle, three probes).
    { file: "route.swap.sh", shell: "bash", render: () => swapRouteScript("gcp", "green", { port: 8000, healthPath: "/health" }) },
    { file: "switch.green.sh", shell: "sh", render: () => switchScript("green") },
    { file: "switch.blue.sh", shell: "sh", render: () => switchScript("blue") },
    { file: "write-keys.sh", shell: "bash", render: () => writeKeysScript("aws-app-proxy-auth") },
    { file: "prune-images.sh", shell: "bash", render: () => pruneImagesScript("aws-app-green", "aws-app-green:v3-0123456789abcdef0123") },
    { file: "image-id.sh", shell: "sh", render: () => imageIdScript("aws-app-green:v3-0123456789abcdef0123") },

    // `npm run status`'s look at a host (not a resource input, pinned all the same).
    { file: "status.sh", shell: "sh", render: () => hostScript("aws-app-") },

    // The Caddyfile (not shell), whose validation the move touches.
    { file: "Caddyfile.off", render: () => renderCaddyfile({ upstreams: { blue: "local-app-blue-api:8000", green: "local-app-green-api:8000" }, healthPath: "/health" }) },
    {
        file: "Caddyfile.internal-auth",
        render: () => renderCaddyfile({
            upstreams: { blue: "aws-app-blue-api:8000", green: "aws-app-green-api:8000" }, healthPath: "/health",
            tls: { mode: "internal", hostname: "198.51.100.7", certFile: TLS_CERT_PATH, keyFile: TLS_KEY_PATH }, auth: { upstream: "aws-app-proxy-auth:9000", publicPaths: ["/health", "/docs", "/docs/*"] },
        }),
    },
    {
        file: "Caddyfile.internal-ipv6",
        render: () => renderCaddyfile({ upstreams: { blue: "b-api:8000", green: "g-api:8000" }, healthPath: "/health", tls: { mode: "internal", hostname: "2001:db8::7", certFile: TLS_CERT_PATH, keyFile: TLS_KEY_PATH } }),
    },
    {
        file: "Caddyfile.acme",
        render: () => renderCaddyfile({
            upstreams: { blue: "gcp-app-blue-api:8000", green: "gcp-app-green-api:8000" }, healthPath: "/health",
            tls: { mode: "acme", domain: "api.example.com", email: "ops@example.com" },
        }),
    },
];

describe("golden files of every script the program deploys (test/golden/shell/)", () => {
    for (const c of CASES) {
        it(`${c.file} byte for byte`, () => {
            const file = path.join(DIR, c.file);
            const rendered = c.render();
            if (process.env.UPDATE_GOLDEN === "1") {
                fs.mkdirSync(DIR, { recursive: true });
                fs.writeFileSync(file, rendered);
            }
            assert.ok(fs.existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
            assert.strictEqual(rendered, fs.readFileSync(file, "utf8"));
        });
    }

    it("every golden file of test/golden/shell/ has its case (none left behind)", () => {
        assert.deepStrictEqual(fs.readdirSync(DIR).sort(), CASES.map((c) => c.file).sort());
    });

    it("shellcheck finds nothing in any of them", function () {
        requireTool("shellcheck", this);
        for (const c of CASES) {
            if (c.shell) assertScriptShellcheckClean(c.render(), c.file, c.shell);
        }
    });
});
