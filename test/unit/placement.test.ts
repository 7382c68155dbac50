// Candidates, fallback and recorded placements: their validation (infra/config/index.ts, every
// problem at once, with key, value and what is allowed) and the pure answers the program and the
// deploy driver share (infra/clouds/placement.ts).
import * as assert from "assert";
import { ConfigError, StackConfig, loadConfig } from "../../infra/config";
import { PRICE_SOURCE as AWS_PRICE_SOURCE } from "../../infra/clouds/aws/catalog";
import { CloudPlacement, candidatesOf, describePlacement, placementOf, priceOfPlacement, tryOrder } from "../../infra/clouds/placement";

const C1 = "c1".repeat(20);
const BASE = { slots: { blue: { release: "v1", commit: C1 }, green: { release: "v1", commit: C1 } }, clouds: ["aws", "gcp", "azure"], operatorCidrs: ["203.0.113.0/24"], gcp: { project: "gpu-hosts-dev" } };
const raw = (o: Record<string, unknown>) => Object.fromEntries(Object.entries({ ...BASE, ...o }).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
const load = (o: Record<string, unknown>): StackConfig => loadConfig("dev", raw(o));
function problems(o: Record<string, unknown>): readonly string[] {
    try {
        load(o);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.problems;
    }
    return assert.fail("expected a ConfigError");
}

describe("config: candidates, fallback, placements", () => {
    it("fills each candidate's omitted fields from the cloud's section and gpu-hosts:spot", () => {
        const cfg = load({
            spot: true,
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: [{ region: "us-east-2" }, { region: "us-west-2", zone: "us-west-2b", instanceType: "g6.xlarge", spot: false }] },
            gcp: { project: "gpu-hosts-dev", candidates: [{ zone: "us-central1-b" }, { zone: "us-central1-c", machineType: "g2-standard-4", gpuType: "" }] },
            azure: { candidates: [{ location: "westus2", vmSize: "Standard_NC8as_T4_v3" }] },
        });
        assert.deepStrictEqual(cfg.aws.candidates, [
            { region: "us-east-2", zone: "", instanceType: "g4dn.xlarge", spot: true },
            { region: "us-west-2", zone: "us-west-2b", instanceType: "g6.xlarge", spot: false },
        ]);
        assert.deepStrictEqual(cfg.gcp.candidates, [
            { zone: "us-central1-b", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", spot: true },
            { zone: "us-central1-c", machineType: "g2-standard-4", gpuType: "", spot: true },
        ]);
        assert.deepStrictEqual(cfg.azure.candidates, [{ location: "westus2", vmSize: "Standard_NC8as_T4_v3", spot: true }]);
        assert.deepStrictEqual(cfg.fallback, { candidates: true, spotToOnDemand: false, otherClouds: false });
    });

    it("names every bad candidate and placement at once: key, value, and what is allowed", () => {
        assert.deepStrictEqual(problems({
            aws: {
                candidates: [
                    { zone: "us-east-1a" },
                    { region: "us-east-1", zone: "us-west-2a" },
                    { region: "us-east-1", instanceType: "p3.2xlarge", cores: 4 },
                    { region: "us-east-1" }, { region: "us-east-1" },
                ],
            },
            gcp: { project: "gpu-hosts-dev", candidates: [{ zone: "us-central1-a", machineType: "e2-standard-4" }, "us-central1-b"] },
            azure: { candidates: { location: "eastus" } },
            fallback: { candidates: "yes" },
            placements: { aws: { region: "us-east-1", zone: "", instanceType: "g4dn.xlarge", spot: false, tried: [1] }, oracle: {}, skipped: ["aws", "gcp", "azure"] },
        }), [
            "gpu-hosts:aws.candidates[0].region is required",
            'gpu-hosts:aws.candidates[1].zone must be an availability zone of us-east-1, e.g. "us-east-1b", got "us-west-2a"',
            "gpu-hosts:aws.candidates[2].cores is not a known field; known fields: region, zone, instanceType, spot",
            'gpu-hosts:aws.candidates[2].instanceType must be a g4dn (T4), g5 (A10G) or g6 (L4) size from xlarge to 16xlarge, e.g. "g4dn.xlarge", got "p3.2xlarge"',
            'gpu-hosts:aws.candidates must be a list without repeats, got {"region":"us-east-1","zone":"","instanceType":"g4dn.xlarge","spot":false}',
            'gpu-hosts:gcp.candidates[0].machineType must be an n1-standard-N or n1-highmem-N machine with gpuType "nvidia-tesla-t4", or a g2-standard-N machine (L4), got "e2-standard-4 with gpuType nvidia-tesla-t4"',
            'gpu-hosts:gcp.candidates[1] must be an object {zone, machineType?, gpuType?, spot?}, got "us-central1-b"',
            'gpu-hosts:azure.candidates must be a list of placements {location, vmSize?, spot?}, got {"location":"eastus"}',
            'gpu-hosts:fallback.candidates must be true or false, got "yes"',
            "gpu-hosts:placements.oracle is not a known field; known fields: aws, aws-2 ... aws-10, gcp, gcp-2 ... gcp-10, azure, azure-2 ... azure-10, skipped",
            "gpu-hosts:placements.aws.tried must be a list of strings, got 1",
            'gpu-hosts:placements.skipped must be a list that leaves at least one host of gpu-hosts:clouds to deploy, got ["aws","gcp","azure"]',
        ]);
    });

    it("checks candidates against the catalog only for enabled clouds (a disabled cloud's list may be anything well-formed)", () => {
        const cfg = load({ clouds: ["gcp"], aws: { candidates: [{ region: "us-east-1", instanceType: "x9.huge" }] } });
        assert.strictEqual(cfg.aws.candidates[0].instanceType, "x9.huge");
    });
});

describe("placement: where each cloud host runs", () => {
    it("without candidates, the one placement of the cloud's section: today's behaviour", () => {
        const cfg = load({ spot: true });
        assert.deepStrictEqual(candidatesOf(cfg, "aws"), [{ cloud: "aws", region: "us-east-1", zone: "", instanceType: "g4dn.xlarge", spot: true }]);
        assert.deepStrictEqual(placementOf(cfg, { name: "gcp", cloud: "gcp" }), { cloud: "gcp", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", spot: true });
        assert.deepStrictEqual(placementOf(cfg, { name: "azure", cloud: "azure" }), { cloud: "azure", location: "eastus", vmSize: "Standard_NC4as_T4_v3", spot: true });
    });

    it("the recorded placement over the first candidate; its history is not part of it", () => {
        const cfg = load({
            aws: { candidates: [{ region: "us-east-1" }, { region: "us-east-2" }] },
            placements: { aws: { region: "us-east-2", zone: "us-east-2c", instanceType: "g5.xlarge", spot: false, tried: ["us-east-1 (any zone) g4dn.xlarge on-demand: VcpuLimitExceeded"] } },
        });
        assert.deepStrictEqual(placementOf(cfg, { name: "aws", cloud: "aws" }), { cloud: "aws", region: "us-east-2", zone: "us-east-2c", instanceType: "g5.xlarge", spot: false });
        assert.deepStrictEqual(placementOf(cfg, { name: "gcp", cloud: "gcp" }), candidatesOf(cfg, "gcp")[0]);
    });

    const aws = (zone: string, instanceType: string, spot: boolean): CloudPlacement => ({ cloud: "aws", region: zone.slice(0, -1), zone, instanceType, spot });

    it("tries in the operator's order; with spotToOnDemand a failed spot placement's on-demand twin comes right after it", () => {
        const list = [aws("us-east-1a", "g5.xlarge", true), aws("us-east-1b", "g4dn.xlarge", false), aws("us-east-1b", "g4dn.xlarge", true)];
        assert.deepStrictEqual(tryOrder(list, { cheapest: false, spotToOnDemand: false }), list);
        assert.deepStrictEqual(tryOrder(list, { cheapest: false, spotToOnDemand: true }).map(describePlacement), [
            "us-east-1a g5.xlarge spot", "us-east-1a g5.xlarge on-demand", "us-east-1b g4dn.xlarge on-demand", "us-east-1b g4dn.xlarge spot",
        ]);
    });

    it("--cheapest orders by the catalog's price, unpriced last, ties in the operator's order", () => {
        const list = [
            aws("us-east-1a", "g5.xlarge", false),
            { cloud: "aws", region: "eu-west-1", zone: "", instanceType: "g4dn.xlarge", spot: false } as CloudPlacement,
            aws("us-east-1b", "g4dn.xlarge", false),
            aws("us-east-1c", "g4dn.xlarge", false),
            aws("us-east-1d", "g6.xlarge", true),
        ];
        assert.deepStrictEqual(tryOrder(list, { cheapest: true, spotToOnDemand: false }).map(describePlacement), [
            "us-east-1d g6.xlarge spot", "us-east-1b g4dn.xlarge on-demand", "us-east-1c g4dn.xlarge on-demand", "us-east-1a g5.xlarge on-demand",
            "eu-west-1 (any zone) g4dn.xlarge on-demand",
        ]);
    });

    it("prices a placement from the catalog: on-demand list price, spot indicative, nothing where the catalog has none", () => {
        assert.deepStrictEqual(priceOfPlacement(aws("us-east-1a", "g4dn.xlarge", false)),
            { usdPerHour: 0.526, indicative: false, source: AWS_PRICE_SOURCE, asOf: "2026-12-01" });
        assert.strictEqual(priceOfPlacement(aws("us-east-1a", "g4dn.xlarge", true))!.usdPerHour, 0.1841);
        assert.strictEqual(priceOfPlacement({ cloud: "gcp", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", spot: false })!.usdPerHour, 0.54);
        assert.strictEqual(priceOfPlacement({ cloud: "gcp", zone: "us-central1-a", machineType: "g2-standard-4", gpuType: "", spot: false })!.usdPerHour, 0.7068);
        assert.strictEqual(priceOfPlacement({ cloud: "azure", location: "eastus", vmSize: "Standard_NC4as_T4_v3", spot: false })!.usdPerHour, 0.526);
        assert.strictEqual(priceOfPlacement({ cloud: "azure", location: "westeurope", vmSize: "Standard_NC4as_T4_v3", spot: false }), undefined);
    });
});
