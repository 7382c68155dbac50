// What the AWS, GCP and Azure hosts share: their common args and defaults (resolved in one
// place), the firewall policy as data, tags, and the cloud-init user data. Each cloud file turns
// these into its own resources.
import * as crypto from "crypto";
import * as net from "net";
import * as pulumi from "@pulumi/pulumi";
import { CloudInitOptions, renderCloudInit, validateCloudInitOptions } from "../../cloud-init/render";
import { StackConfig, isCidr } from "../config";
import { validateReadinessOptions } from "./readiness";

/** cloud-init options a caller may set; the host decides the user and the keys. */
export type HostCloudInitOptions = Omit<CloudInitOptions, "sshUser" | "createUser" | "sshAuthorizedKeys">;

/** Args every cloud GPU host takes. */
export interface CloudHostArgs {
    /** Whether to run on spot/preemptible capacity (cheaper; the cloud may reclaim the VM). Defaults to false. */
    readonly spot?: boolean;
    /** Boot disk size in GB; at least 100 (driver, CUDA images and models). Defaults to 100. */
    readonly diskGb?: number;
    /** Login user for SSH, remote commands and the Docker provider. Defaults to "ubuntu". */
    readonly sshUser?: string;
    /** The stack's generated OpenSSH public key (e.g. tls.PrivateKey.publicKeyOpenssh). */
    readonly sshPublicKey: pulumi.Input<string>;
    /** The private half of `sshPublicKey` (OpenSSH format); the host keeps it a secret Output. */
    readonly sshPrivateKey: pulumi.Input<string>;
    /** An operator's own OpenSSH public key, authorised beside the stack's. Defaults to none. */
    readonly operatorPublicKey?: string;
    /** CIDRs that may reach SSH (22) and the idle slot port; must not be empty. */
    readonly operatorCidrs: readonly string[];
    /** CIDRs that may reach the live API port; must not be empty. */
    readonly apiCidrs: readonly string[];
    /** Host port serving the live slot. Defaults to 8000. */
    readonly apiPort?: number;
    /** Host port serving the idle slot. Defaults to 8001. */
    readonly idlePort?: number;
    /**
     * Open port 80 to everyone for a public CA's HTTP-01 challenge (tls mode "acme": the CA
     * validates from addresses it does not publish), where Caddy also redirects to HTTPS. Defaults to false.
     */
    readonly acmeChallenge?: boolean;
    /** cloud-init options other than the user and its keys, e.g. nvidiaDriverBranch. Defaults to {}. */
    readonly cloudInit?: HostCloudInitOptions;
    /** Image the readiness gate runs with `--gpus all`. Defaults to "ubuntu:24.04". */
    readonly gpuCheckImage?: string;
    /** Seconds the readiness gate waits for cloud-init. Defaults to 1800. */
    readonly readinessTimeoutSeconds?: number;
    /** Tags (AWS, Azure) or labels (GCP) put on every resource that takes them. Defaults to { project, stack, role: "gpu-host" }. */
    readonly tags?: Readonly<Record<string, string>>;
    /** Directory on the operator's machine for the key and known_hosts files. Defaults to "~/.ssh/gpu-hosts". */
    readonly keyDir?: string;
}

/** CloudHostArgs with every default applied and every value checked. */
export interface ResolvedCloudHostArgs {
    readonly spot: boolean;
    readonly diskGb: number;
    readonly sshUser: string;
    readonly operatorPublicKey?: string;
    readonly operatorCidrs: readonly string[];
    readonly apiCidrs: readonly string[];
    readonly apiPort: number;
    readonly idlePort: number;
    readonly acmeChallenge: boolean;
    readonly cloudInit: HostCloudInitOptions;
    readonly gpuCheckImage: string;
    readonly readinessTimeoutSeconds: number;
    readonly tags: Readonly<Record<string, string>>;
    readonly keyDir: string;
}

/** The one place the cloud host defaults live. */
export const CLOUD_HOST_DEFAULTS = {
    spot: false,
    diskGb: 100,
    sshUser: "ubuntu",
    apiPort: 8000,
    idlePort: 8001,
    gpuCheckImage: "ubuntu:24.04",
    readinessTimeoutSeconds: 1800,
    keyDir: "~/.ssh/gpu-hosts",
    role: "gpu-host",
} as const;

/** Every GPU shape the catalog allows is x86_64, and the images are Ubuntu amd64 ones. */
export const CLOUD_PLATFORM = "linux/amd64";

