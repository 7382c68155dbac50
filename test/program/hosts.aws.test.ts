// AwsGpuHost under strict mocks, built from the dev and prod stacks' real config.
import * as assert from "assert";
import { renderCloudInit } from "../../cloud-init/render";
import { DOCKER_LOG_ROTATION } from "../../infra/config/fixed";
import { AwsGpuHost, CANONICAL_AWS_OWNER, UBUNTU_2404_AMI_NAME } from "../../infra/clouds/aws/host";
import { assertShellcheckClean, assertValidCloudConfig } from "../helpers/cloudInitChecks";
import { assertExactIngress, assertHostKeyPinned, assertPrivateKeyKeptSecret, buildHost, detailsOf, resolveFields } from "../helpers/hosts";
import { fakeEd25519Public, fakeOpensshPrivate } from "../helpers/mocks";
import { unsecret } from "../helpers/secrets";
import { resolve } from "../helpers/stack";
import { requireTool } from "../helpers/tools";

const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorOperatorOperatorOperatorOperatorOp alice@laptop";

const build = (stack: "dev" | "prod", overrides: Record<string, unknown> = {}) =>
    buildHost(stack, (cfg, args) => new AwsGpuHost("aws", { ...args, aws: cfg.aws }), overrides);

const EXPECT = {
    dev: { instanceType: "g4dn.xlarge", gpu: "NVIDIA T4", spot: true, diskGb: 100, zone: "us-east-1a" },
    prod: { instanceType: "g6.xlarge", gpu: "NVIDIA L4", spot: false, diskGb: 200, zone: "us-east-1b" },
} as const;

