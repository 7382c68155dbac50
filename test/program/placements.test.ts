// Candidates and recorded placements (gpu-hosts:<cloud>.candidates, gpu-hosts:placements) through the
// real index.ts under strict mocks: where each cloud host lands, and that a stack without them is
// exactly what it was.
import * as assert from "assert";
import { ProgramRun, changedInputs, runProgram, runProgramFresh } from "../helpers/stack";

const OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings";

describe("placements: candidates and the recorded placement", () => {
    let today: ProgramRun;
    before(async () => { today = await runProgram("dev"); });

    it("a stack whose first candidates are its sections' placements deploys exactly what it did without candidates", async () => {
        // Pulumi.dev.yaml lists candidates for every cloud; the same stack without them:
        const without = await runProgramFresh("dev", {
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge" },
            gcp: { project: "gpu-hosts-dev", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4" },
            azure: { location: "eastus", vmSize: "Standard_NC4as_T4_v3" },
        });
        assert.deepStrictEqual(changedInputs(without, today), []);
    });

    describe("a recorded placement on every cloud", () => {
        let run: ProgramRun;
        before(async () => {
            run = await runProgram("dev", {
                placements: {
                    aws: { region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false, tried: ["us-east-1 (any zone) g4dn.xlarge spot: InsufficientInstanceCapacity"] },
                    gcp: { zone: "us-central1-c", machineType: "g2-standard-4", gpuType: "", spot: true, tried: [] },
                    azure: { location: "westus2", vmSize: "Standard_NC8as_T4_v3", spot: false, tried: [] },
                },
            });
        });

        it("puts the AWS host in the recorded region, zone and type, on-demand, without looking a zone up", () => {
            assert.strictEqual(run.get("aws-provider").inputs.region, "us-east-2");
            assert.strictEqual(run.get("aws-subnet").inputs.availabilityZone, "us-east-2b");
            assert.strictEqual(run.get("aws-vm").inputs.instanceType, "g5.xlarge");
            assert.strictEqual(run.get("aws-vm").inputs.instanceMarketOptions, undefined);
            assert.ok(!run.mocks.calls.some((c) => c.token === OFFERINGS), "the zone is the placement's: no offerings lookup");
            assert.ok(today.mocks.calls.some((c) => c.token === OFFERINGS), "without a zone the host looks one up (the mock answers us-east-1a)");
        });

        it("puts the GCP and Azure hosts where recorded, spot as recorded", () => {
            const g = run.get("gcp-vm").inputs;
            assert.strictEqual(g.zone, "us-central1-c");
            assert.strictEqual(g.machineType, "g2-standard-4");
            assert.strictEqual(g.scheduling.provisioningModel, "SPOT");
            assert.strictEqual(run.get("gcp-provider").inputs.region, "us-central1");
            assert.strictEqual(run.get("azure-provider").inputs.location, "westus2");
            assert.strictEqual(run.get("azure-vm").inputs.hardwareProfile.vmSize, "Standard_NC8as_T4_v3");
            assert.strictEqual(run.get("azure-vm").inputs.priority, "Regular");
        });

        it("reports the placement in the hosts output", () => {
            const hosts = run.outputs.hosts.value as Record<string, Record<string, unknown>>;
            assert.deepStrictEqual(
                Object.fromEntries(Object.entries(hosts).map(([n, h]) => [n, [h.region, h.zone, h.instanceType, h.spot]])),
                { aws: ["us-east-2", "us-east-2b", "g5.xlarge", false], gcp: ["us-central1", "us-central1-c", "g2-standard-4", true], azure: ["westus2", "none", "Standard_NC8as_T4_v3", false] },
            );
        });
    });

    it("a placement recorded for one cloud moves only that cloud's host", async () => {
        const moved = await runProgramFresh("dev", { placements: { gcp: { zone: "us-central1-b", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", spot: true, tried: [] } } });
        const changed = changedInputs(today, moved);
        assert.ok(changed.length > 0);
        assert.deepStrictEqual(changed.filter((k) => !k.split("::")[1].startsWith("gcp-")), []);
    });

    it("a skipped cloud has no host and no app stack; the others are as they were", async () => {
        const run = await runProgram("dev", { placements: { skipped: ["gcp"] } });
        assert.ok(!run.resources.some((r) => r.name.startsWith("gcp")), "nothing of gcp");
        assert.deepStrictEqual(Object.keys(run.outputs.hosts.value as object).sort(), ["aws", "azure"]);
        const kept = today.resources.filter((r) => r.custom && !r.name.startsWith("gcp") && !r.type.startsWith("gcp"));
        for (const r of kept.filter((x) => x.name.startsWith("aws-vm") || x.name.startsWith("azure-vm"))) {
            assert.deepStrictEqual(run.get(r.name).inputs, r.inputs, r.name);
        }
    });
});
