// The stack's PKI, kept in the Pulumi state: one CA per stack (@pulumi/tls PrivateKey +
// SelfSignedCert), and per HTTPS host a key and a certificate for its address signed by it
// (PrivateKey + CertRequest + LocallySignedCert). Nothing here lives on a host: a replaced VM, a
// recover or a reinstalled server changes neither the CA nor (at the same address) the host's
// certificate, so a client that pinned the CA (stack output caRootCert) keeps working. Before this,
// Caddy's internal CA lived on the proxy's volume, and every new machine made a new root.
//
// The tls provider keeps the private keys in the state as secrets (pulumi-tls sdk/nodejs:
// additionalSecretOutputs privateKeyPem on PrivateKey, caPrivateKeyPem on LocallySignedCert); they
// leave it only as secret uploads into the proxy container (proxy.ts), never in argv or an output.
//
// Renewal is the tls provider's: a certificate whose validity_end_time minus early_renewal_hours has
// passed is planned as a replacement by the next `pulumi up`
// (hashicorp/terraform-provider-tls internal/provider/common_cert.go
// modifyPlanIfCertificateReadyForRenewal: ready_for_renewal -> RequiresReplace). A renewed server
// certificate is invisible to clients (same CA); a renewed CA is a new root that clients must pin
// again, hence its long validity (infra/config/fixed.ts PKI_VALIDITY).
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { isIp } from "../validators";

/** The StackCa component's type token. */
export const STACK_CA_TYPE = "gpu-hosts:pki:StackCa";
/** The ServerCertificate component's type token. */
export const SERVER_CERTIFICATE_TYPE = "gpu-hosts:pki:ServerCertificate";

/**
 * ECDSA P-256 for every key: what Go's crypto/tls (Caddy, the tls provider) and Node/OpenSSL clients
 * all handle, and the tls provider's ECDSA default curve P224 is not (Go's crypto/tls does not offer
 * P-224 for TLS). The provider writes an ECDSA key as "EC PRIVATE KEY" (SEC1), which Caddy loads
 * (Go crypto/tls X509KeyPair parses PKCS#1, PKCS#8 and SEC1).
 */
const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;

/** How long a certificate is valid, and how early before its end `pulumi up` replaces it. */
export interface CertValidity {
    /** Hours from issue to expiry (the tls provider's validity_period_hours). */
    readonly hours: number;
    /** Hours before expiry from which `pulumi up` re-issues it (the tls provider's early_renewal_hours). */
    readonly earlyRenewalHours: number;
}

export interface StackCaArgs {
    /** The CA certificate's subject common name, e.g. "gpu-hosts dev CA": what a client shows as the issuer. */
    readonly commonName: string;
    /** The CA certificate's validity. */
    readonly validity: CertValidity;
    /** The validity of each server certificate it issues. */
    readonly serverValidity: CertValidity;
}

/** What a server certificate needs from its CA. */
export interface CertificateAuthority {
    /** PEM of the CA certificate. Not secret. */
    readonly certPem: pulumi.Output<string>;
    /** PEM of the CA's private key; a secret. */
    readonly privateKeyPem: pulumi.Output<string>;
    /** The validity of each server certificate it issues. */
    readonly serverValidity: CertValidity;
}

/** The stack's CA: created once, kept in the state, independent of every host. */
export class StackCa extends pulumi.ComponentResource implements CertificateAuthority {
    public readonly certPem: pulumi.Output<string>;
    public readonly privateKeyPem: pulumi.Output<string>;
    public readonly serverValidity: CertValidity;

