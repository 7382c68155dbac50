// GcpGpuHost under strict mocks, built from the dev and prod stacks' real config.
import * as assert from "assert";
import * as YAML from "yaml";
import { GCE_GUEST_AGENT_CONFIG, renderCloudInit } from "../../cloud-init/render";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { GcpGpuHost, UBUNTU_2404_FAMILY, UBUNTU_IMAGE_PROJECT } from "../../infra/clouds/gcp/host";
import { assertShellcheckClean, assertValidCloudConfig } from "../helpers/cloudInitChecks";
import { assertExactIngress, assertHostKeyPinned, assertPrivateKeyKeptSecret, buildHost, detailsOf, resolveFields } from "../helpers/hosts";
import { fakeEd25519Public, fakeOpensshPrivate } from "../helpers/mocks";
import { isSecretInput, plain } from "../helpers/secrets";
import { resolve } from "../helpers/stack";
import { requireTool } from "../helpers/tools";

const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorOperatorOperatorOperatorOperatorOp alice@laptop";

const build = (stack: "dev" | "prod", overrides: Record<string, unknown> = {}) =>
    buildHost(stack, (cfg, args) => new GcpGpuHost("gcp", { ...args, gcp: cfg.gcp }), overrides);

const EXPECT = {
    dev: { project: "gpu-hosts-dev", machineType: "n1-standard-4", accelerators: [{ type: "nvidia-tesla-t4", count: 1 }], gpu: "NVIDIA T4", spot: true, diskGb: 100 },
    prod: { project: "gpu-hosts-prod", machineType: "g2-standard-8", accelerators: undefined, gpu: "NVIDIA L4", spot: false, diskGb: 200 },
} as const;

