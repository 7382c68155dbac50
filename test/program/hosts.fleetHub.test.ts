// A cloud host made the fleet's hub (CloudHostArgs.fleetHub), on each cloud, under strict mocks and
// the prod stack's real config: its Redis port open to exactly its sources, a data disk that is no
// part of the VM (recover and a replaced VM leave it), mounted before anything uses the host's engine.
// The config wiring (gpu-hosts:fleet -> fleetHub) is not here: these build the host directly.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { AwsGpuHost, AWS_DATA_DEVICE } from "../../infra/clouds/aws/host";
import { AzureGpuHost, AZURE_DATA_LUN } from "../../infra/clouds/azure/host";
import { GcpGpuHost, GCP_DATA_DEVICE } from "../../infra/clouds/gcp/host";
import { CloudHostArgs, FleetHubArgs, cidrId, redisIngressRules } from "../../infra/clouds/common";
import { DATA_DISK_DIR } from "../../infra/config/fixed";
import { awsEbsDevice, azureLunDevices, gcpDiskDevice } from "../../infra/shell/dataDisk";
import { readonlyHeader } from "../../infra/shell/render";
import type { RemoteHost } from "../../infra/hosts/remote";
import { StateResource, diedWith } from "../../scripts/lib/recover";
import { HostRun, buildHost, ingressOf } from "../helpers/hosts";
import { unsecret } from "../helpers/secrets";
import { resolve } from "../helpers/stack";

const REDIS_PORT = 6380;
const EXTRA = "192.0.2.0/28";
/** A worker VM's address is an Output (known at deploy time); an own server's may be IPv6; an operator's extra CIDR. */
const hub = (): FleetHubArgs => ({
    redisPort: REDIS_PORT,
    redisSources: [
        { name: "gcp-2", cidr: pulumi.output("198.51.100.7/32") },
        { name: "box1", cidr: "2001:db8::7/128" },
        { name: `cidr-${cidrId(EXTRA)}`, cidr: EXTRA },
    ],
    dataDiskGb: 50,
});
const SOURCES = ["198.51.100.7/32", "2001:db8::7/128", EXTRA].sort();

type Cloud = "aws" | "gcp" | "azure";
const make: Record<Cloud, (fleetHub?: FleetHubArgs) => Promise<HostRun & { host: { host: RemoteHost } }>> = {
    aws: (fleetHub) => buildHost("prod", (cfg, args: CloudHostArgs) => new AwsGpuHost("aws", { ...args, aws: cfg.aws, ...(fleetHub ? { fleetHub } : {}) })),
    gcp: (fleetHub) => buildHost("prod", (cfg, args: CloudHostArgs) => new GcpGpuHost("gcp", { ...args, gcp: cfg.gcp, ...(fleetHub ? { fleetHub } : {}) })),
    azure: (fleetHub) => buildHost("prod", (cfg, args: CloudHostArgs) => new AzureGpuHost("azure", { ...args, azure: cfg.azure, ...(fleetHub ? { fleetHub } : {}) })),
};

/** Each inbound rule as "from-to source", sorted. */
const rulesOf = (run: HostRun, port?: number) => ingressOf(run.mocks.resources)
    .filter((r) => port === undefined ? !(r.from <= REDIS_PORT && REDIS_PORT <= r.to) : r.from <= port && port <= r.to)
    .map((r) => `${r.from}-${r.to} ${r.source}`).sort();

/** The recorded resources as an exported state holds them, for recover's diedWith. */
function stateOf(run: HostRun): StateResource[] {
    return run.mocks.resources.map((r) => ({
        urn: r.urn, type: r.type, custom: r.custom, id: r.id, parent: r.options.parent || undefined,
        dependencies: r.options.dependencies, deletedWith: r.options.deletedWith || undefined, provider: r.provider,
    }));
}

