// The --json contract: a report collected from a four-host stack (test/helpers/statusFixture.ts)
// validates against scripts/lib/status/schema.json with a real JSON Schema validator (ajv), the
// schema admits no field it does not describe, and neither the JSON nor the table holds a secret.
import * as assert from "node:assert/strict";
import Ajv from "ajv";
import { ProbeTarget, collectStatus } from "../../scripts/lib/status/collect";
import { renderStatus } from "../../scripts/lib/status/render";
import { jsonLine } from "../../scripts/lib/status/run";
import type { StatusReport } from "../../scripts/lib/status/types";
import * as fixture from "../helpers/statusFixture";
import { isOpsError } from "../../scripts/lib/errors";
import schema = require("../../scripts/lib/status/schema.json");

const validator = () => new Ajv({ allErrors: true, strict: true }).compile<StatusReport>(schema);

describe("status: the --json schema", () => {
    let report: StatusReport;
    const log = { gets: [] as string[], looks: [] as string[] };
    before(async () => {
        report = await collectStatus(fixture.stack(), () => fixture.probes(log));
    });

    it("a real report validates", () => {
        const validate = validator();
        const doc = JSON.parse(jsonLine(report));
        assert.ok(validate(doc), JSON.stringify(validate.errors, null, 2));
    });

    it("the schema rejects what it does not describe: an unknown field, a wrong verdict, a missing one", () => {
        const validate = validator();
        const doc = JSON.parse(jsonLine(report));
        assert.equal(validate({ ...doc, extra: 1 }), false);
        assert.equal(validate({ ...doc, verdict: "FINE" }), false);
        const { totals: _omitted, ...noTotals } = doc;
        assert.equal(validate(noTotals), false);
        const host = { ...doc.hosts[0], slots: [{ ...doc.hosts[0].slots[0], health: { ...doc.hosts[0].slots[0].health, secret: "x" } }, doc.hosts[0].slots[1]] };
        assert.equal(validate({ ...doc, hosts: [host] }), false);
    });

    it("every host is reported, the unreachable one DOWN with its reason, the others as they are", () => {
        assert.deepEqual(report.hosts.map((h) => [h.name, h.verdict]), [["local", "OK"], ["aws", "OK"], ["gcp", "DEGRADED"], ["box", "DOWN"]]);
        assert.equal(report.verdict, "DEGRADED");
        const box = report.hosts.find((h) => h.name === "box")!;
        assert.deepEqual(box.reasons, [
            "live slot blue: GET https://203.0.113.30:8000/health: connection refused",
            "cannot inspect the host: ssh failed: ssh: connect to host 203.0.113.30 port 2222: Connection refused",
            "idle slot green: GET https://203.0.113.30:8001/health: connection refused",
        ]);
        assert.equal(box.gpu.state, "unknown");
        assert.equal(box.cost, null, "an operator's own server has no price");
        assert.ok(report.reasons.includes("host gcp: idle slot green: GET https://203.0.113.20:8001/health -> HTTP 503: redis: \"timeout\""), report.reasons.join("\n"));
        // Both slots' /health and /metrics of every host, and one look at each machine, over its ssh output.
        assert.equal(log.gets.length, 16);
        assert.deepEqual(log.looks.sort(), [
            "aws:aws:ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-aws -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-dev-aws.known_hosts ubuntu@203.0.113.10:-",
            "box:ssh:ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-box -p 2222 ops@203.0.113.30:-",
            "gcp:gcp:ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-gcp ubuntu@203.0.113.20:-",
            "local:local:-:-",
        ]);
    });

    it("per host: where, machine, market; slots with releases, queue and recent jobs; containers; GPU", () => {
        const aws = report.hosts.find((h) => h.name === "aws")!;
        assert.deepEqual([aws.region, aws.zone, aws.instanceType, aws.market, aws.address], ["us-east-1", "us-east-1b", "g4dn.xlarge", "spot", "203.0.113.10"]);
        assert.deepEqual(aws.slots.map((s) => [s.color, s.role, s.label, s.metrics?.queueDepth, s.metrics?.completed5m, s.metrics?.completed60m]),
            [["blue", "live", "workdir@111111111111", 3, 5, 40], ["green", "idle", "v2@222222222222", 0, 0, 12]]);
        assert.equal(aws.containers.length, 8);
        assert.ok(aws.containers.every((c) => c.ok));
        assert.deepEqual(aws.gpu.devices, [{ index: 0, name: "Tesla T4", utilizationPercent: 37, memoryUsedMiB: 1034, memoryTotalMiB: 15360, temperatureC: 45 }]);
        const local = report.hosts.find((h) => h.name === "local")!;
        assert.deepEqual([local.region, local.market, local.ssh, local.cost], [null, null, null, null]);
        assert.deepEqual(local.gpu, { state: "none", note: "nvidia-smi is not installed", devices: [] });
        const gcp = report.hosts.find((h) => h.name === "gcp")!;
        assert.deepEqual(gcp.notes.filter((n) => n.includes("metrics")), ["slot blue: metrics unavailable (GET https://203.0.113.20:8000/metrics -> HTTP 404)"]);
        assert.deepEqual(report.totals, {
            hosts: 4, ok: 2, degraded: 1, down: 1, queueDepth: 6, completed5m: 10, failed5m: 0, completed60m: 104, failed60m: 4,
            // aws: g4dn.xlarge spot 0.526 x 0.35 = 0.1841/h for 10 h; gcp: n1-standard-4 + T4 4 x 0.0475 + 0.35 = 0.54/h for 24 h.
            usdPerHour: 0.7241, usdSinceCreated: 14.8,
        });
    });

    it("prints no secret: neither apiKey nor opsApiKey, nor anything from the state", () => {
        const out = `${jsonLine(report)}\n${renderStatus(report)}`;
        for (const secret of [fixture.API_KEY, fixture.OPS_API_KEY, "SECRET"]) assert.ok(!out.includes(secret), `the output holds ${secret}`);
    });

    it("a host that never answers is DOWN at its deadline; the others are reported as they are", async () => {
        const hanging = { ...fixture.probes(), look: (h: { name: string }) => (h.name === "aws" ? new Promise<never>(() => undefined) : fixture.probes().look(h as never)) };
        const started = Date.now();
        const r = await collectStatus(fixture.stack(), () => hanging, 200);
        assert.ok(Date.now() - started < 5000);
        const aws = r.hosts.find((h) => h.name === "aws")!;
        assert.deepEqual([aws.verdict, aws.reasons], ["DOWN", ["no complete answer within 0.2 s"]]);
        assert.equal(r.hosts.find((h) => h.name === "local")!.verdict, "OK");
        assert.ok(validator()(JSON.parse(jsonLine(r))));
    });

    it("reads the config through the program's loader: the local engine it names; a config it cannot read is a note, not a failure", async () => {
        const looks: string[] = [];
        const probes = () => ({
            ...fixture.probes(),
            look: (h: ProbeTarget) => {
                looks.push(`${h.name}:${h.dockerHost ?? "-"}`);
                return fixture.probes().look(h);
            },
        });
        const withLocal = (local: object) => fixture.stack({ allConfig: async () => ({ values: { local: JSON.stringify(local) }, secrets: [] }) });
        const engine = "unix:///run/user/1000/docker.sock";
        await collectStatus(withLocal({ dockerHost: engine }), probes);
        assert.ok(looks.includes(`local:${engine}`), looks.join(", "));

        looks.length = 0;
        const r = await collectStatus(withLocal({ dockerHost: "no engine" }), probes);
        assert.ok(looks.includes("local:-"), looks.join(", "));
        const local = r.hosts.find((h) => h.name === "local")!;
        assert.match(local.notes.join("\n"),
            /^the config could not be read \(the config of stack dev has 1 problem: gpu-hosts:local\.dockerHost must be .*, got "no engine"\): looked at the docker CLI's own engine$/m);
        assert.equal(local.verdict, "OK", "the verdict is the host's, not the config's");
        assert.ok(r.hosts.filter((h) => h.name !== "local").every((h) => !h.notes.some((n) => n.includes("config"))), "only the host that needed it says so");
    });

    it("a stack without outputs is an error that names the fix, not a report", async () => {
        await assert.rejects(collectStatus(fixture.stack({ outputs: async () => ({}) }), () => fixture.probes()),
            (e: unknown) => isOpsError(e, "missing-output") && /npm run up -- --stack dev/.test((e as Error).message));
    });
});
