// Cost of a cloud host: the catalog's price per hour times the hours since the state's `created`.
import * as assert from "node:assert/strict";
import { CloudDetails, CloudHostOutput, CloudKind, HostOutput, isCloudHost } from "../../infra/contract/outputs";
import { parseStackOutputs } from "../../infra/contract/parseOutputs";
import { costOf, machineOf } from "../../scripts/lib/status/cost";
import type { StateResource } from "../../scripts/lib/recover";
import { DEFAULTS } from "../../infra/config";
import * as fixture from "../helpers/statusFixture";

const hosts = parseStackOutputs(fixture.outputs()).hosts;
const aws: CloudHostOutput = isCloudHost(hosts.aws) ? hosts.aws : assert.fail("the fixture's aws host is a cloud host");
/** The fixture's AWS host with some of its cloud facts changed. */
const host = (o: Partial<CloudDetails> & { readonly kind?: CloudKind }): HostOutput => ({ ...aws, ...o });
const NOW = new Date("2026-12-03T12:00:00.000Z");
/** A VM in the state, created at `created`, with `inputs`. */
const vm = (created?: string, inputs: Record<string, unknown> = {}): StateResource => ({ urn: "urn:vm", type: "aws:ec2/instance:Instance", inputs, ...(created ? { created } : {}) });

describe("status: cost", () => {
    it("on-demand: price x hours since created, with the catalog's source and date", () => {
        const c = costOf(host({ spot: false }), vm("2026-12-03T02:30:00.000Z"), DEFAULTS.aws, NOW)!;
        assert.equal(c.usdPerHour, 0.526);
        assert.equal(c.indicative, false);
        assert.equal(c.hoursSinceCreated, 9.5);
        assert.equal(c.usdSinceCreated, 5); // 0.526 x 9.5 = 4.997
        assert.match(c.source!, /aws\.amazon\.com\/ec2\/pricing\/on-demand/);
        assert.equal(c.asOf, "2026-12-01");
        assert.equal(c.note, null);
    });

    it("spot: the indicative price", () => {
        const c = costOf(host({ spot: true }), vm("2026-12-01T12:00:00.000Z"), DEFAULTS.aws, NOW)!;
        assert.equal(c.usdPerHour, 0.1841); // 0.526 x 0.35
        assert.equal(c.indicative, true);
        assert.equal(c.hoursSinceCreated, 48);
        assert.equal(c.usdSinceCreated, 8.84); // 8.8368
    });

    it("GCP N1 is priced with its attached GPU (from the VM's inputs, else the config's section); G2 without", () => {
        const gcp = (machine: string) => host({ kind: "gcp", region: "us-central1", zone: "us-central1-a", instanceType: machine, spot: false });
        const t4 = { guestAccelerators: [{ type: "nvidia-tesla-t4", count: 1 }] };
        assert.equal(costOf(gcp("n1-standard-8"), vm("2026-12-03T11:00:00.000Z", t4), undefined, NOW)!.usdPerHour, 0.73); // 8 x 0.0475 + 0.35
        assert.equal(costOf(gcp("n1-standard-8"), vm("2026-12-03T11:00:00.000Z"), DEFAULTS.gcp, NOW)!.usdPerHour, 0.73);
        assert.equal(costOf(gcp("n1-standard-8"), vm("2026-12-03T11:00:00.000Z", { guestAccelerators: [{ type: "nvidia-l4" }] }), DEFAULTS.gcp, NOW)!.usdPerHour, null,
            "the VM's own accelerator wins over the config's");
        assert.equal(costOf(gcp("g2-standard-4"), vm("2026-12-03T11:00:00.000Z"), DEFAULTS.gcp, NOW)!.usdPerHour, 0.7068);
        const fromState = machineOf(fixture.state(), "gcp");
        assert.equal(costOf(gcp("n1-standard-4"), fromState, undefined, NOW)!.usdPerHour, 0.54); // 4 x 0.0475 + 0.35, the fixture VM's T4
    });

    it("what is unknown is null, with the note saying why; local and own servers have no cost at all", () => {
        const c = costOf(host({ region: "eu-west-1", zone: "eu-west-1a" }), undefined, DEFAULTS.aws, NOW)!;
        assert.deepEqual([c.usdPerHour, c.createdAt, c.usdSinceCreated], [null, null, null]);
        assert.equal(c.note, "the catalog has no price for aws eu-west-1a g4dn.xlarge spot; the state records no creation time for the machine");
        assert.equal(costOf(hosts.local, vm("2026-12-03T02:30:00.000Z"), undefined, NOW), null);
        assert.equal(costOf(hosts.box, vm("2026-12-03T02:30:00.000Z"), undefined, NOW), null);
    });

    it("the machine is the host's `<host>-vm` of a VM type, not one pending deletion after a replacement", () => {
        const s = fixture.state();
        assert.equal(machineOf(s, "aws")?.created, "2026-12-03T02:00:00.000Z");
        assert.equal(machineOf(s, "azure"), undefined);
        const replaced = { ...s, deployment: { resources: [{ ...s.deployment.resources![0], created: "2026-11-01T00:00:00.000Z", delete: true }, ...s.deployment.resources!] } };
        assert.equal(machineOf(replaced, "aws")?.created, "2026-12-03T02:00:00.000Z");
    });
});
