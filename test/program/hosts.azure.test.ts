// AzureGpuHost under strict mocks, built from the dev and prod stacks' real config.
import * as assert from "assert";
import { renderCloudInit } from "../../cloud-init/render";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { AzureGpuHost, UBUNTU_2404_IMAGE } from "../../infra/clouds/azure/host";
import { assertShellcheckClean, assertValidCloudConfig } from "../helpers/cloudInitChecks";
import { assertExactIngress, assertHostKeyPinned, assertPrivateKeyKeptSecret, buildHost, detailsOf, resolveFields } from "../helpers/hosts";
import { fakeEd25519Public, fakeOpensshPrivate } from "../helpers/mocks";
import { isSecretInput, plain } from "../helpers/secrets";
import { resolve } from "../helpers/stack";
import { requireTool } from "../helpers/tools";

const OPERATOR_KEY = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= alice@laptop";

const build = (stack: "dev" | "prod", overrides: Record<string, unknown> = {}, encryptionAtHost?: boolean) =>
    buildHost(stack, (cfg, args) => new AzureGpuHost("azure", { ...args, azure: cfg.azure, encryptionAtHost }), overrides);

const EXPECT = {
    dev: { vmSize: "Standard_NC4as_T4_v3", spot: true, diskGb: 100 },
    prod: { vmSize: "Standard_NC8as_T4_v3", spot: false, diskGb: 200 },
} as const;

const decode = (b64: string) => Buffer.from(b64, "base64").toString("utf8");