for (const stack of ["dev", "prod"] as const) {
    describe(`GcpGpuHost (${stack})`, () => {
        let run: Awaited<ReturnType<typeof build>>;
        before(async () => { run = await build(stack); });
        const e = EXPECT[stack];

        it(`runs ${e.machineType} with ${e.accelerators ? "an attached T4" : "its built-in L4 (no guestAccelerators)"}`, async () => {
            assert.strictEqual(run.mocks.resources.find((r) => r.name === "gcp")?.type, "gpu-hosts:hosts:GcpGpuHost");
            const vm = run.get("gcp-vm");
            assert.strictEqual(vm.type, "gcp:compute/instance:Instance");
            assert.strictEqual(vm.inputs.machineType, e.machineType);
            assert.strictEqual(vm.inputs.zone, "us-central1-a");
            assert.deepStrictEqual(vm.inputs.guestAccelerators, e.accelerators);
            assert.strictEqual((await resolve(run.host.host.gpuModel)).value, e.gpu);
        });

        it("takes project, region and zone from config through an explicit provider", () => {
            assert.deepStrictEqual(run.get("gcp-provider").inputs, { project: e.project, region: "us-central1", zone: "us-central1-a" });
            for (const r of run.mocks.resources.filter((x) => x.type.startsWith("gcp:"))) {
                assert.match(r.provider ?? "", /pulumi:providers:gcp::gcp-provider::/, `${r.name} must use the host's provider`);
            }
        });

        it("calls only Compute Engine, which the operator enables once: no gcp.projects.Service, nothing waits on one", () => {
            // A fresh project could not create one (infra/clouds/gcp/apis.ts); the strict mocks no
            // longer know its type, so registering one would fail this whole suite.
            assert.deepStrictEqual(run.mocks.resources.filter((r) => r.type.startsWith("gcp:") && !r.type.startsWith("gcp:compute/")).map((r) => r.type), []);
            assert.deepStrictEqual([...new Set(run.mocks.calls.filter((c) => c.token.startsWith("gcp:")).map((c) => c.token))], ["gcp:compute/getImage:getImage"]);
            for (const [name, reg] of run.regs) {
                if (reg.type.startsWith("gcp:")) assert.deepStrictEqual(reg.deps.filter((d) => d.includes("-api")), [], name);
            }
        });

        it("stops for host maintenance, as GPUs require", () => {
            assert.strictEqual(run.get("gcp-vm").inputs.scheduling.onHostMaintenance, "TERMINATE");
        });

        it(`uses the ${e.spot ? "SPOT" : "STANDARD"} provisioning model`, () => {
            const s = run.get("gcp-vm").inputs.scheduling;
            if (e.spot) {
                assert.deepStrictEqual(s, { onHostMaintenance: "TERMINATE", provisioningModel: "SPOT", preemptible: true, automaticRestart: false, instanceTerminationAction: "DELETE" });
            } else {
                assert.deepStrictEqual(s, { onHostMaintenance: "TERMINATE", provisioningModel: "STANDARD", preemptible: false, automaticRestart: true });
            }
            const details = run.host.host.details;
            assert.ok(details.kind === "gcp", "the host's details say its kind");
            assert.strictEqual(details.spot, e.spot);
        });

        it("boots Ubuntu 24.04 from the image family, on an SSD-backed disk of at least 100 GB", () => {
            const call = run.mocks.calls.find((c) => c.token === "gcp:compute/getImage:getImage")!;
            assert.deepStrictEqual(call.inputs, { project: UBUNTU_IMAGE_PROJECT, family: UBUNTU_2404_FAMILY });
            const disk = run.get("gcp-vm").inputs.bootDisk;
            assert.match(disk.initializeParams.image, /^https:\/\/www\.googleapis\.com\/compute\/v1\/projects\/ubuntu-os-cloud\/global\/images\/ubuntu-2404-noble-amd64-v\d{8}$/);
            assert.strictEqual(disk.initializeParams.type, "pd-balanced");
            assert.strictEqual(disk.initializeParams.size, e.diskGb);
            assert.ok(disk.initializeParams.size >= 100);
            // Google encrypts every persistent disk at rest; only a customer key would show up here.
            assert.strictEqual(disk.diskEncryptionKeyRaw, undefined);
            assert.deepStrictEqual(run.regs.get("gcp-vm")!.ignoreChanges, ["bootDisk.initializeParams.image"]);
            assert.deepStrictEqual(run.get("gcp-vm").inputs.shieldedInstanceConfig.enableSecureBoot, false);
        });

        it("has a static external address on its own network", async () => {
            const vm = run.get("gcp-vm");
            assert.deepStrictEqual(vm.inputs.networkInterfaces, [{
                subnetwork: run.get("gcp-subnet").id,
                accessConfigs: [{ natIp: "198.51.100.30", networkTier: "PREMIUM" }],
            }]);
            assert.strictEqual(run.get("gcp-ip").inputs.addressType, "EXTERNAL");
            assert.strictEqual(run.get("gcp-network").inputs.autoCreateSubnetworks, false);
            assert.strictEqual((await resolve(run.host.host.address)).value, "198.51.100.30");
        });

        it("opens SSH and the idle port to operators, the API port to its clients, nothing else", () => {
            assertExactIngress(run, stack);
            for (const fw of run.byType("gcp:compute/firewall:Firewall")) {
                assert.strictEqual(fw.inputs.network, `https://www.googleapis.com/compute/v1/projects/${e.project}/global/networks/gcp-network-1db7c8d`);
                assert.deepStrictEqual(fw.inputs.targetTags, run.get("gcp-vm").inputs.tags);
            }
        });

        it("labels everything that takes labels with project, stack and role", () => {
            const want = { project: "gpu-hosts", stack, role: "gpu-host" };
            assert.deepStrictEqual(run.get("gcp-vm").inputs.labels, want);
            assert.deepStrictEqual(run.get("gcp-vm").inputs.bootDisk.initializeParams.labels, want);
            assert.deepStrictEqual(run.get("gcp-ip").inputs.labels, want);
        });

        it("passes the rendered cloud-init as user-data metadata, with the SSH keys and no OS Login", async () => {
            const pub = ((await resolve(run.args.sshPublicKey)).value as string).trim();
            const want = renderCloudInit({
                sshUser: "ubuntu", createUser: true, sshAuthorizedKeys: [pub], nvidiaDriverBranch: run.cfg.nvidiaDriverBranch, dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [],
                hostKey: { ed25519Private: fakeOpensshPrivate("gcp-host-key"), ed25519Public: fakeEd25519Public("gcp-host-key") }, gceGuestAgent: true,
            });
            assert.ok(isSecretInput(run.get("gcp-vm").inputs.metadata), "the user data holds the VM's private host key");
            assert.deepStrictEqual(plain(run.get("gcp-vm").inputs.metadata), {
                "user-data": want,
                "ssh-keys": `ubuntu:${pub}`,
                "enable-oslogin": "FALSE",
                "block-project-ssh-keys": "TRUE",
            });
            assert.deepStrictEqual(run.regs.get("gcp-vm")!.replaceOnChanges, ['metadata["user-data"]']);
        });

        it("reaches Docker over ssh:// at the static address, only after the readiness gate", async () => {
            assert.strictEqual(run.get("gcp-docker").inputs.host, "ssh://ubuntu@198.51.100.30");
            assert.ok(run.regs.get("gcp-docker")!.deps.includes("gcp-ready"));
            assert.ok(run.regs.get("gcp-ready")!.deps.includes("gcp-ssh-gate"));
            assert.ok(run.regs.get("gcp-ssh-gate")!.deps.includes("gcp-allow-ssh"));
            assert.strictEqual(run.get("gcp-ready").options.replacementTrigger, JSON.stringify((await resolve(run.host.instanceId)).value));
        });

        it("keeps the private key secret everywhere", async () => {
            await assertPrivateKeyKeptSecret(run, "gcp");
        });

        it("generates the VM's SSH host key, installs it with cloud-init, keeps it secret, and requires it on every connection", async () => {
            await assertHostKeyPinned(run, "gcp", run.get("gcp-vm").inputs.metadata, (m) => m["user-data"]);
        });

        it("keeps Google's guest agent from replacing that key on the first boot", () => {
            const files = YAML.parse(plain(run.get("gcp-vm").inputs.metadata)["user-data"]).write_files;
            assert.deepStrictEqual(files.find((f: { path: string }) => f.path === GCE_GUEST_AGENT_CONFIG),
                { path: GCE_GUEST_AGENT_CONFIG, permissions: "0644", append: true, content: "[InstanceSetup]\nset_host_keys = false\n" });
        });

        it("exposes per-host outputs", async () => {
            const f = await resolveFields(run.host);
            assert.deepStrictEqual(detailsOf(f), {
                kind: "gcp",
                region: "us-central1",
                zone: "us-central1-a",
                instanceType: e.machineType,
                spot: e.spot,
                ssh: `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-${stack}-gcp -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-${stack}-gcp.known_hosts ubuntu@198.51.100.30`,
            });
            assert.match(f.instanceId.value as string, /^\d{15,20}$/);
        });
    });
}

describe("GcpGpuHost user data and keys", () => {
    it("passes cloud-init schema and shellcheck; the operator's key is in both user data and ssh-keys", async function () {
        requireTool("cloud-init", this);
        requireTool("shellcheck", this);
        const run = await build("prod", { sshPublicKey: OPERATOR_KEY });
        const md = plain(run.get("gcp-vm").inputs.metadata);
        assert.ok(md["user-data"].includes(OPERATOR_KEY));
        assert.strictEqual(md["ssh-keys"].split("\n")[1], `ubuntu:${OPERATOR_KEY}`);
        assertValidCloudConfig(md["user-data"]);
        assert.ok(assertShellcheckClean(md["user-data"]).length > 0);
    });
});
