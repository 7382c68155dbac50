// Issue 11 under the strict mocks, through the real index.ts: API keys on every stack, kept secret
// everywhere; HTTPS on cloud stacks (the stack's CA by default, a public certificate with acme);
// the switches that turn either off.
import * as assert from "assert";
import { GENERATED_KEY_LENGTH } from "../../infra/service/access";
import { ACME_HTTP_PORT } from "../../infra/service/proxy";
import { isSecretInput, plain, plainStrings } from "../helpers/secrets";
import { ProgramRun, runProgram, secret } from "../helpers/stack";

const OPERATOR_KEY = "op-key-0123456789abcdefghijklmnopqrstuvwxyz";
const CLOUDS = ["aws", "gcp", "azure"];

describe("API keys", () => {
    let local: ProgramRun;
    let dev: ProgramRun;
    before(async () => {
        local = await runProgram("local", { apiKeys: secret(OPERATOR_KEY) });
        dev = await runProgram("dev", { apiKeys: secret(OPERATOR_KEY) });
    });

    it("generates a client key and the operator scripts' own key per stack, both secret outputs (apiKey, opsApiKey)", () => {
        for (const run of [local, dev]) {
            for (const [name, output] of [["api-keys-generated", "apiKey"], ["api-keys-ops", "opsApiKey"]]) {
                const gen = run.get(name);
                assert.deepStrictEqual([gen.inputs.length, gen.inputs.special], [GENERATED_KEY_LENGTH, false]);
                assert.strictEqual(run.outputs[output].secret, true, `${output} is a secret output`);
                assert.strictEqual(run.outputs[output].value.length, GENERATED_KEY_LENGTH);
            }
            assert.notStrictEqual(run.outputs.apiKey.value, run.outputs.opsApiKey.value, "two keys: two rate-limit buckets");
        }
    });

    it("asks for a key on every host's proxy, installing the keys' digests from a secret stdin", () => {
        for (const [run, hosts] of [[local, ["local"]], [dev, CLOUDS]] as const) {
            for (const h of hosts) {
                const install = run.get(`${h}-app-proxy-api-keys`);
                assert.ok(isSecretInput(install.inputs.stdin), `${h}: the key file reaches the host as a secret, on stdin`);
                const digests = plain(install.inputs.stdin).split("\n").filter((l: string) => /^[0-9a-f]{64}$/.test(l));
                assert.strictEqual(digests.length, 3, `${h}: the client key, the scripts' key and the operator's`);
                assert.ok(plain(run.get(`${h}-app-proxy`).inputs.uploads)[0].content.includes("forward_auth auth:9000"), `${h}: Caddy asks the key service`);
            }
        }
    });

    it("keeps every key out of every plain input, command line and output", () => {
        for (const run of [local, dev]) {
            const keys = [run.outputs.apiKey.value as string, run.outputs.opsApiKey.value as string, OPERATOR_KEY];
            for (const r of run.resources) {
                for (const s of plainStrings(r.inputs)) {
                    for (const k of keys) assert.ok(!s.includes(k), `${r.name} has a key in plain text`);
                }
            }
            for (const [name, o] of Object.entries(run.outputs)) {
                if (name === "apiKey" || name === "opsApiKey") continue;
                for (const k of keys) assert.ok(!(JSON.stringify(o.value) ?? "").includes(k), `output ${name} exposes a key`);
            }
            for (const c of run.byType("docker:index/container:Container")) {
                for (const k of keys) assert.ok(!JSON.stringify(plain(c.inputs.labels ?? [])).includes(k), `${c.name} labels`);
            }
        }
    });

    it("turns off with gpu-hosts:auth.enabled false: no key, no key service, no check", async () => {
        const off = await runProgram("local", { auth: { enabled: false } });
        assert.strictEqual(off.outputs.apiKey, undefined, "no apiKey output at all (an undefined output only draws an engine warning)");
        assert.strictEqual(off.outputs.opsApiKey, undefined);
        assert.ok(!off.resources.some((r) => r.name.includes("api-keys") || r.name.endsWith("-proxy-auth")));
        assert.ok(!off.get("local-app-proxy").inputs.uploads[0].content.includes("forward_auth"));
    });

    it("names the key service's image among the images to remove after a destroy", () => {
        const authImage = local.get("local-app-proxy-auth-image").inputs.imageName;
        assert.ok(local.outputs.hostImages.value.includes(authImage), authImage);
    });
});

describe("HTTPS on cloud hosts", () => {
    it("serves https:// by default with a certificate from the stack's CA, which is a public output on every host", async () => {
        for (const stack of ["dev", "prod"]) {
            const run = await runProgram(stack);
            assert.match(run.outputs.liveUrl.value, /^https:\/\//);
            for (const c of CLOUDS) {
                const h = run.outputs.hosts.value[c];
                for (const u of ["liveUrl", "idleUrl", "healthUrl", "docsUrl"]) assert.match(h[u], /^https:\/\//, `${stack} ${c} ${u}`);
                const caddyfile: string = plain(run.get(`${c}-app-proxy`).inputs.uploads)[0].content;
                assert.match(caddyfile, /\ttls \/etc\/caddy\/server.crt \/etc\/caddy\/server.key\n/, `${stack} ${c}`);
                assert.ok(caddyfile.includes(h.address), `${stack} ${c}: the site names the host's address`);
                assert.strictEqual(h.caRootCert, run.get(`${c}-app-proxy-tls-cert`).inputs.caCertPem, `${c}: the stack's CA (test/program/pki.test.ts)`);
                assert.ok(!run.resources.some((r) => r.name === `${c}-app-proxy-ca-root`), `${c}: no CA read back from the host`);
            }
        }
    });

    it("serves plain HTTP on the local stack (loopback only)", async () => {
        const run = await runProgram("local");
        assert.match(run.outputs.liveUrl.value, /^http:\/\/127\.0\.0\.1:/);
        assert.ok(!run.resources.some((r) => r.name.endsWith("-ca-root")));
    });

    it("gets a public certificate for each host's domain with acme, publishing port 80 for the challenge", async () => {
        const domains = { aws: "aws.gpu.example.com", gcp: "gcp.gpu.example.com", azure: "az.gpu.example.com" };
        const run = await runProgram("prod", { tls: { mode: "acme", domains, email: "ops@example.com" } });
        for (const c of CLOUDS) {
            const h = run.outputs.hosts.value[c];
            assert.strictEqual(h.liveUrl, `https://${domains[c as keyof typeof domains]}:8000`);
            const proxy = run.get(`${c}-app-proxy`);
            assert.ok(proxy.inputs.ports.some((p: any) => p.internal === ACME_HTTP_PORT && p.external === ACME_HTTP_PORT), `${c} publishes 80`);
            assert.ok(plain(proxy.inputs.uploads)[0].content.includes(domains[c as keyof typeof domains]));
            assert.ok(proxy.inputs.volumes.some((v: any) => v.containerPath === "/data"), `${c}: ACME certificates persist on a volume`);
            assert.ok(!run.resources.some((r) => r.name === `${c}-app-proxy-tls` || r.name.startsWith("stack-ca")), "no CA of the stack's");
            assert.strictEqual(h.caRootCert, undefined);
        }
    });

    it("can be turned off (plain HTTP) with gpu-hosts:tls.mode off", async () => {
        const run = await runProgram("dev", { tls: { mode: "off" } });
        for (const c of CLOUDS) assert.match(run.outputs.hosts.value[c].liveUrl, /^http:\/\//);
    });
});