for (const stack of ["dev", "prod"] as const) {
    describe(`AzureGpuHost (${stack})`, () => {
        let run: Awaited<ReturnType<typeof build>>;
        before(async () => { run = await build(stack); });
        const e = EXPECT[stack];

        it(`runs an NC-series T4 size (${e.vmSize})`, async () => {
            assert.strictEqual(run.mocks.resources.find((r) => r.name === "azure")?.type, "gpu-hosts:hosts:AzureGpuHost");
            const vm = run.get("azure-vm");
            assert.strictEqual(vm.type, "azure-native:compute:VirtualMachine");
            assert.deepStrictEqual(vm.inputs.hardwareProfile, { vmSize: e.vmSize });
            assert.strictEqual((await resolve(run.host.host.gpuModel)).value, "NVIDIA T4");
        });

        it("takes its location from config through an explicit provider", () => {
            assert.strictEqual(run.get("azure-provider").inputs.location, "eastus");
            for (const r of run.mocks.resources.filter((x) => x.type.startsWith("azure-native:"))) {
                assert.match(r.provider ?? "", /pulumi:providers:azure-native::azure-provider::/, `${r.name} must use the host's provider`);
            }
            assert.strictEqual(run.get("azure-vm").inputs.location, "eastus");
        });

        it(`uses ${e.spot ? "Spot priority, deleted on eviction (npm run recover rebuilds it)" : "regular priority"}`, () => {
            const vm = run.get("azure-vm").inputs;
            if (e.spot) {
                assert.deepStrictEqual([vm.priority, vm.evictionPolicy, vm.billingProfile], ["Spot", "Delete", { maxPrice: -1 }]);
            } else {
                assert.deepStrictEqual([vm.priority, vm.evictionPolicy, vm.billingProfile], ["Regular", undefined, undefined]);
            }
            const details = run.host.host.details;
            assert.ok(details.kind === "azure", "the host's details say its kind");
            assert.strictEqual(details.spot, e.spot);
        });

        it("boots Canonical's Ubuntu 24.04 from a Premium SSD of at least 100 GB, Secure Boot off for the driver", () => {
            const sp = run.get("azure-vm").inputs.storageProfile;
            assert.deepStrictEqual(sp.imageReference, { ...UBUNTU_2404_IMAGE });
            assert.deepStrictEqual(sp.osDisk, {
                createOption: "FromImage", diskSizeGB: e.diskGb, caching: "ReadWrite", managedDisk: { storageAccountType: "Premium_LRS" }, deleteOption: "Delete",
            });
            assert.ok(sp.osDisk.diskSizeGB >= 100);
            assert.deepStrictEqual(run.get("azure-vm").inputs.securityProfile, {
                securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: false, vTpmEnabled: true },
            });
        });

        it("disables password login; the admin user gets the stack's key", async () => {
            const pub = ((await resolve(run.args.sshPublicKey)).value as string).trim();
            const os = plain(run.get("azure-vm").inputs.osProfile);
            assert.strictEqual(os.adminUsername, "ubuntu");
            assert.strictEqual(os.adminPassword, undefined);
            assert.deepStrictEqual(os.linuxConfiguration, {
                disablePasswordAuthentication: true,
                ssh: { publicKeys: [{ path: "/home/ubuntu/.ssh/authorized_keys", keyData: pub }] },
            });
        });

        it("has a static Standard public IP on its own network", async () => {
            const ip = run.get("azure-ip").inputs;
            assert.deepStrictEqual([ip.sku, ip.publicIPAllocationMethod], [{ name: "Standard", tier: "Regional" }, "Static"]);
            const nic = run.get("azure-nic").inputs;
            assert.strictEqual(nic.ipConfigurations[0].publicIPAddress.id, run.get("azure-ip").id);
            assert.strictEqual(nic.ipConfigurations[0].subnet.id, run.get("azure-subnet").id);
            assert.strictEqual(nic.networkSecurityGroup.id, run.get("azure-nsg").id);
            assert.deepStrictEqual(run.get("azure-vm").inputs.networkProfile.networkInterfaces, [{ id: run.get("azure-nic").id, primary: true, deleteOption: "Detach" }]);
            assert.match(run.get("azure-nsg").id, /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/azure-rg[0-9a-f]+\/providers\/Microsoft\.Network\/networkSecurityGroups\//);
            assert.strictEqual((await resolve(run.host.host.address)).value, "198.51.100.96");
        });

        it("opens SSH and the idle port to operators, the API port to its clients, nothing else", () => {
            assertExactIngress(run, stack);
        });

        it("tags everything that takes tags with project, stack and role", () => {
            for (const r of run.mocks.resources.filter((x) => x.type.startsWith("azure-native:") && x.type !== "azure-native:network:Subnet")) {
                assert.deepStrictEqual(r.inputs.tags, { project: "gpu-hosts", stack, role: "gpu-host" }, `${r.type} ${r.name}`);
            }
        });

        it("passes the rendered cloud-init, base64-encoded, as customData; replaced when it changes", async () => {
            const pub = ((await resolve(run.args.sshPublicKey)).value as string).trim();
            const want = renderCloudInit({
                sshUser: "ubuntu", createUser: false, sshAuthorizedKeys: [pub], nvidiaDriverBranch: run.cfg.nvidiaDriverBranch, dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [],
                hostKey: { ed25519Private: fakeOpensshPrivate("azure-host-key"), ed25519Public: fakeEd25519Public("azure-host-key") }, gceGuestAgent: false,
            });
            assert.ok(isSecretInput(run.get("azure-vm").inputs.osProfile), "the custom data holds the VM's private host key");
            assert.strictEqual(decode(plain(run.get("azure-vm").inputs.osProfile).customData), want);
            assert.deepStrictEqual(run.regs.get("azure-vm")!.replaceOnChanges, ["osProfile.customData"]);
        });

        it("reaches Docker over ssh:// at the public IP, only after the readiness gate", () => {
            assert.strictEqual(run.get("azure-docker").inputs.host, "ssh://ubuntu@198.51.100.96");
            assert.ok(run.regs.get("azure-docker")!.deps.includes("azure-ready"));
            assert.ok(run.regs.get("azure-ready")!.deps.includes("azure-ssh-gate"));
            assert.ok(run.regs.get("azure-ssh-gate")!.deps.includes("azure-nsg"));
        });

        it("keeps the private key secret everywhere", async () => {
            await assertPrivateKeyKeptSecret(run, "azure");
        });

        it("generates the VM's SSH host key, installs it with cloud-init, keeps it secret, and requires it on every connection", async () => {
            await assertHostKeyPinned(run, "azure", run.get("azure-vm").inputs.osProfile, (p) => decode(p.customData));
        });

        it("exposes per-host outputs", async () => {
            const f = await resolveFields(run.host);
            assert.deepStrictEqual(detailsOf(f), {
                kind: "azure",
                region: "eastus",
                zone: "none",
                instanceType: e.vmSize,
                spot: e.spot,
                ssh: `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-${stack}-azure -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-${stack}-azure.known_hosts ubuntu@198.51.100.96`,
            });
            assert.match(f.instanceId.value as string, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        });
    });
}

describe("AzureGpuHost user data, keys and options", () => {
    it("passes cloud-init schema and shellcheck; an ECDSA operator key goes through cloud-init only", async function () {
        requireTool("cloud-init", this);
        requireTool("shellcheck", this);
        const run = await build("dev", { sshPublicKey: OPERATOR_KEY });
        const userData = decode(plain(run.get("azure-vm").inputs.osProfile).customData);
        assert.ok(userData.includes(OPERATOR_KEY));
        assert.strictEqual(plain(run.get("azure-vm").inputs.osProfile).linuxConfiguration.ssh.publicKeys.length, 1);
        assertValidCloudConfig(userData);
        assert.ok(assertShellcheckClean(userData).length > 0);
    });

    it("turns on encryption at host only when asked", async () => {
        const run = await build("prod", {}, true);
        assert.strictEqual(run.get("azure-vm").inputs.securityProfile.encryptionAtHost, true);
    });
});
