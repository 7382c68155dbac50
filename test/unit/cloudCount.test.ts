// gpu-hosts:<cloud>.count: the config's wording, the hosts' names, and where the names go
// (placements, tls.domains, own servers' names). Pure: loadConfig only.
import * as assert from "assert";
import { ConfigError, StackConfig, loadConfig } from "../../infra/config";
import { MAX_HOSTS_PER_CLOUD } from "../../infra/config/placements";
import { CLOUD_NAMES } from "../../infra/clouds";
import { cloudHosts, deployedHosts, hostsOfCloud, placementOf } from "../../infra/clouds/placement";
import { appStackName, cloudHostName, parseCloudHostName, proxyName, slotName, vmName } from "../../infra/contract/names";
import { HOST_NAME } from "../../infra/validators";

const raw = (o: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
const C1 = "c1".repeat(20);
const PINNED = { slots: { blue: { release: "workdir", commit: C1 }, green: { release: "workdir", commit: C1 } } };
const CLOUDS_OK = { clouds: ["aws", "gcp"], operatorCidrs: ["203.0.113.0/24"], apiCidrs: ["0.0.0.0/0"], gcp: { project: "gpu-hosts-dev" } };

const load = (o: Record<string, unknown>): StackConfig => loadConfig("dev", raw({ ...PINNED, ...CLOUDS_OK, ...o }));
function problems(o: Record<string, unknown>): readonly string[] {
    try {
        load(o);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("expected a ConfigError");
}

describe("cloud host names (gpu-hosts:<cloud>.count)", () => {
    it("names a cloud's first host as the cloud, the others <cloud>-<n>, and reads them back", () => {
        assert.deepStrictEqual([1, 2, 3].map((n) => cloudHostName("aws", n)), ["aws", "aws-2", "aws-3"]);
        assert.deepStrictEqual(parseCloudHostName("aws-2", CLOUD_NAMES), { cloud: "aws", n: 2 });
        assert.deepStrictEqual(parseCloudHostName("gcp", CLOUD_NAMES), { cloud: "gcp", n: 1 });
        assert.deepStrictEqual(parseCloudHostName("azure-10", CLOUD_NAMES), { cloud: "azure", n: 10 });
        // Not a cloud host's name: the first host has no "-1", no leading zero, no other suffix.
        for (const name of ["aws-1", "aws-02", "aws-0", "aws-x", "awsy", "aws-2-vm", "box1", "local", "ssh", ""]) {
            assert.strictEqual(parseCloudHostName(name, CLOUD_NAMES), undefined, name);
        }
    });

    it("keeps every name the count allows a valid host name, and its resources' names within what the clouds take", () => {
        for (const cloud of CLOUD_NAMES) {
            for (let n = 1; n <= MAX_HOSTS_PER_CLOUD; n++) {
                const host = cloudHostName(cloud, n);
                assert.ok(HOST_NAME.re.test(host), host);
                // GCP resource names and network tags: RFC 1035, at most 63 characters
                // (https://cloud.google.com/compute/docs/naming-resources); the longest child name
                // is a firewall rule's, and Pulumi adds an 8-character random suffix to auto-names.
                for (const child of [`${host}-allow-acme-v6`, vmName(host), `gpu-hosts-${host}`, slotName(appStackName(host), "green"), `${proxyName(appStackName(host))}-routes`]) {
                    assert.ok(/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(child) && child.length + 8 <= 63, child);
                }
            }
        }
    });
});

describe("config: gpu-hosts:<cloud>.count", () => {
    it("defaults to 1 on every cloud: one host, named as the cloud", () => {
        const cfg = load({});
        for (const c of CLOUD_NAMES) assert.strictEqual(cfg[c].count, 1, c);
        assert.deepStrictEqual(cloudHosts(cfg), [{ name: "aws", cloud: "aws" }, { name: "gcp", cloud: "gcp" }]);
    });

    it("makes count hosts of a cloud, in order, each on its cloud's first candidate", () => {
        const cfg = load({ aws: { count: 3 } });
        assert.deepStrictEqual(hostsOfCloud(cfg, "aws").map((h) => h.name), ["aws", "aws-2", "aws-3"]);
        assert.deepStrictEqual(cloudHosts(cfg).map((h) => h.name), ["aws", "aws-2", "aws-3", "gcp"]);
        for (const h of hostsOfCloud(cfg, "aws")) assert.deepStrictEqual(placementOf(cfg, h), placementOf(cfg, { name: "aws", cloud: "aws" }));
    });

    it("names the key, the value and what is allowed for a count that is not an integer from 1 to the maximum, every one at once", () => {
        assert.deepStrictEqual(problems({ aws: { count: 0 }, gcp: { project: "gpu-hosts-dev", count: 2.5 }, azure: { count: "three" } }), [
            `gpu-hosts:aws.count must be an integer from 1 to ${MAX_HOSTS_PER_CLOUD}, got 0`,
            `gpu-hosts:gcp.count must be an integer from 1 to ${MAX_HOSTS_PER_CLOUD}, got 2.5`,
            `gpu-hosts:azure.count must be an integer from 1 to ${MAX_HOSTS_PER_CLOUD}, got "three"`,
        ]);
        assert.deepStrictEqual(problems({ aws: { count: MAX_HOSTS_PER_CLOUD + 1 } }), [
            `gpu-hosts:aws.count must be an integer from 1 to ${MAX_HOSTS_PER_CLOUD}, got ${MAX_HOSTS_PER_CLOUD + 1}`,
        ]);
        assert.strictEqual(load({ aws: { count: MAX_HOSTS_PER_CLOUD } }).aws.count, MAX_HOSTS_PER_CLOUD);
    });

    it("lists count among a section's known fields", () => {
        assert.deepStrictEqual(problems({ aws: { cuont: 2 } }), [
            "gpu-hosts:aws.cuont is not a known field; known fields: region, instanceType, candidates, count",
        ]);
    });
});

describe("config: placements by host name", () => {
    const AWS2 = { region: "us-west-2", zone: "us-west-2b", instanceType: "g5.xlarge", spot: false, tried: ["us-east-1 (any zone) g4dn.xlarge on-demand: InsufficientInstanceCapacity"] };

    it("reads a recorded placement of a cloud's second host, checked against the cloud's section and catalog", () => {
        const cfg = load({ aws: { count: 2 }, placements: { "aws-2": AWS2, skipped: [] } });
        assert.deepStrictEqual(placementOf(cfg, { name: "aws-2", cloud: "aws" }), { cloud: "aws", region: "us-west-2", zone: "us-west-2b", instanceType: "g5.xlarge", spot: false });
        assert.deepStrictEqual(placementOf(cfg, { name: "aws", cloud: "aws" }), { cloud: "aws", region: "us-east-1", zone: "", instanceType: "g4dn.xlarge", spot: false });
        assert.deepStrictEqual(problems({ aws: { count: 2 }, placements: { "aws-2": { ...AWS2, instanceType: "m5.large" } } }), [
            "gpu-hosts:placements.aws-2.instanceType must be a g4dn (T4), g5 (A10G) or g6 (L4) size from xlarge to 16xlarge, e.g. \"g4dn.xlarge\", got \"m5.large\"",
        ]);
    });

    it("keeps, unchecked, the entry of a host the count no longer has (it counts again when the count comes back)", () => {
        const cfg = load({ placements: { "aws-2": { ...AWS2, instanceType: "m5.large" } } });
        assert.deepStrictEqual(cloudHosts(cfg).map((h) => h.name), ["aws", "gcp"]);
        assert.strictEqual((cfg.placements["aws-2"] as { instanceType: string }).instanceType, "m5.large");
    });

    it("refuses a name that is no cloud host's, and skipped entries that are not host names", () => {
        assert.deepStrictEqual(problems({ placements: { "aws-1": AWS2, "aws-11": AWS2, skipped: ["aws-2", "box1"] } }), [
            `gpu-hosts:placements.aws-1 is not a known field; known fields: aws, aws-2 ... aws-${MAX_HOSTS_PER_CLOUD}, gcp, gcp-2 ... gcp-${MAX_HOSTS_PER_CLOUD}, azure, azure-2 ... azure-${MAX_HOSTS_PER_CLOUD}, skipped`,
            `gpu-hosts:placements.aws-11 is not a known field; known fields: aws, aws-2 ... aws-${MAX_HOSTS_PER_CLOUD}, gcp, gcp-2 ... gcp-${MAX_HOSTS_PER_CLOUD}, azure, azure-2 ... azure-${MAX_HOSTS_PER_CLOUD}, skipped`,
            `gpu-hosts:placements.skipped must be a list of cloud host names (aws, aws-2 ... aws-${MAX_HOSTS_PER_CLOUD}, gcp, gcp-2 ... gcp-${MAX_HOSTS_PER_CLOUD}, azure, azure-2 ... azure-${MAX_HOSTS_PER_CLOUD}), got "box1"`,
        ]);
    });

    it("skips hosts one by one, and refuses skipping every host of the stack", () => {
        const cfg = load({ aws: { count: 2 }, placements: { skipped: ["aws"] } });
        assert.deepStrictEqual(deployedHosts(cfg).map((h) => h.name), ["aws-2", "gcp"]);
        assert.deepStrictEqual(problems({ aws: { count: 2 }, placements: { skipped: ["aws", "aws-2", "gcp"] } }), [
            "gpu-hosts:placements.skipped must be a list that leaves at least one host of gpu-hosts:clouds to deploy, got [\"aws\",\"aws-2\",\"gcp\"]",
        ]);
    });
});

describe("config: cloud host names beside own servers and domains", () => {
    const SERVERS = { clouds: ["aws", "gcp", "ssh"], ssh: { hosts: [{ name: "aws-2", address: "203.0.113.20" }, { name: "gcp-3", address: "203.0.113.21" }] } };

    it("refuses an own server named like one of the stack's cloud hosts, naming the count", () => {
        assert.deepStrictEqual(problems({ ...SERVERS, aws: { count: 2 }, gcp: { project: "gpu-hosts-dev", count: 3 } }), [
            "gpu-hosts:ssh.hosts[0].name must be a name no cloud host of the stack has (gpu-hosts:aws.count is 2: its hosts are \"aws\", \"aws-2\"), got \"aws-2\"",
            "gpu-hosts:ssh.hosts[1].name must be a name no cloud host of the stack has (gpu-hosts:gcp.count is 3: its hosts are \"gcp\", \"gcp-2\", \"gcp-3\"), got \"gcp-3\"",
        ]);
    });

    it("lets an own server keep a <cloud>-<n> name no host of the stack has", () => {
        const cfg = load({ ...SERVERS, aws: { count: 1 } });
        assert.deepStrictEqual(cfg.ssh.hosts.map((h) => h.name), ["aws-2", "gcp-3"]);
    });

    it("takes a domain per cloud host for tls acme, and requires one for every host of the count", () => {
        const acme = (domains: Record<string, string>) => ({ aws: { count: 2 }, clouds: ["aws"], tls: { mode: "acme", domains, email: "" } });
        assert.strictEqual(load(acme({ aws: "a.example.com", "aws-2": "b.example.com" })).tls.domains["aws-2"], "b.example.com");
        assert.deepStrictEqual(problems(acme({ aws: "a.example.com" })), [
            "gpu-hosts:tls.domains.aws-2 must be the DNS name of the aws-2 host when gpu-hosts:tls.mode is \"acme\" (a public CA issues only for a name), got \"\"",
        ]);
        assert.deepStrictEqual(problems(acme({ aws: "a.example.com", "aws-2": "a.example.com", oracle: "o.example.com" })), [
            `gpu-hosts:tls.domains.oracle is not a known field; known fields: aws, aws-2 ... aws-${MAX_HOSTS_PER_CLOUD}, gcp, gcp-2 ... gcp-${MAX_HOSTS_PER_CLOUD}, azure, azure-2 ... azure-${MAX_HOSTS_PER_CLOUD}`,
            "gpu-hosts:tls.domains.aws-2 must be a DNS name other than tls.domains.aws's (each host needs its own when gpu-hosts:tls.mode is \"acme\"), got \"a.example.com\"",
        ]);
    });
});
