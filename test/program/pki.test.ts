// The stack's PKI in the state (issue 24), through the real index.ts under the strict mocks (whose
// tls resources model the provider: test/helpers/tlsMocks.ts): one CA per stack with an HTTPS
// host, a certificate per host for its address signed by it and served by the proxy from secret
// uploads, caRootCert = the CA on every host; nothing of it on a host, so a replaced VM or a
// reinstalled server keeps the same caRootCert.
import * as assert from "assert";
import { PKI_VALIDITY } from "../../infra/config/fixed";
import { SERVER_CERTIFICATE_TYPE, STACK_CA_TYPE, subjectAltNames } from "../../infra/service/pki";
import { TLS_CERT_PATH, TLS_KEY_PATH } from "../../infra/service/proxy";
import { isSecretInput, plain, plainStrings } from "../helpers/secrets";
import { ProgramRun, changedInputs, runProgram, runProgramFresh, secret } from "../helpers/stack";
import type { Recorded } from "../helpers/mocks";
import { MOCK_NOW, TLS_RESOURCES, mockCertificate } from "../helpers/tlsMocks";

const CLOUDS = ["aws", "gcp", "azure"];
const SERVERS = {
    clouds: ["ssh"],
    ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false }] },
    sshPrivateKey: secret("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ0123456789abcdef\n-----END OPENSSH PRIVATE KEY-----\n"),
};
const TLS_TYPES = ["tls:index/selfSignedCert:SelfSignedCert", "tls:index/certRequest:CertRequest", "tls:index/locallySignedCert:LocallySignedCert"];
const pkiResources = (run: ProgramRun) => run.resources.filter((r) => TLS_TYPES.includes(r.type) || r.name.startsWith("stack-ca") || /-proxy-tls(-|$)/.test(r.name));
const HOURS = 3600_000;

/** The proxy container's upload at `file`, its value (the uploads are one secret input: see below). */
const upload = (run: ProgramRun, host: string, file: string) => plain(run.get(`${host}-app-proxy`).inputs.uploads).find((u: { file: string }) => u.file === file);

