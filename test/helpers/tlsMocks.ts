// The tls provider's resources under the strict mocks, modelled on what it does
// (hashicorp/terraform-provider-tls, which pulumi-tls 5.x bridges):
// - PrivateKey (resource_private_key.go, common_key.go): `algorithm` is required; ECDSA's curve
//   defaults to P224 and RSA's bits to 2048; the key PEM is PKCS#1 "RSA PRIVATE KEY" for RSA, SEC1
//   "EC PRIVATE KEY" for ECDSA and PKCS#8 "PRIVATE KEY" for ED25519; the id is a hash of the public key.
// - SelfSignedCert / LocallySignedCert (common_cert.go createCertificate): validity_period_hours and
//   allowed_uses are required; a CA needs a subject ("Must contain at least one Distinguished Name
//   when creating Certificate Authority (CA)"); not_before is now and not_after now + the validity,
//   both RFC 3339; the id is the random 128-bit serial number, in decimal; ready_for_renewal starts
//   false. A locally signed certificate takes its subject and SANs from the request, its issuer from
//   the CA certificate, and needs parseable PEMs of the right type (resource_locally_signed_cert.go
//   Create: "invalid PEM type - expected ...").
// - CertRequest (resource_cert_request.go): a "CERTIFICATE REQUEST" PEM of the subject and SANs.
// The mock's PEM bodies are base64 JSON of what the real DER would hold (mockCertificate reads
// them), deterministic in the inputs: the engine keeps a certificate whose inputs do not change, so
// two runs with the same inputs see the same PEM, as two updates of a real stack do.
import type { ResourceMock } from "./mocks";
import { hex } from "./ids";
import { plain } from "./secrets";

/** The mocks' clock: every certificate is issued at this instant. */
export const MOCK_NOW = "2026-12-07T00:00:00Z";

/** What a mock certificate holds (the fields of the real one that tests look at). */
export interface MockCertificate {
    readonly serial: string;
    readonly subject: Record<string, string>;
    readonly issuer: Record<string, string>;
    /** The certified public key (a mock key's fingerprint). */
    readonly publicKey: string;
    /** The public key of the key that signed it. */
    readonly signedBy: string;
    readonly isCa: boolean;
    readonly dnsNames: readonly string[];
    readonly ipAddresses: readonly string[];
    readonly allowedUses: readonly string[];
    readonly notBefore: string;
    readonly notAfter: string;
}

const PREAMBLE: Record<string, string> = { RSA: "RSA PRIVATE KEY", ECDSA: "EC PRIVATE KEY", ED25519: "PRIVATE KEY" };

const pem = (type: string, body: string) => `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`;
const encode = (type: string, data: object) => pem(type, Buffer.from(JSON.stringify(data)).toString("base64"));

function decode<T>(text: unknown, type: string, what: string): T {
    const m = /^-----BEGIN ([A-Z ]+)-----\n([A-Za-z0-9+/=]+)\n-----END \1-----\n$/.exec(String(text));
    if (!m) throw new Error(`tls mock: failed to decode PEM of expected type "${type}" from ${what}`);
    if (m[1] !== type) throw new Error(`tls mock: ${what}: invalid PEM type - expected "${type}", got "${m[1]}"`);
    return JSON.parse(Buffer.from(m[2], "base64").toString("utf8")) as T;
}

/** A mock certificate's contents; throws unless `certPem` is one. */
export function mockCertificate(certPem: string): MockCertificate {
    return decode<MockCertificate>(certPem, "CERTIFICATE", "a certificate");
}

/** The algorithm and public key of a mock private key PEM, as the provider parses one (parsePrivateKeyPEM). */
function parseKey(keyPem: unknown, what: string): { algorithm: string; publicKey: string } {
    const m = /^-----BEGIN ([A-Z ]+)-----\n/.exec(String(keyPem));
    const algorithm = Object.entries(PREAMBLE).find(([, p]) => p === m?.[1])?.[0];
    if (!algorithm) throw new Error(`tls mock: ${what}: unable to determine parser for PEM preamble: ${m?.[1] ?? "none"}`);
    return { algorithm, publicKey: hex(`public:${keyPem}`, 40) };
}