for (const cloud of ["aws", "gcp", "azure"] as const) {
    describe(`a ${cloud} host as the fleet's hub`, () => {
        let plain: Awaited<ReturnType<typeof make.aws>>;
        let run: Awaited<ReturnType<typeof make.aws>>;
        before(async () => {
            plain = await make[cloud]();
            run = await make[cloud](hub());
        });
        const vmName = `${cloud}-vm`;
        const diskName = `${cloud}-data`;

        it("opens the Redis port to exactly its sources, one rule each, and to no apiCidr", () => {
            assert.deepStrictEqual(rulesOf(run, REDIS_PORT), SOURCES.map((s) => `${REDIS_PORT}-${REDIS_PORT} ${s}`).sort());
            const redis = ingressOf(run.mocks.resources).filter((r) => r.from === REDIS_PORT);
            assert.strictEqual(new Set(redis.map((r) => r.resource)).size, SOURCES.length, "one rule per source");
            for (const r of redis) assert.ok(!run.cfg.apiCidrs.includes(r.source) && !run.cfg.operatorCidrs.includes(r.source), `${r.resource} opens Redis to ${r.source}`);
        });

        it("names each Redis rule after its source, not its position", () => {
            const names = ingressOf(run.mocks.resources).filter((r) => r.from === REDIS_PORT).map((r) => r.resource).sort();
            const want = {
                aws: ["aws-redis-box1", `aws-redis-cidr-${cidrId(EXTRA)}`, "aws-redis-gcp-2"],
                gcp: ["gcp-allow-redis-box1", `gcp-allow-redis-cidr-${cidrId(EXTRA)}`, "gcp-allow-redis-gcp-2"],
                azure: ["azure-nsg/allow-redis-box1", `azure-nsg/allow-redis-cidr-${cidrId(EXTRA)}`, "azure-nsg/allow-redis-gcp-2"],
            }[cloud];
            assert.deepStrictEqual(names, want.sort());
        });

        it("leaves every other rule as a host that is not the hub has it", () => {
            assert.deepStrictEqual(rulesOf(run), rulesOf(plain));
        });

        it("a host that is not the hub opens no Redis port and has no data disk", () => {
            assert.deepStrictEqual(rulesOf(plain, REDIS_PORT), []);
            assert.ok(!plain.mocks.resources.some((r) => r.name === diskName || r.name === `${cloud}-data-mount` || r.name === `${cloud}-data-attach`));
            assert.strictEqual(plain.host.host.dataDir, undefined);
            assert.strictEqual(plain.host.host.dataReady, undefined);
        });

        it("keeps its data on a disk in the VM's zone or location, with the stack's tags", () => {
            const disk = run.get(diskName);
            const vm = run.get(vmName);
            if (cloud === "aws") {
                assert.strictEqual(disk.type, "aws:ebs/volume:Volume");
                assert.strictEqual(disk.inputs.availabilityZone, run.get("aws-subnet").inputs.availabilityZone);
                assert.deepStrictEqual([disk.inputs.size, disk.inputs.type, disk.inputs.encrypted], [50, "gp3", true]);
                assert.strictEqual(disk.inputs.tags.role, "gpu-host");
            } else if (cloud === "gcp") {
                assert.strictEqual(disk.type, "gcp:compute/disk:Disk");
                assert.strictEqual(disk.inputs.zone, vm.inputs.zone);
                assert.deepStrictEqual([disk.inputs.size, disk.inputs.type], [50, "pd-balanced"]);
                assert.strictEqual(disk.inputs.labels.role, "gpu-host");
            } else {
                assert.strictEqual(disk.type, "azure-native:compute:Disk");
                assert.strictEqual(disk.inputs.location, vm.inputs.location);
                assert.strictEqual(disk.inputs.resourceGroupName, vm.inputs.resourceGroupName);
                assert.strictEqual(disk.inputs.zones, undefined, "the VM has no zone");
                assert.deepStrictEqual([disk.inputs.diskSizeGB, disk.inputs.sku, disk.inputs.creationData], [50, { name: "Premium_LRS" }, { createOption: "Empty" }]);
                assert.strictEqual(disk.inputs.tags.role, "gpu-host");
            }
        });

        it("attaches it to the VM, and only the attachment follows the VM", () => {
            const disk = run.get(diskName);
            const vm = run.get(vmName);
            if (cloud === "aws") {
                const att = run.get("aws-data-attach");
                assert.deepStrictEqual([att.inputs.volumeId, att.inputs.instanceId, att.inputs.deviceName], [disk.id, vm.id, AWS_DATA_DEVICE]);
                assert.strictEqual(att.inputs.stopInstanceBeforeDetaching, true, "Redis stops with the instance before the volume leaves it");
            } else if (cloud === "gcp") {
                // The disk's self link (the mock's, as the API's: the compute base URL and its id).
                assert.deepStrictEqual(vm.inputs.attachedDisks, [{ source: `https://www.googleapis.com/compute/v1/${disk.id}`, deviceName: GCP_DATA_DEVICE, mode: "READ_WRITE" }]);
            } else {
                assert.deepStrictEqual(vm.inputs.storageProfile.dataDisks, [{ lun: AZURE_DATA_LUN, createOption: "Attach", managedDisk: { id: disk.id }, deleteOption: "Detach", caching: "None" }]);
            }
        });

        it("is no part of the VM: neither replaced with it nor deleted with it, and nothing of it comes from the VM", () => {
            const o = run.mocks.resources.find((r) => r.name === diskName)!.options;
            assert.strictEqual(o.replacementTrigger, undefined);
            assert.strictEqual(o.deletedWith, "");
            assert.strictEqual(o.retainOnDelete, false, "pulumi destroy deletes it, as the stack owns it");
            assert.ok(!run.regs.get(diskName)!.deps.includes(vmName), "its inputs do not come from the VM");
            assert.strictEqual(run.regs.get(diskName)!.parent, cloud);
        });

        it("survives recover: what died with a gone VM never includes the disk", () => {
            const state = stateOf(run);
            const vm = state.find((r) => r.type === run.get(vmName).type)!;
            const dead = diedWith(state, new Set([vm.urn]));
            const urnOf = (n: string) => run.mocks.resources.find((r) => r.name === n)!.urn;
            assert.ok(!dead.has(urnOf(diskName)), "the disk stays in the state");
            assert.ok(dead.has(urnOf(`${cloud}-data-mount`)), "the mount lived on the VM");
            if (cloud === "aws") assert.ok(dead.has(urnOf("aws-data-attach")), "the attachment followed the VM");
        });

        it("mounts it over SSH after the attachment, as a command that lives on the VM, before the Docker provider", async () => {
            const mount = run.get(`${cloud}-data-mount`);
            assert.strictEqual(mount.type, "command:remote:Command");
            assert.match(mount.inputs.create, /^sudo -n bash -s -- mount$/);
            assert.match(mount.inputs.delete, /^sudo -n bash -s -- unmount$/);
            const stdin = unsecret(mount.inputs.stdin) as string;
            const devices = cloud === "aws" ? [awsEbsDevice(run.get("aws-data").id)] : cloud === "gcp" ? [gcpDiskDevice(GCP_DATA_DEVICE)] : azureLunDevices(AZURE_DATA_LUN);
            assert.ok(stdin.includes(readonlyHeader({ DEVICES: devices, MOUNT_DIR: DATA_DISK_DIR })), stdin.slice(0, 400));
            assert.deepStrictEqual(mount.inputs.triggers, [run.get(diskName).id], "another disk is mounted anew");
            const o = run.mocks.resources.find((r) => r.name === `${cloud}-data-mount`)!.options;
            assert.ok(o.replacementTrigger, "replaced with the machine");
            assert.strictEqual(o.deletedWith, run.mocks.resources.find((r) => r.name === vmName)!.urn);
            const deps = run.regs.get(`${cloud}-data-mount`)!.deps;
            assert.ok(deps.includes(`${cloud}-ready`));
            assert.ok(deps.includes(cloud === "aws" ? "aws-data-attach" : vmName));
            assert.ok(run.regs.get(`${cloud}-docker`)!.deps.includes(`${cloud}-data-mount`), "nothing on the host before the disk is there");
            assert.strictEqual(run.host.host.dataDir, DATA_DISK_DIR);
            assert.match((await resolve(run.host.host.dataReady!.urn)).value as string, new RegExp(`::${cloud}-data-mount$`));
        });
    });
}

describe("a fleet hub's Redis sources", () => {
    it("refuses a source open to the world, when its address resolves", async () => {
        const fleetHub = { ...hub(), redisSources: [{ name: "oops", cidr: pulumi.output("0.0.0.0/0") }] };
        const [rule] = redisIngressRules({ fleetHub } as unknown as CloudHostArgs);
        // The SDK's own promise of an Output's value (what the engine's serialization awaits), rejected by the apply.
        await assert.rejects((rule.cidr as unknown as { promise(): Promise<string> }).promise(), /fleet hub Redis source oops must be a CIDR block narrower than \/0, e\.g\. "203\.0\.113\.7\/32", got "0\.0\.0\.0\/0"/);
    });

    it("refuses two sources of one name", () => {
        const fleetHub = { ...hub(), redisSources: [{ name: "box1", cidr: "198.51.100.7/32" }, { name: "box1", cidr: "198.51.100.8/32" }] };
        return assert.rejects(make.gcp(fleetHub), /fleet hub Redis sources must have distinct names, got \["box1"\] more than once/);
    });
});
