// npm run status with two hosts of one cloud (gpu-hosts:aws.count 2): a row per host, each looked at
// over its own ssh, each priced from its own VM. Over the status fixture's stack and fake probes.
import * as assert from "node:assert/strict";
import { collectStatus } from "../../scripts/lib/status/collect";
import { renderStatus } from "../../scripts/lib/status/render";
import * as fixture from "../helpers/statusFixture";

const AWS2_SSH = "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-aws-2 -o IdentitiesOnly=yes ubuntu@203.0.113.11";

/** The fixture's stack with a second AWS host, aws-2, on-demand g5.xlarge in us-east-2, created 10 hours before NOW. */
function twoAws() {
    const outputs = fixture.outputs() as { hosts: Record<string, Record<string, unknown>> };
    const aws = outputs.hosts.aws;
    outputs.hosts = {
        ...outputs.hosts,
        "aws-2": {
            ...aws, address: "203.0.113.11", liveUrl: "https://203.0.113.11:8000", idleUrl: "https://203.0.113.11:8001",
            healthUrl: "https://203.0.113.11:8000/health", idleHealthUrl: "https://203.0.113.11:8001/health", docsUrl: "https://203.0.113.11:8000/docs",
            apiUrl: "https://203.0.113.11:8000", region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false, ssh: AWS2_SSH,
        },
    };
    const state = fixture.state();
    const first = state.deployment.resources![0];
    const second = { ...first, urn: first.urn.replace(/::aws-vm$/, "::aws-2-vm"), id: "aws-2-vm-id", created: "2026-12-03T02:00:00.000Z" };
    return fixture.stack({
        outputs: async () => outputs,
        exportState: async () => ({ ...state, deployment: { ...state.deployment, resources: [first, second, ...state.deployment.resources!.slice(1)] } }),
    });
}

describe("status: two hosts of one cloud", () => {
    it("reports a row per host, each looked at over its own ssh and its own containers", async () => {
        const log: fixture.FakeProbeLog = { gets: [], looks: [] };
        const r = await collectStatus(twoAws(), () => fixture.probes(log));
        assert.deepEqual(r.hosts.map((h) => [h.name, h.kind]), [["local", "local"], ["aws", "aws"], ["gcp", "gcp"], ["box", "ssh"], ["aws-2", "aws"]]);
        assert.ok(log.looks.includes(`aws-2:aws:${AWS2_SSH}:-`), log.looks.join("\n"));
        const second = r.hosts.find((h) => h.name === "aws-2")!;
        assert.equal(second.verdict, "OK", second.reasons.join("; "));
        assert.deepEqual(second.containers.map((c) => c.name).sort(), [
            "aws-2-app-blue-api", "aws-2-app-blue-worker", "aws-2-app-green-api", "aws-2-app-green-worker", "aws-2-app-ollama", "aws-2-app-proxy", "aws-2-app-proxy-auth", "aws-2-app-redis",
        ]);
        assert.deepEqual([second.region, second.zone, second.instanceType, second.market], ["us-east-2", "us-east-2b", "g5.xlarge", "on-demand"]);
        assert.ok(log.gets.some((u) => u.startsWith("https://203.0.113.11:8000/")));
    });

    it("prices each host from its own placement and its own VM's age, and sums both", async () => {
        const r = await collectStatus(twoAws(), () => fixture.probes());
        const aws = r.hosts.find((h) => h.name === "aws")!.cost!;
        const aws2 = r.hosts.find((h) => h.name === "aws-2")!.cost!;
        // aws: g4dn.xlarge spot in us-east-1, created 02:00 (the fixture); aws-2: g5.xlarge on-demand in us-east-2, created 02:00 too.
        assert.equal(aws.indicative, true);
        assert.equal(aws2.indicative, false);
        assert.equal(aws2.usdPerHour, 1.006);
        assert.equal(aws2.hoursSinceCreated, 10);
        assert.equal(aws2.usdSinceCreated, 10.06);
        assert.notEqual(aws.usdPerHour, aws2.usdPerHour);
        assert.equal(r.totals.usdPerHour, Math.round((aws.usdPerHour! + aws2.usdPerHour! + r.hosts.find((h) => h.name === "gcp")!.cost!.usdPerHour!) * 10_000) / 10_000);
        assert.match(renderStatus(r), /aws-2/);
    });

    it("says so when the state has no VM for the second host, without borrowing the first's", async () => {
        const stack = twoAws();
        const r = await collectStatus({ ...stack, exportState: async () => fixture.state() }, () => fixture.probes());
        const aws2 = r.hosts.find((h) => h.name === "aws-2")!.cost!;
        assert.equal(aws2.createdAt, null);
        assert.match(aws2.note ?? "", /no creation time/);
    });
});
