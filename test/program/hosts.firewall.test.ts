// The inbound policy across every cloud at once: each stack builds all three hosts and every
// ingress rule of every cloud is checked.
import * as assert from "assert";
import { AwsGpuHost } from "../../infra/clouds/aws/host";
import { AzureGpuHost } from "../../infra/clouds/azure/host";
import { ACME_CHALLENGE_PORT, NEVER_EXPOSED_PORTS, SSH_PORT } from "../../infra/clouds/common";
import { GcpGpuHost } from "../../infra/clouds/gcp/host";
import { buildHost, ingressOf, isWorld } from "../helpers/hosts";

for (const stack of ["dev", "prod"] as const) {
    describe(`firewalls of all three clouds (${stack})`, () => {
        let run: Awaited<ReturnType<typeof buildAll>>;
        const buildAll = () => buildHost(stack, (cfg, args) => [
            new AwsGpuHost("aws", { ...args, aws: cfg.aws }),
            new GcpGpuHost("gcp", { ...args, gcp: cfg.gcp }),
            new AzureGpuHost("azure", { ...args, azure: cfg.azure }),
        ]);
        before(async () => { run = await buildAll(); });

        it("has rules in every cloud", () => {
            const rules = ingressOf(run.mocks.resources);
            for (const cloud of ["aws", "gcp", "azure"]) assert.ok(rules.some((r) => r.resource.startsWith(`${cloud}-`)), cloud);
        });

        it("never opens Redis (6379) or Ollama (11434)", () => {
            for (const r of ingressOf(run.mocks.resources)) {
                for (const p of NEVER_EXPOSED_PORTS) assert.ok(p < r.from || p > r.to, `${r.resource} opens ${p} to ${r.source}`);
            }
        });

        it("opens only SSH, the idle port and the API port, each to its own CIDRs", () => {
            const { operatorCidrs, apiCidrs, apiPort, idlePort } = run.cfg;
            for (const r of ingressOf(run.mocks.resources)) {
                assert.strictEqual(r.from, r.to, `${r.resource} opens a range`);
                const allowed = r.from === apiPort ? [...apiCidrs, ...operatorCidrs] : [SSH_PORT, idlePort].includes(r.from) ? operatorCidrs : [];
                assert.ok(allowed.includes(r.source), `${r.resource} opens ${r.from} to ${r.source}`);
            }
        });

        it("opens the live port to the operators too: promote and rollback verify it from their machine", () => {
            // In prod the clients' apiCidrs (192.0.2.0/24) and the operators' CIDRs are disjoint:
            // without this every promote timed out verifying the live URL, rolled back, and failed that check too.
            const { operatorCidrs, apiPort } = run.cfg;
            for (const cloud of ["aws", "gcp", "azure"]) {
                const live = ingressOf(run.mocks.resources).filter((r) => r.resource.startsWith(`${cloud}-`) && r.from === apiPort).map((r) => r.source);
                for (const c of operatorCidrs) assert.ok(live.includes(c), `${cloud}: the live port is open to the operators' ${c}`);
            }
        });

        if (stack === "prod") {
            it("opens nothing to the world in prod", () => {
                for (const r of ingressOf(run.mocks.resources)) assert.ok(!isWorld(r.source), `${r.resource} opens ${r.from} to ${r.source}`);
            });
        } else {
            it("opens SSH and the idle port to the operators only, even in dev", () => {
                for (const r of ingressOf(run.mocks.resources).filter((x) => x.from !== run.cfg.apiPort)) assert.ok(!isWorld(r.source), r.resource);
            });
        }
    });
}

describe("firewalls with publicly trusted certificates (tls mode acme)", () => {
    it("open port 80 to everyone for the HTTP-01 challenge on every cloud, and nothing else changes", async () => {
        const tls = { mode: "acme", domains: { aws: "aws.gpu.example.com", gcp: "gcp.gpu.example.com", azure: "az.gpu.example.com" } };
        const build = (overrides: Record<string, unknown>) => buildHost("prod", (cfg, args) => [
            new AwsGpuHost("aws", { ...args, aws: cfg.aws }),
            new GcpGpuHost("gcp", { ...args, gcp: cfg.gcp }),
            new AzureGpuHost("azure", { ...args, azure: cfg.azure }),
        ], overrides);
        const plain = ingressOf((await build({})).mocks.resources);
        const acme = ingressOf((await build({ tls })).mocks.resources);
        const key = (r: { resource: string; from: number; source: string }) => `${r.resource.split("-")[0]} ${r.from} ${r.source}`;
        const added = acme.map(key).filter((k) => !plain.map(key).includes(k)).sort();
        assert.deepStrictEqual(added, ["aws", "azure", "gcp"].flatMap((c) => [`${c} ${ACME_CHALLENGE_PORT} 0.0.0.0/0`, `${c} ${ACME_CHALLENGE_PORT} ::/0`]).sort());
        assert.deepStrictEqual(plain.map(key).filter((k) => !acme.map(key).includes(k)), [], "nothing else closes");
    });
});
