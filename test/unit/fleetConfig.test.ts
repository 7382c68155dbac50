// gpu-hosts:fleet's reader and rules (infra/config/sections/fleet.ts): every problem at once, each
// naming the key, the value and what is allowed; the wording pinned.
import * as assert from "assert";
import { ConfigError, loadConfig } from "../../infra/config";
import { roleOf } from "../../infra/config/sections/fleet";
import { stackHosts } from "../../infra/config/fleet";

const raw = (o: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
const C1 = "c1".repeat(20);
const pin = (o: Record<string, unknown>) => raw({ slots: { blue: { release: "workdir", commit: C1 }, green: { release: "workdir", commit: C1 } }, ...o });

function problems(o: Record<string, unknown>): readonly string[] {
    try {
        loadConfig("dev", pin(o));
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("expected a ConfigError");
}

const SERVERS = {
    clouds: ["ssh", "aws"],
    operatorCidrs: ["203.0.113.0/24"],
    ssh: { hosts: [{ name: "hub", address: "203.0.113.10", gpu: false }, { name: "box", address: "gpu.example.com", port: 2222 }] },
};

describe("config: gpu-hosts:fleet", () => {
    it("is off by default: every host an island, no role", () => {
        const cfg = loadConfig("dev", pin({ clouds: ["aws"], operatorCidrs: ["203.0.113.0/24"] }));
        assert.deepStrictEqual(cfg.fleet, { hub: "", redisPort: 6380, redisAddress: "", redisCidrs: [], redisDiskGb: 20 });
        assert.strictEqual(roleOf(cfg, "aws"), undefined);
    });

    it("reads a hub and its fields; the hub's role is hub, every other host's worker, in the stack's order", () => {
        const cfg = loadConfig("dev", pin({ ...SERVERS, fleet: { hub: "hub", redisPort: 16380, redisAddress: "10.8.0.1", redisCidrs: ["198.51.100.0/24"], redisDiskGb: 50 } }));
        assert.deepStrictEqual(cfg.fleet, { hub: "hub", redisPort: 16380, redisAddress: "10.8.0.1", redisCidrs: ["198.51.100.0/24"], redisDiskGb: 50 });
        assert.deepStrictEqual(stackHosts(cfg).map((h) => [h.name, roleOf(cfg, h.name)]), [["hub", "hub"], ["box", "worker"], ["aws", "worker"]]);
    });

    it("reports every bad field at once, each with its value and what is allowed", () => {
        assert.deepStrictEqual(problems({ ...SERVERS, fleet: { hub: 7, redisPort: 0, redisAddress: "not an address!", redisCidrs: ["10.0.0.1/8"], redisDiskGb: 5, extra: true } }), [
            "gpu-hosts:fleet.extra is not a known field; known fields: hub, redisPort, redisAddress, redisCidrs, redisDiskGb",
            "gpu-hosts:fleet.hub must be a host name of the stack, or \"\" for no fleet, got 7",
            "gpu-hosts:fleet.redisPort must be an integer from 1 to 65535, got 0",
            "gpu-hosts:fleet.redisAddress must be an IPv4 or IPv6 address or a DNS name, e.g. \"203.0.113.10\" or \"gpu1.example.com\", or \"\" for the hub's address, got \"not an address!\"",
            "gpu-hosts:fleet.redisCidrs must be a list of CIDR blocks without host bits set (did you mean \"10.0.0.0/8\"?), got \"10.0.0.1/8\"",
            "gpu-hosts:fleet.redisDiskGb must be an integer from 10 to 16384, got 5",
        ]);
    });

    it("refuses a hub that is not a host the stack deploys, naming those it does", () => {
        assert.deepStrictEqual(problems({ ...SERVERS, fleet: { hub: "gcp", redisCidrs: ["198.51.100.0/24"] } }), [
            "gpu-hosts:fleet.hub must be the name of a host the stack deploys (\"hub\", \"box\", \"aws\"), or \"\" for no fleet, got \"gcp\"",
        ]);
    });

    it("refuses a spot hub: a reclaimed hub would stop the whole fleet's queue", () => {
        assert.deepStrictEqual(problems({ clouds: ["aws", "azure"], operatorCidrs: ["203.0.113.0/24"], spot: true, fleet: { hub: "aws" } }), [
            "gpu-hosts:fleet.hub must be a host on on-demand capacity: \"aws\" runs on spot (gpu-hosts:spot or its placement), and a reclaimed hub would stop the whole fleet's queue; choose another host, or set aws's placement to on-demand, got \"aws\"",
        ]);
        // On-demand through its own placement: accepted.
        const cfg = loadConfig("dev", pin({ clouds: ["aws", "azure"], operatorCidrs: ["203.0.113.0/24"], spot: true, aws: { candidates: [{ region: "us-east-1", instanceType: "g4dn.xlarge", spot: false }] }, fleet: { hub: "aws" } }));
        assert.strictEqual(cfg.fleet.hub, "aws");
    });

    it("refuses a Redis port the hub already uses, a local hub nobody can dial, a fleet without a worker, and worker hosts the firewall cannot name", () => {
        assert.deepStrictEqual(problems({ ...SERVERS, fleet: { hub: "hub", redisPort: 8000 } }), [
            "gpu-hosts:fleet.redisPort must be a port other than gpu-hosts:apiPort (8000) on the hub, got 8000",
            "gpu-hosts:fleet.redisCidrs must be the CIDR blocks the worker hosts \"box\" (\"gpu.example.com\") connect from (their addresses are no IP the hub's firewall can open the Redis port to), got []",
        ]);
        assert.deepStrictEqual(problems({ ...SERVERS, ssh: { hosts: [{ name: "hub", address: "203.0.113.10", port: 6380 }] }, clouds: ["ssh"], fleet: { hub: "hub" } }), [
            "gpu-hosts:fleet.redisPort must be a port other than the hub's SSH port (gpu-hosts:ssh) (6380) on the hub, got 6380",
        ]);
        assert.deepStrictEqual(problems({ clouds: ["local", "aws"], operatorCidrs: ["203.0.113.0/24"], fleet: { hub: "local" } }), [
            "gpu-hosts:fleet.redisAddress must be the address the other hosts dial to reach the hub when the hub is \"local\" (its own address, \"127.0.0.1\", is only this machine's), got \"\"",
        ]);
        assert.deepStrictEqual(problems({ clouds: ["local"], fleet: { hub: "local" } }), [
            "gpu-hosts:fleet.hub must be a host with a GPU when it is the stack's only host (a fleet needs a host that runs workers; \"local\" has none), got \"local\"",
        ]);
    });
});
