// The stack outputs' one parser (infra/contract/parseOutputs.ts parseStackOutputs): each host kind's
// fields, read and typed; every malformed field named at once; missing outputs named before anything
// else (a stack deployed by no or an older version).
import * as assert from "node:assert/strict";
import { StackOutputs, isCloudHost, isRemoteHost } from "../../infra/contract/outputs";
import { OutputsError, parseStackOutputs } from "../../infra/contract/parseOutputs";

const slots = {
    blue: { release: "workdir", commit: "1".repeat(40), label: "workdir@111111111111", image: "h-app-blue:1111" },
    green: { release: "v2", commit: "2".repeat(40), label: "v2@222222222222", image: "h-app-green:2222" },
};
const base = (address: string) => ({
    gpu: "NVIDIA T4", address, liveUrl: `https://${address}:8000`, idleUrl: `https://${address}:8001`,
    healthUrl: `https://${address}:8000/health`, idleHealthUrl: `https://${address}:8001/health`, docsUrl: `https://${address}:8000/docs`,
    apiUrl: `https://${address}:8000`, liveColor: "blue", idleColor: "green", slots,
});
const ssh = (user: string, address: string) => `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-x -o IdentitiesOnly=yes ${user}@${address}`;
const HOSTS = {
    local: { kind: "local", ...base("127.0.0.1"), gpu: "none", liveUrl: "http://127.0.0.1:8000" },
    box: { kind: "ssh", ...base("203.0.113.30"), port: 2222, user: "ops", machineId: "0".repeat(32), authorizedKey: "ssh-ed25519 AAAAC3Nza gpu-hosts", ssh: ssh("ops", "203.0.113.30") },
    aws: { kind: "aws", ...base("203.0.113.10"), region: "us-east-1", zone: "us-east-1b", instanceType: "g4dn.xlarge", spot: true, ssh: ssh("ubuntu", "203.0.113.10"), caRootCert: "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n" },
    gcp: { kind: "gcp", ...base("203.0.113.20"), region: "us-central1", zone: "us-central1-a", instanceType: "n1-standard-4", spot: false, ssh: ssh("ubuntu", "203.0.113.20") },
    azure: { kind: "azure", ...base("203.0.113.40"), region: "eastus", zone: "none", instanceType: "Standard_NC4as_T4_v3", spot: false, ssh: ssh("ubuntu", "203.0.113.40") },
};
const valid = (): Record<string, unknown> => ({
    liveColor: "blue", idleColor: "green", liveUrl: "http://127.0.0.1:8000", idleUrl: "http://127.0.0.1:8001", apiUrl: "http://127.0.0.1:8000",
    docsUrl: "http://127.0.0.1:8000/docs", healthUrl: "http://127.0.0.1:8000/health", model: "qwen2.5:0.5b", image: "h-app-blue:1111", slots,
    pins: { blue: { release: "workdir", commit: "1".repeat(40), configCommit: "" }, green: { release: "v2", commit: "2".repeat(40), configCommit: "2".repeat(40) } },
    hosts: HOSTS, hostImages: ["redis:7.4", "h-app-blue:1111"], apiKey: "k".repeat(48), opsApiKey: "o".repeat(48), caRootCert: null,
});

/** The problems parseStackOutputs names for `raw` (it must throw). */
function problems(raw: Record<string, unknown>): readonly string[] {
    try {
        parseStackOutputs(raw);
    } catch (e) {
        assert.ok(e instanceof OutputsError, String(e));
        assert.deepEqual(e.missing, []);
        return e.problems;
    }
    return assert.fail("parsed");
}

