// Who may use the API, and how it is reached: the stack's API keys and each host's TLS, from the
// validated config. A component for the keys (the generated one is a stack resource) and a pure
// mapping for TLS, so index.ts stays config -> hosts -> app stacks -> outputs.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { TlsConfig } from "../config/sections/access";
import { ProxyAuth, ProxyTls } from "./proxy";
import type { CertificateAuthority } from "./pki";
import { GpuHost } from "../hosts/gpuHost";

/**
 * Whether a config value was set with --secret. @pulumi/pulumi has this (runtime/config.js
 * isConfigSecret: the secret-key list the language host passes) but marks it @internal; without
 * it, a value cannot be told apart, so it counts as secret rather than refuse a good stack.
 */
export function isConfigSecret(key: string): boolean {
    const fn = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
    return fn ? fn(key) : true;
}

/** Length of the generated key: 48 characters of [A-Za-z0-9], about 285 bits. */
export const GENERATED_KEY_LENGTH = 48;

export interface StackApiKeysArgs {
    /** The operators' own keys (config gpu-hosts:apiKeys); wrapped in a secret here. Defaults to none. */
    readonly operatorKeys?: readonly string[];
}

/**
 * The stack's API keys: one generated for clients, one generated for the operator scripts' checks
 * (release smoke tests, promote and status), plus the operators' own. The checks' key has a rate-limit
 * bucket of its own (the api counts per key), so clients that use up the client key's budget never
 * starve a release's smoke test or a promote's health gate. Every value stays a secret.
 */
export class StackApiKeys extends pulumi.ComponentResource {
    /** The generated client key (stack output apiKey, a secret). */
    public readonly generated: pulumi.Output<string>;
    /** The generated key of the operator scripts (stack output opsApiKey, a secret). */
    public readonly ops: pulumi.Output<string>;
    /** Every valid key, generated ones first; a secret. */
    public readonly all: pulumi.Output<string[]>;

    constructor(name: string, args: StackApiKeysArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:access:StackApiKeys", name, {}, opts);
        // Rotate it with `pulumi up --replace <this resource's URN>` after adding another key.
        const key = new random.RandomPassword(`${name}-generated`, { length: GENERATED_KEY_LENGTH, special: false }, { parent: this });
        this.generated = pulumi.secret(key.result);
        const ops = new random.RandomPassword(`${name}-ops`, { length: GENERATED_KEY_LENGTH, special: false }, { parent: this });
        this.ops = pulumi.secret(ops.result);
        const operatorKeys = pulumi.secret(pulumi.output([...(args.operatorKeys ?? [])]));
        this.all = pulumi.secret(pulumi.all([this.generated, this.ops, operatorKeys]).apply(([g, s, o]) => [g, s, ...o]));
        this.registerOutputs({});
    }
}

/** The proxy's key check on every host: on with the stack's keys; none (off) when auth is off and there are no keys. */
export function proxyAuth(keys: StackApiKeys | undefined): ProxyAuth | undefined {
    return keys ? { enabled: true, keys: keys.all } : undefined;
}

/**
 * Whether the stack has a CA: when any host's proxy serves a certificate from it (proxyTls
 * "internal"), or the stack is a fleet (the hub's Redis certificate, whatever the proxies serve).
 */
export function needsStackCa(tls: TlsConfig, hosts: readonly Pick<GpuHost, "kind">[], fleet = false): boolean {
    return fleet || (tls.mode === "internal" && hosts.some((h) => h.kind !== "local"));
}

/**
 * How a host's proxy serves its ports: plain HTTP on the local engine (bound to loopback by
 * default), and on a remote host what gpu-hosts:tls says, for that host's address or domain (a cloud
 * host's tls.domains entry, an operator's server's own DNS name). `ca` signs the certificates of
 * mode "internal"; it must be given when needsStackCa says so.
 */
export function proxyTls(tls: TlsConfig, host: Pick<GpuHost, "name" | "kind" | "address">, ca?: CertificateAuthority): ProxyTls {
    if (host.kind === "local") return { mode: "off" };
    switch (tls.mode) {
        case "off":
            return { mode: "off" };
        case "internal":
            if (!ca) throw new Error("proxyTls: tls mode \"internal\" needs the stack's CA (needsStackCa)");
            return { mode: "internal", hostname: host.address, ca };
        case "acme":
            // An operator's own server is addressed by its DNS name (config requires one for acme).
            return { mode: "acme", domain: host.kind === "ssh" ? host.address : tls.domains[host.name], ...(tls.email ? { email: tls.email } : {}) };
        default: {
            const unreachable: never = tls.mode;
            throw new Error(`unknown TLS mode ${unreachable}`);
        }
    }
}
