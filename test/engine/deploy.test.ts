// `npm run deploy` (scripts/lib/deploy.ts) end to end through the Automation API, the real engine and
// the real command provider, on a test program (test/engine/capacity) whose cloud "VMs" fail with the
// clouds' real capacity texts in the placements a test names. Every up's steps are counted from the
// engine's own events, failed ups included.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { describePlacement } from "../../infra/clouds/placement";
import { ResourceChange } from "../../scripts/lib/changes";
import { deploy } from "../../scripts/lib/deploy";
import { isOpsError } from "../../scripts/lib/errors";
import { openStack, StackOps } from "../../scripts/lib/stackOps";
import { UpFailedError } from "../../scripts/lib/engineErrors";
import { Engine, engineEnv, linkRepoProgram, report, requireEngine, runCli, setProcessEnv, tempEngineDir } from "./engine";

const PROGRAM = path.join(__dirname, "capacity");
const PINNED = { blue: { release: "v1", commit: "a1".repeat(20) }, green: { release: "v1", commit: "a1".repeat(20) } };

// Real texts, as the providers print them (sources: test/unit/capacity.test.ts).
const AWS_ICE = "creating EC2 Instance: operation error EC2: RunInstances, exceeded maximum number of attempts, 3, https response error StatusCode: 500, RequestID: 78dbfe11, api error InsufficientInstanceCapacity: We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested (us-east-1a). Our system will be working on provisioning additional capacity. You can currently get g4dn.xlarge capacity by not specifying an Availability Zone in your request or choosing us-east-1b, us-east-1c.";
const AWS_UNSUPPORTED = "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: f5620d69, api error Unsupported: Your requested instance type (g4dn.xlarge) is not supported in your requested Availability Zone (us-east-1e). Please retry your request by not specifying an Availability Zone or choosing us-east-1a, us-east-1b.";
const GCP_EXHAUSTED = "Error waiting for instance to create: The zone 'projects/gpu-hosts-dev/zones/us-central1-a' does not have enough resources available to fulfill the request.  Try a different zone, or try again later";
const AWS_BAD_AMI = "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: eea342dc, api error InvalidAMIID.NotFound: The image id '[ami-0c55b159cbfafe1f0]' does not exist";
// A new project's Compute Engine API: a lookup's 403 (the program's image lookup fails with it) and a create's.
const GCP_LOOKUP_403 = "omg-cli: error: parsing zone us-east1-b: googleapi: Error 403: Access Not Configured. Compute Engine API has not been used in project 741080867211 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=741080867211 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured, try --help";
const GCP_CREATE_403 = "│ Error: Error creating Network: googleapi: Error 403: Compute Engine API has not been used in project 163272504585 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=163272504585 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.";