function rfc3339(ms: number): string {
    return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

function required(inputs: Record<string, any>, type: string, keys: readonly string[]): void {
    const missing = keys.filter((k) => inputs[k] === undefined || inputs[k] === null);
    if (missing.length) throw new Error(`tls mock: ${type} is missing required ${missing.join(", ")}`);
}

/** A certificate as createCertificate makes it; `issuer` is itself for a self-signed one. */
function certificate(name: string, inputs: Record<string, any>, body: Omit<MockCertificate, "serial" | "notBefore" | "notAfter" | "allowedUses" | "isCa">): Record<string, any> {
    const start = Date.parse(MOCK_NOW);
    const cert: MockCertificate = {
        ...body,
        // Deterministic here; the provider's is rand.Int below 2^128, in decimal.
        serial: BigInt(`0x${hex(`serial:${name}:${JSON.stringify(inputs)}`, 32)}`).toString(10),
        isCa: inputs.isCaCertificate === true,
        allowedUses: inputs.allowedUses,
        notBefore: MOCK_NOW,
        notAfter: rfc3339(start + inputs.validityPeriodHours * 3600_000),
    };
    return {
        id: cert.serial,
        state: {
            certPem: encode("CERTIFICATE", cert),
            validityStartTime: cert.notBefore,
            validityEndTime: cert.notAfter,
            readyForRenewal: false,
            earlyRenewalHours: inputs.earlyRenewalHours ?? 0,
            isCaCertificate: inputs.isCaCertificate ?? false,
            setSubjectKeyId: inputs.setSubjectKeyId ?? false,
        },
    };
}

/** The tls provider's resource types the program uses. */
export const TLS_RESOURCES: Record<string, ResourceMock> = {
    "tls:index/privateKey:PrivateKey": (a) => {
        const algorithm = a.inputs.algorithm;
        if (!(algorithm in PREAMBLE)) throw new Error(`tls mock: PrivateKey algorithm must be RSA, ECDSA or ED25519, got ${JSON.stringify(algorithm)}`);
        const privateKeyPem = pem(PREAMBLE[algorithm], hex(a.name, 64));
        const { publicKey } = parseKey(privateKeyPem, a.name);
        return {
            state: {
                ...(algorithm === "ECDSA" ? { ecdsaCurve: a.inputs.ecdsaCurve ?? "P224" } : {}),
                ...(algorithm === "RSA" ? { rsaBits: a.inputs.rsaBits ?? 2048 } : {}),
                privateKeyOpenssh: fakeOpensshPrivate(a.name),
                privateKeyPem,
                privateKeyPemPkcs8: pem("PRIVATE KEY", hex(a.name, 64)),
                publicKeyPem: pem("PUBLIC KEY", publicKey),
                // x/crypto/ssh has no P-224: the provider leaves the OpenSSH forms empty for it (common_key.go).
                publicKeyOpenssh: algorithm === "ED25519" ? fakeEd25519Public(a.name) : algorithm === "ECDSA" && (a.inputs.ecdsaCurve ?? "P224") === "P224" ? "" : `ecdsa-sha2-nistp256 ${hex(publicKey, 40)}\n`,
                publicKeyFingerprintSha256: `SHA256:${hex(a.name, 43)}`,
            },
        };
    },
    "tls:index/selfSignedCert:SelfSignedCert": (a) => {
        const inputs = plain(a.inputs);
        required(inputs, "SelfSignedCert", ["privateKeyPem", "validityPeriodHours", "allowedUses"]);
        const key = parseKey(inputs.privateKeyPem, `${a.name} privateKeyPem`);
        const subject = inputs.subject ?? {};
        if (inputs.isCaCertificate && Object.keys(subject).length === 0) {
            throw new Error("tls mock: Invalid Certificate Subject: Must contain at least one Distinguished Name when creating Certificate Authority (CA)");
        }
        const r = certificate(a.name, inputs, { subject, issuer: subject, publicKey: key.publicKey, signedBy: key.publicKey, dnsNames: inputs.dnsNames ?? [], ipAddresses: inputs.ipAddresses ?? [] });
        return { ...r, state: { ...r.state, keyAlgorithm: key.algorithm } };
    },
    "tls:index/certRequest:CertRequest": (a) => {
        const inputs = plain(a.inputs);
        required(inputs, "CertRequest", ["privateKeyPem"]);
        const key = parseKey(inputs.privateKeyPem, `${a.name} privateKeyPem`);
        return {
            id: hex(`csr:${a.name}:${JSON.stringify(inputs)}`, 40),
            state: {
                keyAlgorithm: key.algorithm,
                certRequestPem: encode("CERTIFICATE REQUEST", { subject: inputs.subject ?? {}, dnsNames: inputs.dnsNames ?? [], ipAddresses: inputs.ipAddresses ?? [], publicKey: key.publicKey }),
            },
        };
    },
    "tls:index/locallySignedCert:LocallySignedCert": (a) => {
        const inputs = plain(a.inputs);
        required(inputs, "LocallySignedCert", ["certRequestPem", "caPrivateKeyPem", "caCertPem", "validityPeriodHours", "allowedUses"]);
        const csr = decode<{ subject: Record<string, string>; dnsNames: string[]; ipAddresses: string[]; publicKey: string }>(inputs.certRequestPem, "CERTIFICATE REQUEST", `${a.name} certRequestPem`);
        const caKey = parseKey(inputs.caPrivateKeyPem, `${a.name} caPrivateKeyPem`);
        const ca = decode<MockCertificate>(inputs.caCertPem, "CERTIFICATE", `${a.name} caCertPem`);
        // The provider signs with the key it is given; a CA certificate of another key yields a
        // certificate no client verifies. The mock refuses it outright, so a test cannot miss it.
        if (ca.publicKey !== caKey.publicKey) throw new Error(`tls mock: ${a.name}: caPrivateKeyPem is not the key of caCertPem`);
        const r = certificate(a.name, inputs, { subject: csr.subject, issuer: ca.subject, publicKey: csr.publicKey, signedBy: caKey.publicKey, dnsNames: csr.dnsNames, ipAddresses: csr.ipAddresses });
        return { ...r, state: { ...r.state, caKeyAlgorithm: caKey.algorithm } };
    },
};

/** tls.PrivateKey's privateKeyOpenssh for the key named `seed` (a stand-in body, the real armour). */
export function fakeOpensshPrivate(seed: string): string {
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${hex(seed, 64)}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/**
 * An Ed25519 public key line for the key named `seed`, shaped as tls.PrivateKey's publicKeyOpenssh
 * is: "ssh-ed25519 <base64 of the wire blob>" and a newline, no comment (terraform-provider-tls
 * builds it with ssh.MarshalAuthorizedKey). Each key its own, so a test can tell the stack's login key
 * from a VM's host key.
 */
export function fakeEd25519Public(seed: string): string {
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    const blob = Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(32), Buffer.from(hex(`ed25519:${seed}`, 64), "hex")]);
    return `ssh-ed25519 ${blob.toString("base64")}\n`;
}