describe("parseStackOutputs", () => {
    it("reads every kind's fields: the local engine none, an own server its login and identity, a cloud VM where and how it runs", () => {
        const o: StackOutputs = parseStackOutputs(valid());
        assert.deepEqual(o, valid(), "every field, as given");
        assert.deepEqual(Object.keys(o.hosts), ["local", "box", "aws", "gcp", "azure"]);
        const { local, box, aws, azure } = o.hosts;
        assert.equal(local.kind, "local");
        assert.ok(!isRemoteHost(local) && !isCloudHost(local));
        assert.ok(box.kind === "ssh" && isRemoteHost(box) && !isCloudHost(box));
        assert.deepEqual([box.port, box.user, box.machineId, box.authorizedKey], [2222, "ops", "0".repeat(32), "ssh-ed25519 AAAAC3Nza gpu-hosts"]);
        assert.ok(isCloudHost(aws));
        assert.deepEqual([aws.region, aws.zone, aws.instanceType, aws.spot, aws.ssh], ["us-east-1", "us-east-1b", "g4dn.xlarge", true, ssh("ubuntu", "203.0.113.10")]);
        assert.ok(isCloudHost(azure) && azure.zone === "none");
        assert.equal(aws.caRootCert, HOSTS.aws.caRootCert);
        assert.equal(o.caRootCert, null);
    });

    it("takes the kept pins from the slots of a stack deployed before the pins output (their commits came from the config then)", () => {
        const raw = valid();
        delete raw.pins;
        assert.deepEqual(parseStackOutputs(raw).pins, {
            blue: { release: "workdir", commit: "1".repeat(40), configCommit: "1".repeat(40) },
            green: { release: "v2", commit: "2".repeat(40), configCommit: "2".repeat(40) },
        });
    });

    it("leaves out what is optional and absent (keys off, the operator's own SSH key, no CA), and what the contract does not name", () => {
        const raw = valid();
        delete raw.apiKey;
        delete raw.opsApiKey;
        delete raw.caRootCert;
        const { authorizedKey: _, ...box } = HOSTS.box;
        const o = parseStackOutputs({ ...raw, hosts: { box: { ...box, someday: "a field of a newer version" } } });
        assert.deepEqual(Object.keys(o).filter((k) => ["apiKey", "opsApiKey", "caRootCert"].includes(k)), []);
        assert.ok(o.hosts.box.kind === "ssh");
        assert.equal("authorizedKey" in o.hosts.box, false);
        assert.equal("someday" in o.hosts.box, false, "built from the checked fields only");
    });

    it("names every missing output, in the contract's order, before anything else", () => {
        assert.throws(() => parseStackOutputs({}), (e: unknown) => e instanceof OutputsError && e.message ===
            'no output "liveColor"; no output "idleColor"; no output "liveUrl"; no output "idleUrl"; no output "apiUrl"; no output "docsUrl"; ' +
            'no output "healthUrl"; no output "model"; no output "image"; no output "slots"; no output "hosts"; no output "hostImages"');
        const { hosts: _, idleUrl: __, ...rest } = valid();
        assert.throws(() => parseStackOutputs({ ...rest, liveColor: "purple", idleUrl: null }),
            (e: unknown) => e instanceof OutputsError && e.missing.join() === "idleUrl,hosts" && e.problems.length === 0);
    });

    it("names every malformed field at once, each with its path, what is allowed and what it got", () => {
        const { label: _, ...blue } = slots.blue;
        assert.deepEqual(problems({
            ...valid(),
            liveColor: "purple",
            // Not reported again: which color it should be follows from liveColor.
            idleColor: "blue",
            liveUrl: "",
            model: 5,
            slots: { blue, green: "v2" },
            hosts: {
                moon: { ...HOSTS.local, kind: "moon" },
                box: { ...HOSTS.box, port: 70000, user: undefined, machineId: "", authorizedKey: "", ssh: 1, idleColor: "blue" },
                aws: { ...HOSTS.aws, spot: "yes", zone: undefined, region: "", caRootCert: null, slots: { blue: slots.blue } },
                gone: null,
            },
            hostImages: ["redis:7.4", ""],
            apiKey: "",
        }), [
            'liveColor must be "blue" or "green", got "purple"',
            "liveUrl must be a non-empty string, got \"\"",
            "model must be a non-empty string, got 5",
            "slots.blue.label must be a non-empty string, got undefined",
            'slots.green must be { release, commit, label, image }, got "v2"',
            'hosts.moon.kind must be one of "local", "aws", "gcp", "azure", "ssh", got "moon"',
            'hosts.box.idleColor must be the other color than hosts.box.liveColor ("blue"), got "blue"',
            "hosts.box.port must be a port number (1-65535), got 70000",
            "hosts.box.user must be a non-empty string, got undefined",
            'hosts.box.machineId must be a non-empty string, got ""',
            'hosts.box.authorizedKey must be a non-empty string, got ""',
            "hosts.box.ssh must be a non-empty string, got 1",
            "hosts.aws.caRootCert must be a non-empty string, got null",
            "hosts.aws.slots.green must be { release, commit, label, image }, got undefined",
            'hosts.aws.region must be a non-empty string, got ""',
            "hosts.aws.zone must be a non-empty string, got undefined",
            'hosts.aws.spot must be true or false, got "yes"',
            "hosts.gone must be an object, got null",
            'hostImages[1] must be a non-empty string, got ""',
            'apiKey must be a non-empty string, got ""',
        ]);
    });

    it("refuses hosts that name no host, or are no map", () => {
        assert.deepEqual(problems({ ...valid(), hosts: {} }), ["hosts must name at least one host, got {}"]);
        assert.deepEqual(problems({ ...valid(), hosts: ["local"] }), ['hosts must be an object mapping each host name to its outputs, got ["local"]']);
        assert.deepEqual(problems({ ...valid(), hostImages: "redis:7.4" }), ['hostImages must be a list of non-empty strings, got "redis:7.4"']);
    });
});