export const MIN_DISK_GB = 100;
export const SSH_PORT = 22;
/** Where a public CA's HTTP-01 challenge connects (RFC 8555 section 8.3). */
export const ACME_CHALLENGE_PORT = 80;
/** Redis and Ollama: reachable only on the host's Docker network, never through a firewall. */
export const NEVER_EXPOSED_PORTS: readonly number[] = [6379, 11434];

const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const SSH_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;
// "~/..." (ssh expands it itself) or an absolute path; no spaces, since ssh -o splits on them.
const KEY_DIR_RE = /^(~|)\/[A-Za-z0-9._/-]+$/;
const TAG_KEY_RE = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

/**
 * Applies the defaults and checks every value; throws one error naming every problem, the
 * caller's cloud-specific `extraProblems` first.
 */
export function resolveCloudHostArgs(who: string, args: CloudHostArgs, extraProblems: readonly string[] = []): ResolvedCloudHostArgs {
    const d = CLOUD_HOST_DEFAULTS;
    const r: ResolvedCloudHostArgs = {
        spot: args.spot ?? d.spot,
        diskGb: args.diskGb ?? d.diskGb,
        sshUser: args.sshUser ?? d.sshUser,
        ...(args.operatorPublicKey !== undefined ? { operatorPublicKey: args.operatorPublicKey.trim() } : {}),
        operatorCidrs: [...new Set(args.operatorCidrs)],
        apiCidrs: [...new Set(args.apiCidrs)],
        apiPort: args.apiPort ?? d.apiPort,
        idlePort: args.idlePort ?? d.idlePort,
        acmeChallenge: args.acmeChallenge ?? false,
        cloudInit: args.cloudInit ?? {},
        gpuCheckImage: args.gpuCheckImage ?? d.gpuCheckImage,
        readinessTimeoutSeconds: args.readinessTimeoutSeconds ?? d.readinessTimeoutSeconds,
        tags: args.tags ?? { project: pulumi.getProject(), stack: pulumi.getStack(), role: d.role },
        keyDir: args.keyDir ?? d.keyDir,
    };
    const problems: string[] = [...extraProblems];
    const bad = (key: string, allowed: string, got: unknown) =>
        problems.push(`${who}: ${key} must be ${allowed}, got ${JSON.stringify(got)}`);

    if (!Number.isInteger(r.diskGb) || r.diskGb < MIN_DISK_GB || r.diskGb > 4096) bad("diskGb", `an integer from ${MIN_DISK_GB} to 4096`, r.diskGb);
    if (!USER_RE.test(r.sshUser) || r.sshUser === "root") bad("sshUser", "a Linux user name other than root", r.sshUser);
    if (r.operatorPublicKey !== undefined && !SSH_KEY_RE.test(r.operatorPublicKey)) {
        bad("operatorPublicKey", "an OpenSSH public key line", r.operatorPublicKey);
    }
    for (const [key, cidrs] of [["operatorCidrs", r.operatorCidrs], ["apiCidrs", r.apiCidrs]] as const) {
        if (cidrs.length === 0 || !cidrs.every(isCidr)) bad(key, "a non-empty list of CIDR blocks", cidrs);
    }
    const reserved = [SSH_PORT, ...NEVER_EXPOSED_PORTS];
    for (const [key, port] of [["apiPort", r.apiPort], ["idlePort", r.idlePort]] as const) {
        if (!Number.isInteger(port) || port < 1 || port > 65535 || reserved.includes(port)) {
            bad(key, `a port from 1 to 65535 other than ${reserved.join(", ")} (SSH, Redis, Ollama)`, port);
        }
    }
    if (r.apiPort === r.idlePort) bad("idlePort", `a port other than apiPort (${r.apiPort})`, r.idlePort);
    if (!KEY_DIR_RE.test(r.keyDir) || r.keyDir.split("/").includes("..")) {
        bad("keyDir", "\"~/...\" or an absolute path of letters, digits, '.', '_', '-' and '/'", r.keyDir);
    }
    for (const [k, v] of Object.entries(r.tags)) {
        if (!TAG_KEY_RE.test(k) || typeof v !== "string" || v.length > 63) bad(`tags.${k}`, "a short string under a key of letters, digits, '_' or '-'", v);
    }
    // The user data and readiness script are rendered later, from Outputs; fail now instead.
    problems.push(...validateCloudInitOptions({ ...r.cloudInit, sshUser: r.sshUser, createUser: false }).map((p) => `${who}: ${p}`));
    problems.push(...validateReadinessOptions({ image: r.gpuCheckImage, timeoutSeconds: r.readinessTimeoutSeconds }).map((p) => `${who}: ${p}`));
    if (problems.length > 0) throw new Error(problems.join("\n"));
    return r;
}

