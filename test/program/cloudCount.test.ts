// More than one host per cloud (gpu-hosts:<cloud>.count) through the real index.ts under strict
// mocks: each host of a count is a host of its own (its own network, firewall, VM, app stack and
// outputs), the first keeps the cloud's name, and each is placed on its own.
import * as assert from "assert";
import { ingressOf } from "../helpers/hosts";
import { plain } from "../helpers/secrets";
import { ProgramRun, changedInputs, runProgram } from "../helpers/stack";

const AWS_VM = "aws:ec2/instance:Instance";
const GCP_VM = "gcp:compute/instance:Instance";
const AZURE_VM = "azure-native:compute:VirtualMachine";
const VM_TYPES = [AWS_VM, GCP_VM, AZURE_VM];

/** Names of the resources of a run whose name starts with `<host>-`. */
const namesOf = (run: ProgramRun, host: string) => run.resources.filter((r) => r.name.startsWith(`${host}-`)).map((r) => r.name);

describe("gpu-hosts:<cloud>.count: more than one GPU host per cloud", () => {
    // The dev stack with two AWS hosts and one GCP host.
    const TWO_AWS = { clouds: ["aws", "gcp"], aws: { region: "us-east-1", instanceType: "g4dn.xlarge", count: 2 } };
    let run: ProgramRun;
    let one: ProgramRun;
    before(async () => {
        run = await runProgram("dev", TWO_AWS);
        one = await runProgram("dev", { ...TWO_AWS, aws: { ...TWO_AWS.aws, count: 1 } });
    });

    it("plans three VMs with distinct names and ids: aws, aws-2 and gcp", () => {
        const vms = run.resources.filter((r) => VM_TYPES.includes(r.type));
        assert.deepStrictEqual(vms.map((r) => r.name).sort(), ["aws-2-vm", "aws-vm", "gcp-vm"]);
        assert.strictEqual(new Set(vms.map((r) => r.urn)).size, 3);
        assert.strictEqual(run.get("aws-2-vm").inputs.instanceType, "g4dn.xlarge");
    });

    it("gives the second AWS host a network, security group, key, address and provider of its own", () => {
        for (const part of ["provider", "vpc", "igw", "subnet", "routes", "sg", "egress", "key", "eni", "eip", "eip-assoc"]) {
            const first = run.get(`aws-${part}`);
            const second = run.get(`aws-2-${part}`);
            assert.strictEqual(first.type, second.type, part);
            assert.notStrictEqual(first.urn, second.urn, part);
        }
        // Its resources' Name tags name the host, so the console tells the two apart.
        assert.strictEqual(run.get("aws-2-vm").inputs.tags.Name, "gpu-hosts-dev-aws-2-vm");
        assert.strictEqual(run.get("aws-vm").inputs.tags.Name, "gpu-hosts-dev-aws-vm");
        // Its instance sits behind its own interface, in its own security group.
        assert.notStrictEqual(run.get("aws-2-vm").inputs.primaryNetworkInterface.networkInterfaceId, run.get("aws-vm").inputs.primaryNetworkInterface.networkInterfaceId);
        assert.notStrictEqual(run.get("aws-2-eni").inputs.securityGroups[0], run.get("aws-eni").inputs.securityGroups[0]);
    });

    it("opens each AWS host's own security group to the same policy: SSH, idle and live port, nothing else", () => {
        const rules = ingressOf(run.mocks.resources).filter((r) => r.resource.startsWith("aws-"));
        const of = (host: string) => rules.filter((r) => r.resource.startsWith(`${host}-`) && !r.resource.startsWith(`${host}-2-`))
            .map((r) => `${r.from} ${r.source}`).sort();
        assert.ok(of("aws").length > 0);
        assert.deepStrictEqual(of("aws-2"), of("aws"));
        const sgOf = (name: string) => run.get(name).inputs.securityGroupId;
        const firstSg = new Set(rules.filter((r) => !r.resource.startsWith("aws-2-")).map((r) => sgOf(r.resource)));
        const secondSg = new Set(rules.filter((r) => r.resource.startsWith("aws-2-")).map((r) => sgOf(r.resource)));
        assert.strictEqual(firstSg.size, 1);
        assert.strictEqual(secondSg.size, 1);
        assert.notDeepStrictEqual([...firstSg], [...secondSg]);
    });

    it("runs an app stack on each host, named after it", () => {
        const apps = run.resources.filter((r) => r.type === "gpu-hosts:app:AppStack").map((r) => r.name).sort();
        assert.deepStrictEqual(apps, ["aws-2-app", "aws-app", "gcp-app"]);
        // The second host's containers reach its own engine (its own Docker provider).
        const redis = run.get("aws-2-app-redis");
        assert.match(redis.provider ?? "", /::aws-2-docker::/);
        assert.match(run.get("aws-app-redis").provider ?? "", /::aws-docker::/);
    });

    it("outputs each host under its name, with its own address and URLs, of kind aws", () => {
        const hosts = run.outputs.hosts.value as Record<string, Record<string, unknown>>;
        assert.deepStrictEqual(Object.keys(hosts), ["aws", "aws-2", "gcp"]);
        assert.strictEqual(hosts["aws-2"].kind, "aws");
        assert.notStrictEqual(hosts["aws-2"].address, hosts.aws.address);
        assert.ok(String(hosts["aws-2"].liveUrl).includes(String(hosts["aws-2"].address)));
        assert.match(String(hosts["aws-2"].ssh), /gpu-hosts-dev-aws-2/);
        // The stack-wide URLs stay the first host's, as with one host per cloud.
        assert.strictEqual(run.outputs.liveUrl.value, hosts.aws.liveUrl);
    });

    it("leaves the first host exactly as a count of 1 plans it: an existing stack that raises its count only adds", () => {
        const firstHost = (r: ProgramRun) => ({ ...r, resources: r.resources.filter((x) => !x.name.startsWith("aws-2-")) }) as ProgramRun;
        assert.deepStrictEqual(changedInputs(firstHost(run), one), []);
        assert.deepStrictEqual(namesOf(one, "aws-2"), []);
    });

    it("places each host on its own: a placement recorded for aws-2 moves only aws-2", async () => {
        const moved = await runProgram("dev", {
            ...TWO_AWS,
            placements: { "aws-2": { region: "us-west-2", zone: "us-west-2b", instanceType: "g5.xlarge", spot: false, tried: [] }, skipped: [] },
        });
        assert.strictEqual(moved.get("aws-2-provider").inputs.region, "us-west-2");
        assert.strictEqual(moved.get("aws-2-vm").inputs.instanceType, "g5.xlarge");
        assert.strictEqual(moved.get("aws-2-vm").inputs.instanceMarketOptions, undefined);
        assert.strictEqual(moved.get("aws-provider").inputs.region, "us-east-1");
        const changed = changedInputs(run, moved);
        assert.ok(changed.length > 0);
        assert.deepStrictEqual(changed.filter((k) => !k.split("::")[1].startsWith("aws-2-")), []);
    });

    it("deploys without a skipped host, and only that one", async () => {
        const skipped = await runProgram("dev", { ...TWO_AWS, placements: { skipped: ["aws-2"] } });
        assert.deepStrictEqual(namesOf(skipped, "aws-2"), []);
        assert.deepStrictEqual(Object.keys(skipped.outputs.hosts.value as object), ["aws", "gcp"]);
    });

    it("gives two GCP hosts their own network, firewall rules, network tag and static address", async () => {
        const gcp = await runProgram("dev", { clouds: ["gcp"], gcp: { project: "gpu-hosts-dev", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", count: 2 } });
        assert.deepStrictEqual(gcp.resources.filter((r) => r.type === GCP_VM).map((r) => r.name).sort(), ["gcp-2-vm", "gcp-vm"]);
        assert.deepStrictEqual(gcp.get("gcp-2-vm").inputs.tags, ["gpu-hosts-gcp-2"]);
        assert.deepStrictEqual(gcp.get("gcp-vm").inputs.tags, ["gpu-hosts-gcp"]);
        const firewalls = gcp.resources.filter((r) => r.type === "gcp:compute/firewall:Firewall");
        const second = firewalls.filter((r) => r.name.startsWith("gcp-2-"));
        assert.ok(second.length > 0);
        for (const f of second) {
            assert.deepStrictEqual(f.inputs.targetTags, ["gpu-hosts-gcp-2"], f.name);
            // Its own network: the rule depends on gcp-2-network, not on the first host's.
            assert.ok(f.options.dependencies.includes(gcp.get("gcp-2-network").urn), f.name);
            assert.ok(!f.options.dependencies.includes(gcp.get("gcp-network").urn), f.name);
        }
        assert.notStrictEqual(gcp.get("gcp-2-ip").urn, gcp.get("gcp-ip").urn);
    });

    it("gives two Azure hosts their own resource group, security group and computer name", async () => {
        const az = await runProgram("dev", { clouds: ["azure"], azure: { location: "eastus", vmSize: "Standard_NC4as_T4_v3", count: 2 } });
        assert.deepStrictEqual(az.resources.filter((r) => r.type === AZURE_VM).map((r) => r.name).sort(), ["azure-2-vm", "azure-vm"]);
        assert.strictEqual(plain(az.get("azure-2-vm").inputs.osProfile).computerName, "azure-2");
        assert.ok(az.get("azure-2-rg") && az.get("azure-2-nsg"));
        const rules = ingressOf(az.mocks.resources);
        assert.deepStrictEqual(
            rules.filter((r) => r.resource.startsWith("azure-2-nsg/")).map((r) => `${r.from} ${r.source}`).sort(),
            rules.filter((r) => r.resource.startsWith("azure-nsg/")).map((r) => `${r.from} ${r.source}`).sort(),
        );
    });

    it("serves each host's own domain with tls acme", async () => {
        const acme = await runProgram("prod", {
            clouds: ["aws"], aws: { region: "us-east-1", instanceType: "g4dn.xlarge", count: 2 },
            tls: { mode: "acme", domains: { aws: "a.example.com", "aws-2": "b.example.com" }, email: "ops@example.com" },
        });
        const hosts = acme.outputs.hosts.value as Record<string, Record<string, unknown>>;
        assert.match(String(hosts.aws.liveUrl), /^https:\/\/a\.example\.com/);
        assert.match(String(hosts["aws-2"].liveUrl), /^https:\/\/b\.example\.com/);
    });

    it("refuses an own server named like a cloud host, before any resource exists", async () => {
        await assert.rejects(runProgram("dev", {
            ...TWO_AWS, clouds: ["aws", "ssh"], ssh: { hosts: [{ name: "aws-2", address: "203.0.113.20" }] },
        }), /gpu-hosts:ssh\.hosts\[0\]\.name must be a name no cloud host of the stack has \(gpu-hosts:aws\.count is 2: its hosts are "aws", "aws-2"\), got "aws-2"/);
    });
});