describe("the stack's PKI in the state", () => {
    let dev: ProgramRun;
    let servers: ProgramRun;
    before(async function () {
        this.timeout(120_000);
        dev = await runProgram("dev");
        servers = await runProgram("dev", SERVERS);
    });

    it("makes one CA per stack: an ECDSA P-256 key and a self-signed CA certificate, at the stack level, on no host", () => {
        const ca = dev.resources.filter((r) => r.type === STACK_CA_TYPE);
        assert.deepStrictEqual(ca.map((r) => [r.name, r.options.parent]), [["stack-ca", ""]]);
        const key = dev.get("stack-ca-key");
        assert.deepStrictEqual([key.inputs.algorithm, key.inputs.ecdsaCurve], ["ECDSA", "P256"]);
        const cert = dev.get("stack-ca-cert");
        assert.ok(isSecretInput(cert.inputs.privateKeyPem), "the CA key reaches the certificate as a secret");
        assert.deepStrictEqual(plain(cert.inputs.subject), { commonName: "gpu-hosts dev CA", organization: "gpu-hosts" });
        assert.deepStrictEqual([cert.inputs.isCaCertificate, cert.inputs.allowedUses], [true, ["cert_signing", "crl_signing", "digital_signature"]]);
        assert.deepStrictEqual([cert.inputs.validityPeriodHours, cert.inputs.earlyRenewalHours], [PKI_VALIDITY.ca.hours, PKI_VALIDITY.ca.earlyRenewalHours]);
        const pem = mockCertificate(dev.outputs.caRootCert.value);
        assert.strictEqual(pem.isCa, true);
        assert.strictEqual(Date.parse(pem.notAfter) - Date.parse(MOCK_NOW), 87600 * HOURS, "10 years");
        for (const r of [key, cert]) {
            // Nothing ties it to a machine: no host provider, no replacement trigger, no host dependency.
            assert.deepStrictEqual([r.provider ?? "", r.options.replacementTrigger, r.options.deletedWith], ["", undefined, ""], r.name);
            assert.ok(r.options.dependencies.every((d) => d.includes("stack-ca")), `${r.name}: ${r.options.dependencies.join(", ")}`);
        }
    });

    it("signs a certificate for each HTTPS host's address with it: an IP SAN for an IP, a DNS SAN for a name", () => {
        const ca = mockCertificate(dev.outputs.caRootCert.value);
        const hosts = [...CLOUDS.map((c) => [dev, c] as const), [servers, "box1"] as const, [servers, "box2"] as const];
        for (const [run, h] of hosts) {
            const address: string = run.outputs.hosts.value[h].address;
            assert.ok(run.resources.some((r) => r.type === SERVER_CERTIFICATE_TYPE && r.name === `${h}-app-proxy-tls`), h);
            const request = run.get(`${h}-app-proxy-tls-request`);
            assert.deepStrictEqual([request.inputs.ipAddresses, request.inputs.dnsNames], [subjectAltNames(address).ipAddresses, subjectAltNames(address).dnsNames], h);
            const signed = run.get(`${h}-app-proxy-tls-cert`);
            assert.strictEqual(signed.inputs.caCertPem, run.outputs.caRootCert.value, `${h}: signed by the stack CA`);
            assert.ok(isSecretInput(signed.inputs.caPrivateKeyPem), `${h}: the CA key stays secret`);
            assert.deepStrictEqual([signed.inputs.validityPeriodHours, signed.inputs.earlyRenewalHours], [PKI_VALIDITY.server.hours, PKI_VALIDITY.server.earlyRenewalHours]);
            assert.deepStrictEqual(signed.inputs.allowedUses, ["digital_signature", "server_auth"]);
            const leaf = mockCertificate(upload(run, h, TLS_CERT_PATH).content);
            const stackCa = mockCertificate(run.outputs.caRootCert.value);
            assert.deepStrictEqual([leaf.issuer, leaf.signedBy, leaf.isCa], [stackCa.subject, stackCa.publicKey, false], `${h}: issued by the CA`);
            assert.deepStrictEqual([...leaf.ipAddresses, ...leaf.dnsNames], [address.toLowerCase()], h);
        }
        assert.deepStrictEqual(mockCertificate(upload(servers, "box2", TLS_CERT_PATH).content).dnsNames, ["gpu2.example.com"]);
        assert.deepStrictEqual(mockCertificate(upload(servers, "box1", TLS_CERT_PATH).content).ipAddresses, ["203.0.113.10"]);
        assert.strictEqual(ca.subject.commonName, "gpu-hosts dev CA");
    });

    it("has Caddy serve it from files in the container: the key a secret upload readable by root only, no CA of Caddy's own", () => {
        for (const [run, h] of [...CLOUDS.map((c) => [dev, c] as const), [servers, "box2"] as const]) {
            const key = upload(run, h, TLS_KEY_PATH);
            // Pulumi keeps secrecy per input property: one secret upload makes the whole uploads list
            // secret in the state and the preview (the Caddyfile's diff shows as [secret] there too).
            assert.ok(isSecretInput(run.get(`${h}-app-proxy`).inputs.uploads), `${h}: the uploads, key included, are secret`);
            assert.strictEqual(key.permissions, "0600");
            assert.match(key.content, /^-----BEGIN EC PRIVATE KEY-----\n/);
            assert.strictEqual(key.content, plain(run.get(`${h}-app-proxy-tls-request`).inputs.privateKeyPem), `${h}: the key of the certificate's request`);
            const caddyfile: string = upload(run, h, "/etc/caddy/Caddyfile").content;
            assert.ok(caddyfile.includes(`\ttls ${TLS_CERT_PATH} ${TLS_KEY_PATH}\n`), h);
            assert.match(caddyfile, /\tauto_https off\n/, `${h}: Caddy automates nothing, so makes no CA`);
            assert.ok(!caddyfile.includes("tls internal"), h);
            assert.ok(!run.get(`${h}-app-proxy`).inputs.volumes.some((v: { containerPath: string }) => v.containerPath === "/data"), `${h}: nothing for Caddy to keep`);
            assert.ok(!run.resources.some((r) => r.name.endsWith("-ca-root")), "no CA read back from a host");
        }
    });

    it("keeps every private key out of plain inputs, command lines and outputs", () => {
        for (const run of [dev, servers]) {
            const keys = run.byType("tls:index/privateKey:PrivateKey").filter((k) => k.inputs.algorithm === "ECDSA").map(keyBody);
            assert.ok(keys.length >= 3, `${keys.length} keys`);
            for (const r of run.resources) {
                for (const s of plainStrings(r.inputs)) for (const k of keys) assert.ok(!s.includes(k), `${r.name} has a private key in plain text`);
            }
            for (const [name, o] of Object.entries(run.outputs)) for (const k of keys) assert.ok(!(JSON.stringify(o.value) ?? "").includes(k), `output ${name}`);
        }
    });

    it("exports the CA as caRootCert, public, the same on every host and at the top", () => {
        for (const run of [dev, servers]) {
            assert.strictEqual(run.outputs.caRootCert.secret, false);
            assert.match(run.outputs.caRootCert.value, /^-----BEGIN CERTIFICATE-----\n/);
            for (const [h, out] of Object.entries(run.outputs.hosts.value as Record<string, { caRootCert: string }>)) {
                assert.strictEqual(out.caRootCert, run.outputs.caRootCert.value, h);
            }
        }
    });

    it("keeps caRootCert and every PKI resource when the VMs are replaced (new machine ids), while the proxies are replaced", async function () {
        this.timeout(90_000);
        const before = await runProgramFresh("dev");
        const after = await runProgramFresh("dev", {}, { machineGeneration: 1 });
        assert.strictEqual(after.outputs.caRootCert.value, before.outputs.caRootCert.value);
        for (const c of CLOUDS) assert.strictEqual(after.outputs.hosts.value[c].caRootCert, before.outputs.caRootCert.value, c);
        const changed = changedInputs(before, after);
        const pki = pkiResources(before).filter((r) => r.custom).map((r) => `${r.type}::${r.name}`);
        assert.ok(pki.length >= 2 + 3 * 3, `${pki.length} PKI resources`);
        assert.deepStrictEqual(pki.filter((k) => changed.includes(k)), [], "no PKI input changes");
        for (const r of pkiResources(before)) {
            assert.deepStrictEqual(after.resources.find((x) => x.type === r.type && x.name === r.name)?.options, r.options, r.name);
        }
        for (const c of CLOUDS) {
            const [p0, p1] = [before.get(`${c}-app-proxy`), after.get(`${c}-app-proxy`)];
            assert.notStrictEqual(p1.options.replacementTrigger, p0.options.replacementTrigger, `${c}: the proxy goes with its machine`);
            assert.deepStrictEqual(plain(p1.inputs.uploads), plain(p0.inputs.uploads), `${c}: and comes back with the same certificate and key`);
        }
    });

    it("keeps caRootCert when an own server is reinstalled (a new machine id)", async function () {
        this.timeout(150_000);
        const before = await runProgramFresh("dev", SERVERS);
        const after = await runProgramFresh("dev", SERVERS, { machineGeneration: 1 });
        assert.notStrictEqual(after.get("box1-machine").inputs.triggers[0], before.get("box1-machine").inputs.triggers[0], "a reinstalled server");
        assert.strictEqual(after.outputs.caRootCert.value, before.outputs.caRootCert.value);
        assert.strictEqual(after.outputs.hosts.value.box1.caRootCert, before.outputs.hosts.value.box1.caRootCert);
        const changed = changedInputs(before, after);
        assert.deepStrictEqual(pkiResources(before).filter((r) => r.custom).map((r) => `${r.type}::${r.name}`).filter((k) => changed.includes(k)), []);
        // The program writes each server's known_hosts under the test HOME: the reinstalled
        // servers' keys must not stay there for the suites that share the first installation's run.
        await runProgramFresh("dev", SERVERS);
    });

    it("makes nothing of it where no host serves HTTPS from it: the local stack, acme, tls off", async function () {
        this.timeout(120_000);
        const runs = [await runProgram("local"), await runProgram("prod", { tls: { mode: "off" } }),
            await runProgram("prod", { tls: { mode: "acme", domains: { aws: "aws.example.com", gcp: "gcp.example.com", azure: "az.example.com" }, email: "" } })];
        for (const run of runs) {
            assert.deepStrictEqual(pkiResources(run).map((r) => r.name), []);
            assert.strictEqual(run.outputs.caRootCert.value, null);
        }
        // A local stack with own servers: the servers serve HTTPS, the local host plain HTTP.
        const mixed = await runProgram("local", { clouds: ["local", "ssh"], ssh: SERVERS.ssh, sshPrivateKey: SERVERS.sshPrivateKey, operatorCidrs: ["198.51.100.0/24"] });
        assert.ok(mixed.get("stack-ca-cert"));
        assert.ok(!mixed.resources.some((r) => r.name === "local-app-proxy-tls"));
        assert.strictEqual(mixed.outputs.hosts.value.box1.caRootCert, mixed.get("box1-app-proxy-tls-cert").inputs.caCertPem);
        assert.strictEqual(mixed.outputs.hosts.value.local.caRootCert, undefined);
    });
});

