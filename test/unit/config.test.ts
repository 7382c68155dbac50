// Config validation: every rule's wording is pinned, problems are reported all at once, and a bad
// config stops the program before any resource exists.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, DEFAULTS, KNOWN_KEYS, loadConfig } from "../../infra/config";
import { ROOT, runProgram } from "../helpers/stack";

const raw = (o: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));

/** Slots pinned as `npm run up` pins a new stack: every config below has them unless it sets its own. */
const C1 = "c1".repeat(20);
const PINNED = { slots: { blue: { release: "workdir", commit: C1 }, green: { release: "workdir", commit: C1 } } };
const pin = (o: Record<string, unknown>) => raw({ ...PINNED, ...o });

function problems(stack: string, o: Record<string, unknown>): readonly string[] {
    try {
        loadConfig(stack, pin(o));
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("expected a ConfigError");
}

const CLOUD_OK = { clouds: ["aws"], operatorCidrs: ["203.0.113.0/24"] };

const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----\n";

describe("config: the operator's own servers (ssh)", () => {
    const servers = (hosts: unknown, extra: Record<string, unknown> = {}, secret = true) => {
        try {
            return loadConfig("dev", pin({ clouds: ["ssh"], operatorCidrs: ["203.0.113.0/24"], ssh: { hosts }, ...extra }), (k) => secret && k === "sshPrivateKey");
        } catch (e) {
            assert.ok(e instanceof ConfigError, String(e));
            return e.problems;
        }
    };

    it("reads each server with its defaults: port 22, user ubuntu, a GPU; operatorCidrs required (the idle port's firewall), apiCidrs not (the live port stays open)", () => {
        const cfg = servers([{ name: "box1", address: "203.0.113.10" }, { name: "box-2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false }]);
        assert.ok(!Array.isArray(cfg));
        assert.deepStrictEqual(servers([{ name: "box1", address: "203.0.113.10" }], { operatorCidrs: [], apiCidrs: [] }), [
            'gpu-hosts:operatorCidrs must be a non-empty list of CIDR blocks when "ssh" is in gpu-hosts:clouds (your own servers open the idle slot to them alone), got []',
        ]);
        assert.deepStrictEqual((cfg as { ssh: unknown }).ssh, { hosts: [
            { name: "box1", address: "203.0.113.10", port: 22, user: "ubuntu", gpu: true, hostKey: "" },
            { name: "box-2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false, hostKey: "" },
        ] });
    });

    it("takes a pinned SSH host key (its comment kept, spaces trimmed); refuses an RSA one, which pulumi-command could never verify", () => {
        const ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBszT9VXdGaRiWZzhoRya5djW1Qd/WIHvTMDI1vMRZkg";
        const cfg = servers([{ name: "box1", address: "203.0.113.10", hostKey: `  ${ed} root@box1\n` }]);
        assert.ok(!Array.isArray(cfg));
        assert.strictEqual((cfg as { ssh: { hosts: readonly { hostKey: string }[] } }).ssh.hosts[0].hostKey, `${ed} root@box1`);
        assert.deepStrictEqual(servers([{ name: "box1", address: "203.0.113.10", hostKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ root@box1" }]), [
            'gpu-hosts:ssh.hosts[0].hostKey must be an SSH host key line of type ssh-ed25519 or ecdsa-sha2-nistp256/384/521, e.g. the contents of /etc/ssh/ssh_host_ed25519_key.pub, got "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ root@box1"',
        ]);
    });

    it("names every bad server field at once: missing, duplicate, bad address, a kind's name, unknown fields, ports", () => {
        assert.deepStrictEqual(servers([
            { name: "box1", address: "203.0.113.10" },
            { name: "box1", address: "not an address!" },
            { address: "10.0.0.3" },
            { name: "aws", address: "10.0.0.4", port: 8000 },
            { name: "Box_5", address: "999.1.1.1", gpus: 1 },
            { name: "box6", address: "10.0.0.6", user: "Root Man", gpu: "yes" },
        ]), [
            'gpu-hosts:ssh.hosts[1].address must be an IPv4 or IPv6 address or a DNS name, e.g. "203.0.113.10" or "gpu1.example.com", got "not an address!"',
            "gpu-hosts:ssh.hosts[2].name is required",
            'gpu-hosts:ssh.hosts[3].name must be a name other than "local", "aws", "gcp", "azure", "ssh" (the other hosts\' names), got "aws"',
            "gpu-hosts:ssh.hosts[4].gpus is not a known field; known fields: name, address, port, user, gpu, hostKey",
            "gpu-hosts:ssh.hosts[4].name must be a host name of lowercase letters, digits and '-', starting with a letter (at most 32 characters), e.g. \"gpu-box-1\", got \"Box_5\"",
            'gpu-hosts:ssh.hosts[4].address must be an IPv4 or IPv6 address or a DNS name, e.g. "203.0.113.10" or "gpu1.example.com", got "999.1.1.1"',
            'gpu-hosts:ssh.hosts[5].user must be a Linux user name, e.g. "ubuntu", got "Root Man"',
            'gpu-hosts:ssh.hosts[5].gpu must be true or false, got "yes"',
            'gpu-hosts:ssh.hosts must be a list whose names are all different, got "box1"',
            "gpu-hosts:ssh.hosts[3].port must be a port other than gpu-hosts:apiPort (8000): the proxy publishes that one on the server, got 8000",
        ]);
        assert.deepStrictEqual(servers([]), ['gpu-hosts:ssh.hosts must be a non-empty list of {name, address, port?, user?, gpu?, hostKey?} when "ssh" is in gpu-hosts:clouds, got []']);
    });

    it("takes the operator's private key only as a secret, and never shows it", () => {
        assert.strictEqual((servers([{ name: "box1", address: "10.0.0.1" }], { sshPrivateKey: SSH_KEY }) as { sshPrivateKey: string }).sshPrivateKey, SSH_KEY);
        const plainText = servers([{ name: "box1", address: "10.0.0.1" }], { sshPrivateKey: SSH_KEY }, false);
        assert.deepStrictEqual(plainText, ["gpu-hosts:sshPrivateKey must be set as a secret (pulumi config set --secret gpu-hosts:sshPrivateKey < ~/.ssh/id_ed25519), got a plain-text value (not shown)"]);
        const notAKey = servers([{ name: "box1", address: "10.0.0.1" }], { sshPrivateKey: "ssh-ed25519 AAAA public" });
        assert.deepStrictEqual(notAKey, ['gpu-hosts:sshPrivateKey must be an unencrypted OpenSSH or PEM private key ("-----BEGIN OPENSSH PRIVATE KEY-----" ...), got something else (not shown: it is a secret)']);
        for (const p of [...(plainText as string[]), ...(notAKey as string[])]) assert.ok(!p.includes("b3BlbnNzaC1rZXktdjE") && !p.includes("AAAA public"), p);
    });

    it("needs a DNS name for a public certificate (tls acme), an address is fine with the internal CA", () => {
        assert.deepStrictEqual(servers([{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com" }], { tls: { mode: "acme" } }), [
            'gpu-hosts:ssh.hosts[0].address must be a DNS name when gpu-hosts:tls.mode is "acme" (a public CA issues certificates for names; use "internal" for an address), got "203.0.113.10"',
        ]);
    });
});

describe("config", () => {
    it("defaults give the local stack", () => {
        const cfg = loadConfig("local", pin({}));
        assert.deepStrictEqual(cfg.clouds, ["local"]);
        assert.strictEqual(cfg.liveColor, "blue");
        assert.strictEqual(cfg.local.bindAddress, "127.0.0.1");
    });

    it("merges a partial object with the defaults of its other fields", () => {
        const cfg = loadConfig("local", pin({ app: { port: 9000 }, memoryMb: { api: 1024 } }));
        assert.strictEqual(cfg.app.port, 9000);
        assert.deepStrictEqual(cfg.app.apiCommand, DEFAULTS.app.apiCommand);
        assert.strictEqual(cfg.memoryMb.api, 1024);
        assert.strictEqual(cfg.memoryMb.worker, DEFAULTS.memoryMb.worker);
    });

    const cases: [string, string, Record<string, unknown>, string][] = [
        ["liveColor", "local", { liveColor: "purple" }, 'gpu-hosts:liveColor must be "blue" or "green", got "purple"'],
        ["unknown key", "local", { modle: "x" }, `gpu-hosts:modle is not a known key; known keys: ${KNOWN_KEYS.join(", ")}`],
        ["unknown cloud", "local", { clouds: ["aws", "ibm"] }, 'gpu-hosts:clouds must be a list of "local", "aws", "gcp", "azure", "ssh", got "ibm"'],
        ["empty clouds", "local", { clouds: [] }, 'gpu-hosts:clouds must be a non-empty list of "local", "aws", "gcp", "azure", "ssh", got []'],
        ["repeated cloud", "local", { clouds: ["local", "local"] }, 'gpu-hosts:clouds must be a list without repeats, got ["local","local"]'],
        ["model", "local", { model: "Llama 3" }, 'gpu-hosts:model must be an Ollama model name, e.g. "llama3.2:3b", got "Llama 3"'],
        ["slot release", "local", { slots: { blue: { release: "v1;rm -rf /", commit: C1 }, green: { release: "workdir", commit: C1 } } },
            'gpu-hosts:slots.blue.release must be "workdir" or a git ref (letters, digits, ".", "_", "-", "/"; at most 100 characters), got "v1;rm -rf /"'],
        ["slot commit not a full id", "local", { slots: { blue: { release: "v1", commit: "3f2a9c1" }, green: { release: "workdir", commit: C1 } } },
            'gpu-hosts:slots.blue.commit must be the full id of a git commit (40 or 64 hex digits), or "" (the program then pins slots.blue.release itself), got "3f2a9c1"'],
        ["unknown slot", "local", { slots: { blue: { release: "workdir", commit: C1 }, green: PINNED.slots.green, red: { release: "workdir" } } },
            "gpu-hosts:slots.red is not a known field; known fields: blue, green"],
        ["slots not an object", "local", { slots: "blue" }, 'gpu-hosts:slots must be an object with fields blue, green, got "blue"'],
        ["latest image", "local", { images: { redis: "redis:latest" } },
            'gpu-hosts:images.redis must be an image with an explicit version tag other than "latest", e.g. "redis:7.4.2-alpine", got "redis:latest"'],
        ["untagged image", "local", { images: { ollama: "ollama/ollama" } },
            'gpu-hosts:images.ollama must be an image with an explicit version tag other than "latest", e.g. "redis:7.4.2-alpine", got "ollama/ollama"'],
        ["port range", "local", { apiPort: 70000 }, "gpu-hosts:apiPort must be an integer from 1 to 65535, got 70000"],
        ["same ports", "local", { apiPort: 8080, idlePort: 8080 }, "gpu-hosts:idlePort must be a port other than gpu-hosts:apiPort (8080), got 8080"],
        ["reserved port", "local", { idlePort: 6379 }, "gpu-hosts:idlePort must be a port other than 22 (SSH), 6379 (Redis) and 11434 (Ollama), got 6379"],
        ["concurrency", "local", { workerConcurrency: "abc" }, 'gpu-hosts:workerConcurrency must be an integer from 1 to 64, got "abc"'],
        ["app command", "local", { app: { apiCommand: "node dist/api.js" } },
            'gpu-hosts:app.apiCommand must be a list of non-empty strings (exec form, e.g. ["node", "dist/api.js"]), got "node dist/api.js"'],
        ["app context escapes", "local", { app: { context: "../elsewhere" } },
            'gpu-hosts:app.context must be a relative path inside the project, e.g. "app", got "../elsewhere"'],
        ["health path", "local", { app: { healthPath: "health" } }, 'gpu-hosts:app.healthPath must be an absolute URL path, e.g. "/health", got "health"'],
        ["spot", "local", { spot: "yes" }, 'gpu-hosts:spot must be true or false, got "yes"'],
        ["bad cidr", "local", { operatorCidrs: ["10.0.0.300/8"] }, 'gpu-hosts:operatorCidrs must be a list of CIDR blocks, e.g. "203.0.113.0/24", got "10.0.0.300/8"'],
        ["driver branch", "local", { nvidiaDriverBranch: "570" },
            'gpu-hosts:nvidiaDriverBranch must be an Ubuntu NVIDIA server driver branch such as "580-server" or "580-server-open", got "570"'],
        ["disk", "local", { diskGb: 50 }, "gpu-hosts:diskGb must be an integer from 100 to 4096, got 50"],
        ["ssh key", "local", { sshPublicKey: "not-a-key" },
            'gpu-hosts:sshPublicKey must be an OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp*, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com), or "" for none, got "not-a-key"'],
        ["root user", "local", { sshUser: "root" }, 'gpu-hosts:sshUser must be a Linux user name other than root, e.g. "ubuntu", got "root"'],
        ["keep alive", "local", { ollama: { keepAlive: "forever" } }, 'gpu-hosts:ollama.keepAlive must be a duration such as "24h", "30m", "0" or "-1", got "forever"'],
        ["bind address", "local", { local: { bindAddress: "localhost" } }, 'gpu-hosts:local.bindAddress must be an IP address of this machine, e.g. "127.0.0.1", got "localhost"'],
        ["empty operator cidrs", "dev", { clouds: ["aws"], operatorCidrs: [] },
            "gpu-hosts:operatorCidrs must be a non-empty list of CIDR blocks when a cloud host is enabled (it opens SSH and the idle slot), got []"],
        ["empty operator cidrs with own servers", "local", { clouds: ["local", "ssh"], ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }] } },
            'gpu-hosts:operatorCidrs must be a non-empty list of CIDR blocks when "ssh" is in gpu-hosts:clouds (your own servers open the idle slot to them alone), got []'],
        ["production own servers open to the world", "local", { clouds: ["ssh"], ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }] }, production: true, operatorCidrs: ["0.0.0.0/0"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks no wider than /16 (IPv4) or /32 (IPv6) when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production), got "0.0.0.0/0"'],
        ["empty api cidrs", "dev", { ...CLOUD_OK, apiCidrs: [] },
            "gpu-hosts:apiCidrs must be a non-empty list of CIDR blocks when a cloud host is enabled (it opens the live API port), got []"],
        ["production ssh open to the world", "prod", { ...CLOUD_OK, production: true, operatorCidrs: ["203.0.113.0/24", "0.0.0.0/0"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks no wider than /16 (IPv4) or /32 (IPv6) when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production), got "0.0.0.0/0"'],
        ["production ssh open to the world in two halves", "x", { ...CLOUD_OK, production: true, operatorCidrs: ["0.0.0.0/1", "128.0.0.0/1"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks no wider than /16 (IPv4) or /32 (IPv6) when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production), got ["0.0.0.0/1","128.0.0.0/1"]'],
        ["production ssh open to the IPv6 world", "x", { ...CLOUD_OK, production: true, operatorCidrs: ["0::/0"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks no wider than /16 (IPv4) or /32 (IPv6) when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production), got "0::/0"'],
        ["production ssh open through IPv4-mapped IPv6", "x", { ...CLOUD_OK, production: true, operatorCidrs: ["::ffff:0.0.0.0/96"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks no wider than /16 (IPv4) or /32 (IPv6) when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production), got "::ffff:0.0.0.0/96"'],
        ["a prefix written with a leading zero", "local", { operatorCidrs: ["0.0.0.0/00"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks, e.g. "203.0.113.0/24", got "0.0.0.0/00"'],
        ["an octal-looking address", "dev", { ...CLOUD_OK, apiCidrs: ["010.0.0.0/8"] },
            'gpu-hosts:apiCidrs must be a list of CIDR blocks, e.g. "0.0.0.0/0", got "010.0.0.0/8"'],
        ["host bits set", "dev", { ...CLOUD_OK, operatorCidrs: ["203.0.113.7/24"] },
            'gpu-hosts:operatorCidrs must be a list of CIDR blocks without host bits set (did you mean "203.0.113.0/24"?), got "203.0.113.7/24"'],
        ["host bits set in IPv6", "dev", { ...CLOUD_OK, apiCidrs: ["2001:db8::1/32"] },
            'gpu-hosts:apiCidrs must be a list of CIDR blocks without host bits set (did you mean "2001:db8::/32"?), got "2001:db8::1/32"'],
        ["aws region", "dev", { ...CLOUD_OK, aws: { region: "eastus", instanceType: "g4dn.xlarge" } },
            'gpu-hosts:aws.region must be an AWS region, e.g. "us-east-1", got "eastus"'],
        ["aws non-GPU type", "dev", { ...CLOUD_OK, aws: { region: "us-east-1", instanceType: "t3.large" } },
            'gpu-hosts:aws.instanceType must be a g4dn (T4), g5 (A10G) or g6 (L4) size from xlarge to 16xlarge, e.g. "g4dn.xlarge", got "t3.large"'],
        ["gcp zone", "dev", { ...CLOUD_OK, clouds: ["gcp"], gcp: { project: "my-project", zone: "us-east-1" } },
            'gpu-hosts:gcp.zone must be a GCP zone, e.g. "us-central1-a", got "us-east-1"'],
        ["gcp project missing", "dev", { ...CLOUD_OK, clouds: ["gcp"] },
            'gpu-hosts:gcp.project must be a GCP project id when "gcp" is in gpu-hosts:clouds, got ""'],
        ["gcp machine without GPU", "dev", { ...CLOUD_OK, clouds: ["gcp"], gcp: { project: "my-project", machineType: "e2-standard-4", gpuType: "" } },
            'gpu-hosts:gcp.machineType must be an n1-standard-N or n1-highmem-N machine with gpuType "nvidia-tesla-t4", or a g2-standard-N machine (L4), got "e2-standard-4 with gpuType "'],
        ["azure location", "dev", { ...CLOUD_OK, clouds: ["azure"], azure: { location: "us-east-1", vmSize: "Standard_NC4as_T4_v3" } },
            'gpu-hosts:azure.location must be an Azure location, e.g. "eastus", got "us-east-1"'],
        ["azure GRID size", "dev", { ...CLOUD_OK, clouds: ["azure"], azure: { location: "eastus", vmSize: "Standard_NV6ads_A10_v5" } },
            "gpu-hosts:azure.vmSize must be a full-GPU NC-series size (one of Standard_NC4as_T4_v3, Standard_NC8as_T4_v3, Standard_NC16as_T4_v3, Standard_NC64as_T4_v3, Standard_NC24ads_A100_v4, Standard_NC48ads_A100_v4, Standard_NC96ads_A100_v4); NVadsA10 v5 sizes are GPU slices that need NVIDIA's GRID driver, got \"Standard_NV6ads_A10_v5\""],
        ["azure non-GPU size", "dev", { ...CLOUD_OK, clouds: ["azure"], azure: { location: "eastus", vmSize: "Standard_D4s_v5" } },
            'gpu-hosts:azure.vmSize must be one of Standard_NC4as_T4_v3, Standard_NC8as_T4_v3, Standard_NC16as_T4_v3, Standard_NC64as_T4_v3, Standard_NC24ads_A100_v4, Standard_NC48ads_A100_v4, Standard_NC96ads_A100_v4, got "Standard_D4s_v5"'],
    ];
    for (const [what, stack, given, message] of cases) {
        it(`rejects ${what} with a message naming key, value and what is allowed`, () => {
            assert.deepStrictEqual(problems(stack, given), [message]);
        });
    }

    describe("API keys and HTTPS", () => {
        const KEY_A = "k".repeat(40);
        const KEY_B = "Zz0-._~+/=".repeat(4);
        const secretProblems = (o: Record<string, unknown>, secret = true) => {
            try {
                loadConfig("dev", pin({ ...CLOUD_OK, ...o }), (k) => secret && k === "apiKeys");
                return [];
            } catch (e) {
                assert.ok(e instanceof ConfigError);
                return e.problems;
            }
        };

        it("reads the operators' keys from a secret, comma-separated", () => {
            assert.deepStrictEqual(loadConfig("dev", pin({ ...CLOUD_OK, apiKeys: ` ${KEY_A}, ${KEY_B} ` }), (k) => k === "apiKeys").apiKeys, [KEY_A, KEY_B]);
            assert.deepStrictEqual(loadConfig("dev", pin(CLOUD_OK)).apiKeys, []);
            assert.deepStrictEqual(loadConfig("dev", pin(CLOUD_OK)).auth, { enabled: true });
        });

        it("refuses keys in plain text, short keys and repeats, never echoing a key", () => {
            const plainText = secretProblems({ apiKeys: KEY_A }, false);
            assert.deepStrictEqual(plainText, ["gpu-hosts:apiKeys must be set as a secret (pulumi config set --secret gpu-hosts:apiKeys ...), got a plain-text value (not shown)"]);
            const short = secretProblems({ apiKeys: `${KEY_A},short-key` });
            assert.deepStrictEqual(short, ['gpu-hosts:apiKeys must be a comma-separated list of API keys, each 32 to 256 characters of letters, digits and "._~+/=-", got 1 of 2 keys that is not (values not shown: they are secrets)']);
            const twice = secretProblems({ apiKeys: `${KEY_A},${KEY_A}` });
            assert.deepStrictEqual(twice, ["gpu-hosts:apiKeys must be a list without repeats (values not shown: they are secrets)"]);
            for (const p of [...plainText, ...short, ...twice]) assert.ok(!p.includes(KEY_A) && !p.includes("short-key"), p);
        });

        it("names the TLS mode, the missing domain for acme, a bad domain and a bad email", () => {
            assert.deepStrictEqual(secretProblems({ tls: { mode: "letsencrypt" } }), ['gpu-hosts:tls.mode must be "internal" or "acme" or "off", got "letsencrypt"']);
            assert.deepStrictEqual(secretProblems({ tls: { mode: "acme" } }),
                ['gpu-hosts:tls.domains.aws must be the DNS name of the aws host when gpu-hosts:tls.mode is "acme" (a public CA issues only for a name), got ""']);
            assert.deepStrictEqual(secretProblems({ tls: { mode: "acme", domains: { aws: "Not A Name" } } }),
                ['gpu-hosts:tls.domains.aws must be a DNS name such as "api.example.com", or "", got "Not A Name"',
                    'gpu-hosts:tls.domains.aws must be the DNS name of the aws host when gpu-hosts:tls.mode is "acme" (a public CA issues only for a name), got ""']);
            assert.deepStrictEqual(secretProblems({ tls: { mode: "acme", domains: { aws: "gpu.example.com" }, email: "ops" } }),
                ['gpu-hosts:tls.email must be an email address, or "", got "ops"']);
            assert.deepStrictEqual(secretProblems({ tls: { mode: "acme", domains: { aws: "gpu.example.com" }, email: "ops@example.com" } }), []);
        });
    });

    it("allows 0.0.0.0/0 for SSH outside a production stack, and narrow blocks in one; the prod stack is marked production", () => {
        assert.doesNotThrow(() => loadConfig("dev", pin({ ...CLOUD_OK, operatorCidrs: ["0.0.0.0/0"] })));
        assert.doesNotThrow(() => loadConfig("prod", pin({ ...CLOUD_OK, operatorCidrs: ["0.0.0.0/0"] })), "the guard follows gpu-hosts:production, not the stack's name");
        assert.doesNotThrow(() => loadConfig("any", pin({ ...CLOUD_OK, production: true, operatorCidrs: ["10.1.0.0/16", "2001:db8::/32", "203.0.113.9/32"] })));
        const prodFile = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8"));
        assert.strictEqual(prodFile.config["gpu-hosts:production"], true);
    });

    it("reports every problem at once, in one error", () => {
        try {
            loadConfig("prod", pin({ liveColor: "red", clouds: ["aws", "mars"], diskGb: 10, production: true, operatorCidrs: ["0.0.0.0/0"], aws: { instanceType: "t3.micro" } }));
            assert.fail("expected a ConfigError");
        } catch (e) {
            assert.ok(e instanceof ConfigError);
            assert.strictEqual(e.problems.length, 3, e.message);
            assert.match(e.message, /^invalid gpu-hosts configuration \(3 problems\):\n {2}- /);
            for (const key of ["clouds", "liveColor", "diskGb"]) assert.ok(e.message.includes(`gpu-hosts:${key} `), key);
        }
    });

    it("stops the program with every problem and creates nothing", async () => {
        let run: unknown;
        await assert.rejects(async () => { run = await runProgram("local", { liveColor: "purple", apiPort: 0 }); }, (e: Error) => {
            assert.strictEqual(e.message, [
                "invalid gpu-hosts configuration (2 problems):",
                "  - gpu-hosts:liveColor must be \"blue\" or \"green\", got \"purple\"",
                "  - gpu-hosts:apiPort must be an integer from 1 to 65535, got 0",
            ].join("\n"));
            return true;
        });
        assert.strictEqual(run, undefined);
    });

    it("accepts every stack's real YAML, its slots unpinned (the program pins them) or pinned", () => {
        for (const stack of ["local", "dev", "prod"]) {
            const file = YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8"));
            const unpinned: Record<string, string> = {};
            for (const [k, v] of Object.entries<unknown>(file.config)) unpinned[k.replace(/^gpu-hosts:/, "")] = typeof v === "string" ? v : JSON.stringify(v);
            assert.deepStrictEqual(loadConfig(stack, unpinned).slots, { blue: { release: "workdir", commit: "" }, green: { release: "workdir", commit: "" } }, stack);
            const given: Record<string, string> = { slots: JSON.stringify(PINNED.slots) };
            for (const [k, v] of Object.entries<unknown>(file.config)) given[k.replace(/^gpu-hosts:/, "")] = typeof v === "string" ? v : JSON.stringify(v);
            assert.doesNotThrow(() => loadConfig(stack, given), stack);
        }
    });
});

describe("Pulumi.yaml", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));

    it("declares every config key, each with a description", () => {
        assert.deepStrictEqual(Object.keys(project.config).sort(), [...KNOWN_KEYS]);
        for (const [k, decl] of Object.entries<any>(project.config)) assert.ok(decl.description, `${k} has no description`);
    });

    it("declares the same defaults the program resolves", () => {
        for (const [k, value] of Object.entries(DEFAULTS)) {
            // apiKeys is one secret string in config (comma-separated), a list once read.
            const declared = k === "apiKeys" ? (project.config[k].default === "" ? [] : project.config[k].default.split(",")) : project.config[k].default;
            assert.deepStrictEqual(declared, value, k);
        }
    });
});