    constructor(name: string, args: StackCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super(STACK_CA_TYPE, name, {}, opts);
        validity("CA", args.validity);
        validity("server certificate", args.serverValidity);
        const key = new tls.PrivateKey(`${name}-key`, { ...KEY }, { parent: this });
        const cert = new tls.SelfSignedCert(`${name}-cert`, {
            privateKeyPem: pulumi.secret(key.privateKeyPem),
            // RFC 5280 4.1.2.6: a CA names itself (the provider refuses an empty subject for a CA).
            subject: { commonName: args.commonName, organization: "gpu-hosts" },
            // No maxPathLength: the provider sets Go's x509 MaxPathLen without MaxPathLenZero, so 0
            // writes no path length at all (checked with the real provider: "CA:TRUE" alone).
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            // Written into each server certificate as its authority key id, so a client with several
            // roots finds this one at once.
            setSubjectKeyId: true,
            validityPeriodHours: args.validity.hours,
            earlyRenewalHours: args.validity.earlyRenewalHours,
        }, { parent: this });
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.serverValidity = args.serverValidity;
        this.registerOutputs({ certPem: this.certPem });
    }
}

export interface ServerCertificateArgs {
    /** The CA that signs it. */
    readonly ca: CertificateAuthority;
    /** The host's address as clients reach it: an IP (IP SAN) or a DNS name (DNS SAN). */
    readonly address: pulumi.Input<string>;
    /** More names it answers to (DNS SANs), e.g. a container's alias on its Docker network. Defaults to none. */
    readonly alsoNames?: readonly string[];
}

/** The subject alternative names of a server certificate for `address`: an IP SAN for an IP, else a DNS SAN. */
export function subjectAltNames(address: string): { readonly ipAddresses: string[]; readonly dnsNames: string[] } {
    // An IP in a DNS SAN matches nothing: clients compare an IP only with IP SANs (RFC 6125 / 2818).
    const ip: boolean = isIp(address);
    return ip ? { ipAddresses: [address], dnsNames: [] } : { ipAddresses: [], dnsNames: [address.toLowerCase()] };
}

/** A server key and certificate for one host's address, signed by the stack's CA; both in the state. */
export class ServerCertificate extends pulumi.ComponentResource {
    /** PEM of the certificate. Not secret. */
    public readonly certPem: pulumi.Output<string>;
    /** PEM of its private key; a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;

    constructor(name: string, args: ServerCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super(SERVER_CERTIFICATE_TYPE, name, {}, opts);
        const also = args.alsoNames ?? [];
        const sans = pulumi.output(args.address).apply((a) => {
            const s = subjectAltNames(a);
            return { ipAddresses: s.ipAddresses, dnsNames: [...new Set([...s.dnsNames, ...also.map((n) => n.toLowerCase())])] };
        });
        const key = new tls.PrivateKey(`${name}-key`, { ...KEY }, { parent: this });
        const request = new tls.CertRequest(`${name}-request`, {
            privateKeyPem: pulumi.secret(key.privateKeyPem),
            subject: { commonName: args.address, organization: "gpu-hosts" },
            ipAddresses: sans.ipAddresses,
            dnsNames: sans.dnsNames,
        }, { parent: this });
        const cert = new tls.LocallySignedCert(`${name}-cert`, {
            certRequestPem: request.certRequestPem,
            caPrivateKeyPem: args.ca.privateKeyPem,
            caCertPem: args.ca.certPem,
            // key_encipherment only means something for RSA key transport, not for an ECDSA key.
            allowedUses: ["digital_signature", "server_auth"],
            setSubjectKeyId: true,
            validityPeriodHours: args.ca.serverValidity.hours,
            earlyRenewalHours: args.ca.serverValidity.earlyRenewalHours,
        }, { parent: this });
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.registerOutputs({ certPem: this.certPem });
    }
}

function validity(what: string, v: CertValidity): void {
    if (!Number.isInteger(v.hours) || v.hours < 1) throw new Error(`${what} validity must be a whole number of hours above 0, got ${v.hours}`);
    if (!Number.isInteger(v.earlyRenewalHours) || v.earlyRenewalHours < 0 || v.earlyRenewalHours >= v.hours) {
        throw new Error(`${what} early renewal must be 0 to ${v.hours - 1} hours (less than its validity), got ${v.earlyRenewalHours}`);
    }
}