const AWS_CANDIDATES = [
    { region: "us-east-1", zone: "us-east-1a" },
    { region: "us-east-1", zone: "us-east-1e" },
    { region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false },
];
const GCP_SECTION = { project: "gpu-hosts-dev", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4" };

/** A StackOps that remembers every up's steps, failed ones included. */
function recording(stack: StackOps): { stack: StackOps; ups: { ok: boolean; resources: readonly ResourceChange[] }[] } {
    const ups: { ok: boolean; resources: readonly ResourceChange[] }[] = [];
    return {
        ups,
        stack: Object.assign(Object.create(stack) as StackOps, {
            up: async () => {
                try {
                    const r = await stack.up();
                    ups.push({ ok: true, resources: r.resources });
                    return r;
                } catch (e) {
                    ups.push({ ok: false, resources: e instanceof UpFailedError ? e.resources : [] });
                    throw e;
                }
            },
        }),
    };
}

describe("npm run deploy on the real engine (capacity test program, real command provider)", function () {
    this.timeout(240_000);
    let engine: Engine;
    let tmp: string;
    let workDir: string;
    let restoreEnv = () => {};

    before(function () {
        engine = requireEngine(this);
        tmp = tempEngineDir("gpu-hosts-engine-deploy-");
        workDir = path.join(tmp, "program");
        // The program stays in the repo (it imports the real config and placement code); only its
        // project file and stack files live here, so no test writes a tracked file.
        linkRepoProgram(PROGRAM, workDir);
        restoreEnv = setProcessEnv(engineEnv(engine, tmp, { plugins: true }));
    });
    after(() => {
        restoreEnv();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const cli = (args: string[]) => runCli(engine, [...args, "--non-interactive"], { cwd: workDir, env: engineEnv(engine, tmp, { plugins: true }) });

    async function stackWith(name: string, config: Record<string, unknown>, failures: Record<string, string>, apiNotReady?: object) {
        const all = {
            "gpu-hosts:slots": PINNED, "gpu-hosts:operatorCidrs": ["203.0.113.0/24"], "capacityTest:failures": failures,
            ...(apiNotReady ? { "capacityTest:apiNotReady": apiNotReady } : {}),
            ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`gpu-hosts:${k}`, v])),
        };
        fs.writeFileSync(path.join(workDir, `Pulumi.${name}.yaml`), YAML.stringify({ config: all }));
        const init = await cli(["stack", "init", name, "--secrets-provider", "passphrase"]);
        assert.equal(init.code, 0, report(init));
        const log: string[] = [];
        const rec = recording(await openStack({ stackName: name, workDir, onOutput: () => undefined }));
        return { ...rec, log, deps: { stack: rec.stack, log: (l: string) => log.push(l) } };
    }
    const noPin = (): never => assert.fail("the slots are pinned; nothing to pin");
    const stackFile = (name: string) => YAML.parse(fs.readFileSync(path.join(workDir, `Pulumi.${name}.yaml`), "utf8")).config;
    /** gpu-hosts:placements as deploy wrote it, or null. */
    const placements = (s: StackOps) => stackFile(s.name)["gpu-hosts:placements"] ?? null;
    const byHost = (changes: readonly ResourceChange[], host: string) => changes.filter((c) => c.urn.split("::").pop()!.startsWith(`${host}-`));

    it("walks the AWS candidates in order past two capacity failures, places the host on the third, and never touches the healthy GCP host", async () => {
        const s = await stackWith("dev", {
            clouds: ["aws", "gcp"],
            spot: true,
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: AWS_CANDIDATES },
            gcp: GCP_SECTION,
        }, { "us-east-1a g4dn.xlarge spot": AWS_ICE, "us-east-1e g4dn.xlarge spot": AWS_UNSUPPORTED });

        const r = await deploy(s.deps, noPin, { cheapest: false });

        // In order: the first, the second, then placed on the third.
        const aws = r.hosts.find((h) => h.cloud === "aws")!;
        assert.deepEqual(aws.attempts.map((a) => [a.placement.cloud === "aws" && a.placement.zone, a.failure?.code]), [
            ["us-east-1a", "InsufficientInstanceCapacity"],
            ["us-east-1e", "Unsupported"],
        ]);
        assert.deepEqual(aws.chosen, { cloud: "aws", region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false });
        assert.equal(s.ups.length, 3);
        assert.deepEqual(s.ups.map((u) => u.ok), [false, false, true]);
        // The engine ran the third placement's VM for real.
        const outputs = await s.stack.outputs();
        assert.deepEqual(outputs.placements, { aws: "us-east-2b g5.xlarge on-demand", gcp: "us-central1-a n1-standard-4+nvidia-tesla-t4 spot" });
        assert.deepEqual(outputs.vms, ["vm at us-east-2b g5.xlarge on-demand", "vm at us-central1-a n1-standard-4+nvidia-tesla-t4 spot"]);

        // The healthy host: each resource created once and never stepped again. (Which up creates
        // which depends on timing: after a failed step the engine starts no new step and lets the
        // running ones finish, so the rest of the host comes with a later up: pulumi/pulumi
        // pkg/resource/deploy/step_executor.go, executeChain and cancelDueToError.)
        const gcpSteps = s.ups.flatMap((u) => byHost(u.resources, "gcp").map((c) => `${c.change}:${c.urn.split("::").pop()}`));
        assert.deepEqual(gcpSteps.sort(), ["create:gcp-app", "create:gcp-vm"]);
        assert.deepEqual(byHost(s.ups[0].resources, "aws").map((c) => c.change), [], "the failed VM left nothing");

        // The stack config names the placement, with the failures that led to it.
        assert.deepEqual(stackFile("dev")["gpu-hosts:placements"], {
            aws: {
                region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false,
                tried: ["us-east-1a g4dn.xlarge spot: InsufficientInstanceCapacity", "us-east-1e g4dn.xlarge spot: Unsupported"],
            },
            // gcp has one placement (its section, no candidates): nothing to choose, nothing recorded.
            skipped: [],
        });
        // The table: each try with its error, the placement and its price.
        const table = s.log.join("\n");
        assert.match(table, /aws\s+us-east-1a g4dn\.xlarge spot\s+InsufficientInstanceCapacity/);
        assert.match(table, /\s+us-east-1e g4dn\.xlarge spot\s+Unsupported\s+us-east-2b g5\.xlarge on-demand\s+1\.0060/);
        assert.match(table, /gcp\s+-\s+-\s+us-central1-a n1-standard-4\+nvidia-tesla-t4 spot\s+0\.1620 \(spot, indicative\)/);
        assert.match(table, /done after 3 ups: \d resource\(s\) changed by the last/);

        // A second deploy is a no-op: one up, nothing changed, the config as it was.
        const before = fs.readFileSync(path.join(workDir, "Pulumi.dev.yaml"), "utf8");
        const again = await deploy(s.deps, noPin, { cheapest: false });
        assert.equal(again.rounds, 1);
        assert.deepEqual(again.up.resources, []);
        assert.equal(fs.readFileSync(path.join(workDir, "Pulumi.dev.yaml"), "utf8"), before);
        // And `pulumi up` without the driver keeps the recorded placement.
        const up = await cli(["preview", "--stack", "dev", "--diff"]);
        assert.equal(up.code, 0, report(up));
        assert.doesNotMatch(up.output, /to (create|update|replace|delete)/, report(up));
    });

    it("walks each host of aws.count 2 through the candidates on its own: aws-2 moves, aws stays, each recorded under its name", async () => {
        const s = await stackWith("two-aws", {
            clouds: ["aws"],
            spot: true,
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: AWS_CANDIDATES, count: 2 },
        }, { "aws-2 us-east-1a g4dn.xlarge spot": AWS_ICE, "aws-2 us-east-1e g4dn.xlarge spot": AWS_UNSUPPORTED });

        const r = await deploy(s.deps, noPin, { cheapest: false });

        assert.deepEqual(r.hosts.map((h) => [h.host, h.cloud, h.attempts.map((a) => a.failure?.code), h.chosen && describePlacement(h.chosen)]), [
            ["aws", "aws", [], "us-east-1a g4dn.xlarge spot"],
            ["aws-2", "aws", ["InsufficientInstanceCapacity", "Unsupported"], "us-east-2b g5.xlarge on-demand"],
        ]);
        assert.deepEqual(s.ups.map((u) => u.ok), [false, false, true]);
        const outputs = await s.stack.outputs();
        assert.deepEqual(outputs.placements, { "aws": "us-east-1a g4dn.xlarge spot", "aws-2": "us-east-2b g5.xlarge on-demand" });
        assert.deepEqual(Object.keys(outputs.hosts as object), ["aws", "aws-2"]);
        // The host that never failed was created once and never stepped again.
        const awsSteps = s.ups.flatMap((u) => u.resources.filter((c) => /::aws-(vm|app)$/.test(c.urn)).map((c) => `${c.change}:${c.urn.split("::").pop()}`));
        assert.deepEqual(awsSteps.sort(), ["create:aws-app", "create:aws-vm"]);
        // Each host's placement under its own name: aws has candidates, so deploy records where it runs too.
        assert.deepEqual(stackFile("two-aws")["gpu-hosts:placements"], {
            "aws-2": {
                region: "us-east-2", zone: "us-east-2b", instanceType: "g5.xlarge", spot: false,
                tried: ["us-east-1a g4dn.xlarge spot: InsufficientInstanceCapacity", "us-east-1e g4dn.xlarge spot: Unsupported"],
            },
            skipped: [],
            "aws": { region: "us-east-1", zone: "us-east-1a", instanceType: "g4dn.xlarge", spot: true, tried: [] },
        });
        const table = s.log.join("\n");
        assert.match(table, /aws\s+-\s+-\s+us-east-1a g4dn\.xlarge spot\s+0\.\d+ \(spot, indicative\)/);
        assert.match(table, /aws-2\s+us-east-1a g4dn\.xlarge spot\s+InsufficientInstanceCapacity/);
        assert.match(table, /aws-2 on us-east-2b g5\.xlarge on-demand/);
    });

    it("with fallback.otherClouds, skips the one host of a count whose candidates ran out; the cloud's other host serves", async () => {
        const only = [{ region: "us-east-1", zone: "us-east-1a" }];
        const s = await stackWith("skip-one", {
            clouds: ["aws"], aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: only, count: 2 },
            fallback: { candidates: true, spotToOnDemand: false, otherClouds: true },
        }, { "aws-2 us-east-1a g4dn.xlarge on-demand": AWS_ICE });
        const r = await deploy(s.deps, noPin, { cheapest: false });
        assert.deepEqual(r.hosts.map((h) => [h.host, h.skipped]), [["aws", false], ["aws-2", true]]);
        assert.deepEqual(placements(s.stack).skipped, ["aws-2"]);
        assert.deepEqual(Object.keys((await s.stack.outputs()).hosts as object), ["aws"]);
        assert.match(s.log.join("\n"), /aws-2: candidates ran out; deploying without it \(fallback\.otherClouds\): aws serve/);
    });

    it("stops on a failure that is not capacity: one up, the engine's error as it is, nothing recorded", async () => {
        const s = await stackWith("bad-ami", {
            clouds: ["aws"],
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: AWS_CANDIDATES },
        }, { "us-east-1a g4dn.xlarge on-demand": AWS_BAD_AMI });
        const err = await deploy(s.deps, noPin, { cheapest: false }).then(() => assert.fail("deploy succeeded"), (e: unknown) => e);
        assert.ok(err instanceof UpFailedError, String(err));
        assert.equal(s.ups.length, 1, "no retry");
        assert.match(err.errors[0].message, /api error InvalidAMIID\.NotFound: The image id '\[ami-0c55b159cbfafe1f0\]' does not exist/);
        assert.equal(placements(s.stack), null);
    });

    it("with fallback.otherClouds, deploys without a cloud whose candidates ran out; without it, stops and says why", async () => {
        const failures = { "us-central1-a n1-standard-4+nvidia-tesla-t4 on-demand": GCP_EXHAUSTED, "us-central1-b n1-standard-4+nvidia-tesla-t4 on-demand": GCP_EXHAUSTED };
        const config = { clouds: ["aws", "gcp"], gcp: { ...GCP_SECTION, candidates: [{ zone: "us-central1-a" }, { zone: "us-central1-b" }] } };

        const strict = await stackWith("strict", config, failures);
        const err = await deploy(strict.deps, noPin, { cheapest: false }).then(() => assert.fail("deploy succeeded"), (e: unknown) => e);
        assert.ok(isOpsError(err, "no-capacity"), String(err));
        assert.match(err.message, /no capacity for gcp: every candidate of gcp failed .* allow gpu-hosts:fallback\.otherClouds/);
        assert.equal(strict.ups.length, 2);
        assert.deepEqual(placements(strict.stack).gcp.tried, [
            "us-central1-a n1-standard-4+nvidia-tesla-t4 on-demand: ZONE_RESOURCE_POOL_EXHAUSTED",
            "us-central1-b n1-standard-4+nvidia-tesla-t4 on-demand: ZONE_RESOURCE_POOL_EXHAUSTED",
        ]);
        assert.match(strict.log.join("\n"), /gcp\s+us-central1-a .*ZONE_RESOURCE_POOL_EXHAUSTED[\s\S]*us-central1-b .*ZONE_RESOURCE_POOL_EXHAUSTED\s+none: candidates ran out/);

        const lenient = await stackWith("lenient", { ...config, fallback: { candidates: true, spotToOnDemand: false, otherClouds: true } }, failures);
        const r = await deploy(lenient.deps, noPin, { cheapest: false });
        assert.equal(lenient.ups.length, 3);
        assert.deepEqual(r.hosts.map((h) => [h.cloud, h.skipped, h.chosen && h.chosen.cloud]), [["aws", false, "aws"], ["gcp", true, undefined]]);
        assert.deepEqual(placements(lenient.stack).skipped, ["gcp"]);
        assert.deepEqual(Object.keys((await lenient.stack.outputs()).hosts as object), ["aws"]);
    });

    it("waits out a GCP API enabled minutes ago: the image lookup's 403 in two ups, then placed where it was, nothing moved", async () => {
        const counter = path.join(tmp, "api-ups-invoke");
        const s = await stackWith("api-wait", {
            clouds: ["gcp"],
            gcp: { ...GCP_SECTION, candidates: [{ zone: "us-central1-a" }, { zone: "us-central1-b" }] },
        }, {}, { counter, ups: 2, text: GCP_LOOKUP_403, at: "invoke" });
        const started = Date.now();
        const r = await deploy(s.deps, noPin, { cheapest: false, apiWait: { firstDelayMs: 300, maxDelayMs: 600, budgetMs: 5_000 } });
        assert.deepEqual(s.ups.map((u) => u.ok), [false, false, true]);
        assert.equal(r.rounds, 3);
        assert.ok(Date.now() - started >= 900, "waited 300 ms, then 600 ms");
        // Never a capacity failure: the host stays on its first candidate, and nothing is recorded as tried.
        assert.deepEqual(r.hosts.map((h) => [h.cloud, h.attempts.length, h.chosen && describePlacement(h.chosen)]), [["gcp", 0, "us-central1-a n1-standard-4+nvidia-tesla-t4 on-demand"]]);
        assert.deepEqual((await placements(s.stack)).gcp.tried, []);
        const waits = s.log.filter((l) => l.includes("is not enabled for project"));
        assert.deepEqual(waits.map((l) => /up again in (\S+ \S+)/.exec(l)?.[1]), ["300 ms", "600 ms"]);
        assert.match(waits[0], /compute\.googleapis\.com is not enabled for project 741080867211 yet \(403\).*`gcloud services enable compute\.googleapis\.com --project=741080867211`/);
        assert.equal(fs.readFileSync(counter, "utf8"), "3");
    });

    it("gives up on an API that stays disabled after its bound, with the command that enables it; never moves the host", async () => {
        const s = await stackWith("api-never", {
            clouds: ["gcp"],
            gcp: { ...GCP_SECTION, candidates: [{ zone: "us-central1-a" }, { zone: "us-central1-b" }] },
        }, {}, { counter: path.join(tmp, "api-ups-vm"), ups: 1000, text: GCP_CREATE_403, at: "vm" });
        const err = await deploy(s.deps, noPin, { cheapest: false, apiWait: { firstDelayMs: 100, maxDelayMs: 200, budgetMs: 500 } })
            .then(() => assert.fail("deploy succeeded"), (e: unknown) => e);
        assert.ok(err instanceof UpFailedError, String(err));
        // Waits of 100, 200 and 200 ms fill the 500 ms: four ups, the last one's error with the fix.
        assert.equal(s.ups.length, 4);
        assert.match(err.message, /compute\.googleapis\.com is still not enabled for project 163272504585 after 500 ms of waiting .*enable it with `gcloud services enable compute\.googleapis\.com --project=163272504585`/);
        assert.match(err.errors[0].message, /Compute Engine API has not been used in project 163272504585/);
        assert.equal(await placements(s.stack), null);
    });

    it("--cheapest tries the cheapest candidate first, and spotToOnDemand tries a failed spot placement on-demand next", async () => {
        const s = await stackWith("cheap", {
            clouds: ["aws"],
            fallback: { candidates: true, spotToOnDemand: true, otherClouds: false },
            aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: [{ region: "us-east-1", instanceType: "g5.xlarge", spot: false }, { region: "us-east-1", zone: "us-east-1a", spot: true }] },
        }, { "us-east-1a g4dn.xlarge spot": AWS_ICE });
        const r = await deploy(s.deps, noPin, { cheapest: true });
        // g4dn spot (0.1841, indicative) < g4dn on-demand (0.526, its twin) < g5 on-demand (1.006).
        assert.deepEqual(r.hosts[0].attempts.map((a) => a.failure?.code), ["InsufficientInstanceCapacity"]);
        assert.deepEqual(r.hosts[0].chosen, { cloud: "aws", region: "us-east-1", zone: "us-east-1a", instanceType: "g4dn.xlarge", spot: false });
    });
});