for (const stack of ["dev", "prod"] as const) {
    describe(`AwsGpuHost (${stack})`, () => {
        let run: Awaited<ReturnType<typeof build>>;
        before(async () => { run = await build(stack); });
        const e = EXPECT[stack];

        it("is a GpuHost component with a GPU instance type from config", async () => {
            assert.strictEqual(run.mocks.resources.find((r) => r.name === "aws")?.type, "gpu-hosts:hosts:AwsGpuHost");
            const vm = run.get("aws-vm");
            assert.strictEqual(vm.type, "aws:ec2/instance:Instance");
            assert.strictEqual(vm.inputs.instanceType, e.instanceType);
            assert.strictEqual((await resolve(run.host.host.gpuModel)).value, e.gpu);
            assert.strictEqual(run.host.host.kind, "aws");
            assert.strictEqual(run.host.host.gpu, true);
            assert.strictEqual(run.host.host.bindAddress, "0.0.0.0");
        });

        it("takes its region from config through an explicit provider", () => {
            assert.strictEqual(run.get("aws-provider").inputs.region, "us-east-1");
            for (const r of run.mocks.resources.filter((x) => x.type.startsWith("aws:"))) {
                assert.match(r.provider ?? "", /pulumi:providers:aws::aws-provider::/, `${r.name} must use the host's provider`);
            }
        });

        it("looks up Canonical's Ubuntu 24.04 AMI and keeps the instance when a newer one appears", async () => {
            const call = run.mocks.calls.find((c) => c.token === "aws:ec2/getAmi:getAmi")!;
            assert.deepStrictEqual(call.inputs.owners, [CANONICAL_AWS_OWNER]);
            assert.strictEqual(call.inputs.mostRecent, true);
            assert.deepStrictEqual(call.inputs.filters.find((f: any) => f.name === "name").values, [UBUNTU_2404_AMI_NAME]);
            assert.match(run.get("aws-vm").inputs.ami, /^ami-0[0-9a-f]{16}$/);
            assert.deepStrictEqual(run.regs.get("aws-vm")!.ignoreChanges, ["ami"]);
        });

        it("puts the subnet in a zone where the instance type is offered", () => {
            assert.strictEqual(run.get("aws-subnet").inputs.availabilityZone, e.zone);
        });

        it("requires IMDSv2 and keeps containers off the metadata service", () => {
            assert.deepStrictEqual(run.get("aws-vm").inputs.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
        });

        it(`uses ${e.spot ? "one-time spot that terminates on interruption" : "on-demand capacity"}`, () => {
            const market = run.get("aws-vm").inputs.instanceMarketOptions;
            if (e.spot) {
                assert.deepStrictEqual(market, { marketType: "spot", spotOptions: { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" } });
            } else {
                assert.strictEqual(market, undefined);
            }
            const details = run.host.host.details;
            assert.ok(details.kind === "aws", "the host's details say its kind");
            assert.strictEqual(details.spot, e.spot);
        });

        it("boots from an encrypted gp3 root volume of at least 100 GB", () => {
            const root = run.get("aws-vm").inputs.rootBlockDevice;
            assert.strictEqual(root.volumeType, "gp3");
            assert.strictEqual(root.encrypted, true);
            assert.strictEqual(root.volumeSize, e.diskGb);
            assert.ok(root.volumeSize >= 100);
        });

        it("has an Elastic IP on its own network interface before the instance boots", async () => {
            const eip = run.get("aws-eip");
            assert.strictEqual(eip.inputs.domain, "vpc");
            const assoc = run.get("aws-eip-assoc");
            assert.strictEqual(assoc.inputs.allocationId, eip.id);
            assert.strictEqual(assoc.inputs.networkInterfaceId, run.get("aws-eni").id);
            assert.deepStrictEqual(run.get("aws-vm").inputs.primaryNetworkInterface, { networkInterfaceId: run.get("aws-eni").id });
            assert.ok(run.regs.get("aws-vm")!.deps.includes("aws-eip-assoc"));
            assert.ok(run.regs.get("aws-eip-assoc")!.deps.includes("aws-igw"), "an EIP needs the internet gateway attached");
            assert.strictEqual((await resolve(run.host.host.address)).value, "198.51.100.94");
        });

        it("opens SSH and the idle port to operators, the API port to its clients, nothing else", () => {
            assertExactIngress(run, stack);
            const sg = run.get("aws-sg");
            assert.strictEqual(sg.inputs.ingress, undefined, "no inline rules beside the standalone ones");
            assert.deepStrictEqual(run.get("aws-eni").inputs.securityGroups, [sg.id]);
        });

        it("tags every taggable resource with project, stack and role", () => {
            const untaggable = new Set(["aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/eipAssociation:EipAssociation"]);
            for (const r of run.mocks.resources.filter((x) => x.type.startsWith("aws:") && !untaggable.has(x.type))) {
                assert.deepStrictEqual(
                    { project: r.inputs.tags?.project, stack: r.inputs.tags?.stack, role: r.inputs.tags?.role },
                    { project: "gpu-hosts", stack, role: "gpu-host" }, `${r.type} ${r.name}`);
            }
            assert.strictEqual(run.get("aws-vm").inputs.rootBlockDevice.tags.role, "gpu-host");
        });

        it("hands the instance the rendered cloud-init as user data, replaced when it changes", async () => {
            const pub = ((await resolve(run.args.sshPublicKey)).value as string).trim();
            const want = renderCloudInit({
                sshUser: "ubuntu", createUser: true, sshAuthorizedKeys: [pub], nvidiaDriverBranch: run.cfg.nvidiaDriverBranch, dockerLog: DOCKER_LOG_ROTATION, registryMirrors: [],
                hostKey: { ed25519Private: fakeOpensshPrivate("aws-host-key"), ed25519Public: fakeEd25519Public("aws-host-key") }, gceGuestAgent: false,
            });
            assert.strictEqual(unsecret(run.get("aws-vm").inputs.userData), want);
            assert.strictEqual(run.get("aws-vm").inputs.userDataReplaceOnChange, true);
            assert.strictEqual(run.get("aws-key").inputs.publicKey, pub);
        });

        it("reaches Docker over ssh:// at the Elastic IP, only after the readiness gate", async () => {
            const p = run.get("aws-docker");
            assert.strictEqual(p.inputs.host, `ssh://ubuntu@${(await resolve(run.host.host.address)).value}`);
            assert.match((await resolve(run.host.host.provider.urn)).value, /pulumi:providers:docker::aws-docker$/);
            assert.ok(run.regs.get("aws-docker")!.deps.includes("aws-ready"));
            assert.ok(run.regs.get("aws-ready")!.deps.includes("aws-ssh-gate"));
            for (const rule of ["aws-ssh-94c6699e", "aws-eip-assoc"]) {
                assert.ok(run.regs.get("aws-ssh-gate")!.deps.includes(rule), `destroy must remove containers before ${rule}`);
            }
        });

        it("keeps the private key secret everywhere", async () => {
            await assertPrivateKeyKeptSecret(run, "aws");
        });

        it("generates the VM's SSH host key, installs it with cloud-init, keeps it secret, and requires it on every connection", async () => {
            await assertHostKeyPinned(run, "aws", run.get("aws-vm").inputs.userData, (u) => u);
        });

        it("exposes per-host outputs", async () => {
            const f = await resolveFields(run.host);
            assert.deepStrictEqual(detailsOf(f), {
                kind: "aws",
                region: "us-east-1",
                zone: e.zone,
                instanceType: e.instanceType,
                spot: e.spot,
                ssh: `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-${stack}-aws -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-${stack}-aws.known_hosts ubuntu@198.51.100.94`,
            });
            assert.match(f.instanceId.value as string, /^i-0[0-9a-f]{16}$/);
        });
    });
}

describe("AwsGpuHost user data", () => {
    it("passes cloud-init schema and shellcheck, with the operator's key beside the stack's", async function () {
        requireTool("cloud-init", this);
        requireTool("shellcheck", this);
        const run = await build("dev", { sshPublicKey: OPERATOR_KEY });
        const userData: string = unsecret(run.get("aws-vm").inputs.userData);
        assert.ok(userData.includes(OPERATOR_KEY));
        assertValidCloudConfig(userData);
        assert.ok(assertShellcheckClean(userData).length > 0);
    });
});