describe("the tls mocks, as the provider behaves", () => {
    const args = (type: string, name: string, inputs: Record<string, unknown>) => ({ type, name, inputs, provider: "", custom: true } as never);
    const key = (name: string) => TLS_RESOURCES["tls:index/privateKey:PrivateKey"](args("tls:index/privateKey:PrivateKey", name, { algorithm: "ECDSA", ecdsaCurve: "P256" }), {}).state!.privateKeyPem;

    it("refuses a CA certificate without a subject, and a CA key that is not the CA certificate's", () => {
        const self = TLS_RESOURCES["tls:index/selfSignedCert:SelfSignedCert"];
        assert.throws(() => self(args("tls:index/selfSignedCert:SelfSignedCert", "c", { privateKeyPem: key("k"), isCaCertificate: true, validityPeriodHours: 1, allowedUses: [] }), {}),
            /Must contain at least one Distinguished Name when creating Certificate Authority \(CA\)/);
        const ca = self(args("tls:index/selfSignedCert:SelfSignedCert", "c", { privateKeyPem: key("k"), subject: { commonName: "x" }, isCaCertificate: true, validityPeriodHours: 1, allowedUses: [] }), {});
        const csr = TLS_RESOURCES["tls:index/certRequest:CertRequest"](args("tls:index/certRequest:CertRequest", "r", { privateKeyPem: key("s"), ipAddresses: ["203.0.113.1"] }), {}).state!.certRequestPem;
        const sign = (caKey: string) => TLS_RESOURCES["tls:index/locallySignedCert:LocallySignedCert"](args("tls:index/locallySignedCert:LocallySignedCert", "l",
            { certRequestPem: csr, caCertPem: ca.state!.certPem, caPrivateKeyPem: caKey, validityPeriodHours: 24, allowedUses: ["server_auth"] }), {});
        assert.throws(() => sign(key("other")), /caPrivateKeyPem is not the key of caCertPem/);
        const ok = sign(key("k"));
        assert.match(ok.id!, /^\d+$/, "the id is the serial number in decimal");
        assert.deepStrictEqual([ok.state!.validityStartTime, ok.state!.validityEndTime, ok.state!.readyForRenewal], [MOCK_NOW, "2026-12-08T00:00:00Z", false]);
        assert.throws(() => TLS_RESOURCES["tls:index/locallySignedCert:LocallySignedCert"](args("tls:index/locallySignedCert:LocallySignedCert", "l",
            { certRequestPem: ca.state!.certPem, caCertPem: ca.state!.certPem, caPrivateKeyPem: key("k"), validityPeriodHours: 24, allowedUses: [] }), {}), /invalid PEM type - expected "CERTIFICATE REQUEST", got "CERTIFICATE"/);
    });
});

/** The body line of a recorded PrivateKey's mock PEM (what a leak would contain). */
function keyBody(k: Recorded): string {
    return TLS_RESOURCES["tls:index/privateKey:PrivateKey"]({ type: k.type, name: k.name, inputs: k.inputs, provider: "", custom: true } as never, {}).state!.privateKeyPem.split("\n")[1];
}