/** One inbound allowance: a TCP port and who may reach it. */
export interface IngressRule {
    /** Short name, used in child resource names. */
    readonly name: "ssh" | "idle" | "api" | "acme";
    readonly port: number;
    readonly cidrs: readonly string[];
    readonly description: string;
}

/**
 * The whole inbound policy, the same on every cloud: SSH and the idle slot from the operators,
 * the live slot from the API clients, nothing else (Redis and Ollama stay on the Docker network).
 */
export function ingressRules(r: ResolvedCloudHostArgs): IngressRule[] {
    return [
        { name: "ssh", port: SSH_PORT, cidrs: r.operatorCidrs, description: "SSH from the operators" },
        { name: "idle", port: r.idlePort, cidrs: r.operatorCidrs, description: "idle slot from the operators" },
        { name: "api", port: r.apiPort, cidrs: r.apiCidrs, description: "live API" },
        ...(r.acmeChallenge ? [{ name: "acme" as const, port: ACME_CHALLENGE_PORT, cidrs: ["0.0.0.0/0", "::/0"], description: "ACME HTTP-01 challenge (public CA)" }] : []),
    ];
}

/** CIDRs split by IP version: GCP and Azure rules take one version each, AWS rules one CIDR each. */
export function byFamily(cidrs: readonly string[]): { readonly ipv4: string[]; readonly ipv6: string[] } {
    const ipv6 = cidrs.filter((c) => net.isIPv6(c.split("/")[0]));
    return { ipv4: cidrs.filter((c) => !ipv6.includes(c)), ipv6 };
}

/** A short stable id for a CIDR, so a rule's name does not depend on its position in a list. */
export function cidrId(cidr: string): string {
    return crypto.createHash("sha256").update(cidr).digest("hex").slice(0, 8);
}

/** GCP labels: lowercase letters, digits, '_' and '-', at most 63 characters. */
export function gcpLabels(tags: Readonly<Record<string, string>>): Record<string, string> {
    const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]/g, "_").slice(0, 63);
    return Object.fromEntries(Object.entries(tags).map(([k, v]) => [clean(k), clean(v)]));
}

/** The keys authorised for the login user: the stack's, then the operator's. */
export function authorizedKeys(r: ResolvedCloudHostArgs, stackPublicKey: pulumi.Input<string>): pulumi.Output<string[]> {
    return pulumi.output(stackPublicKey).apply((k) => [k.trim(), ...(r.operatorPublicKey ? [r.operatorPublicKey] : [])]);
}

/**
 * The cloud-config every cloud gets. `createUser` is false on Azure, where the VM resource
 * creates the admin user and cloud-init only adds the keys.
 */
export function renderUserData(r: ResolvedCloudHostArgs, stackPublicKey: pulumi.Input<string>, createUser: boolean): pulumi.Output<string> {
    return authorizedKeys(r, stackPublicKey).apply((keys) =>
        renderCloudInit({ ...r.cloudInit, sshUser: r.sshUser, createUser, sshAuthorizedKeys: keys }));
}

/** Per-host facts for the stack outputs (kind, GPU and address come from the GpuHost itself). */
// A type alias, not an interface, so it fits GpuHost.details' index signature.
export type HostDetails = {
    readonly region: string;
    readonly zone: pulumi.Input<string>;
    readonly instanceType: string;
    readonly spot: boolean;
    readonly ssh: pulumi.Output<string>;
};

/** The stack's generated SSH key pair, as index.ts hands it to every cloud host. */
export interface StackSshKey {
    /** OpenSSH public key (tls.PrivateKey.publicKeyOpenssh). */
    readonly publicKey: pulumi.Input<string>;
    /** OpenSSH private key (tls.PrivateKey.privateKeyOpenssh); a secret. */
    readonly privateKey: pulumi.Input<string>;
}

/** The CloudHostArgs a stack's validated config implies; add the cloud's own section (aws, gcp, azure). */
export function cloudHostArgs(cfg: StackConfig, key: StackSshKey): CloudHostArgs {
    return {
        spot: cfg.spot,
        diskGb: cfg.diskGb,
        sshUser: cfg.sshUser,
        sshPublicKey: key.publicKey,
        sshPrivateKey: key.privateKey,
        ...(cfg.sshPublicKey !== "" ? { operatorPublicKey: cfg.sshPublicKey } : {}),
        operatorCidrs: cfg.operatorCidrs,
        apiCidrs: cfg.apiCidrs,
        apiPort: cfg.apiPort,
        idlePort: cfg.idlePort,
        acmeChallenge: cfg.tls.mode === "acme",
        cloudInit: { nvidiaDriverBranch: cfg.nvidiaDriverBranch },
        gpuCheckImage: cfg.images.gpuCheck,
    };
}
