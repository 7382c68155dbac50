// The stack's configuration: one typed object, validated before any resource exists.
// Pure: takes the raw key/value strings Pulumi hands the program, returns StackConfig or throws
// ConfigError listing every problem at once.
import * as net from "net";
import {
    AWS_ALLOWED, AWS_REGION, AZURE_ALLOWED, AZURE_LOCATION, CloudName, GCP_ALLOWED, GCP_ZONE,
    awsGpu, azureGpu, gcpGpu, isAzureGridSize,
} from "../clouds/catalog";
import { COLORS, Color, NAMESPACE, PORTS } from "../vocabulary";
import {
    API_KEY, COMMIT, DNS_NAME, DOCKER_HOST, DOMAIN, DRIVER_BRANCH, DURATION, EMAIL, HOST_NAME, IMAGE_PIN, LINUX_USER, MODEL, RELATIVE_PATH,
    RELEASE, SSH_PRIVATE_KEY, SSH_PUBLIC_KEY, URL_PATH, isCidr, isWorldOpen, withoutHostBits, WIDEST_PRODUCTION_PREFIX,
} from "../validators";

export type HostKind = "local" | CloudName | "ssh";
export const HOST_KINDS: readonly HostKind[] = ["local", "aws", "gcp", "azure", "ssh"];

/** One of the operator's own servers (host kind "ssh"), reached over SSH. */
export interface SshHostConfig {
    /** The host's name: its resources, containers and outputs are named after it. */
    readonly name: string;
    /** IP address or DNS name that SSH and the API clients use. */
    readonly address: string;
    /** SSH port. */
    readonly port: number;
    /** Login user; not root, it gets sudo for the setup. */
    readonly user: string;
    /** Whether the server has an NVIDIA GPU to set up, prove and hand to Ollama. */
    readonly gpu: boolean;
}

export interface SlotConfig {
    /** The release's name, for people: "workdir" (a snapshot of the app context on disk) or a git ref. */
    readonly release: string;
    /**
     * The commit the release was pinned to when it was set (scripts/lib/pin.ts): what the slot is
     * built from. Nothing but a new value here moves a slot.
     */
    readonly commit: string;
}

/** Where an AWS host runs. zone "" is the first zone of the region that offers the type. */
export interface AwsPlacement {
    readonly region: string;
    readonly zone: string;
    readonly instanceType: string;
    readonly spot: boolean;
}
/** Where a GCP host runs (the project stays gcp.project). */
export interface GcpPlacement {
    readonly zone: string;
    readonly machineType: string;
    readonly gpuType: string;
    readonly spot: boolean;
}
/** Where an Azure host runs. */
export interface AzurePlacement {
    readonly location: string;
    readonly vmSize: string;
    readonly spot: boolean;
}

/**
 * What `npm run deploy` may do when a VM fails for capacity or quota. Each default is the choice
 * that never surprises the bill or the topology: move along the candidates the operator listed
 * (they accepted each one), but never swap a spot machine for a dearer on-demand one, and never
 * drop a cloud from the stack, unless the stack says so.
 */
export interface FallbackConfig {
    /** Move a host to its next candidate. Defaults to true. */
    readonly candidates: boolean;
    /** After a spot candidate fails, try the same placement on-demand (about 3x the price). Defaults to false. */
    readonly spotToOnDemand: boolean;
    /** When a cloud's candidates run out, deploy without its host and let the other clouds serve. Defaults to false. */
    readonly otherClouds: boolean;
}

/** A placement the deploy driver chose, and the failures that led to it ("<placement>: <code>"). */
export type Recorded<P> = P & { readonly tried: readonly string[] };

/** gpu-hosts:placements, written by `npm run deploy`. */
export interface PlacementsConfig {
    readonly aws?: Recorded<AwsPlacement>;
    readonly gcp?: Recorded<GcpPlacement>;
    readonly azure?: Recorded<AzurePlacement>;
    /** Clouds whose candidates ran out, deployed without (only with fallback.otherClouds). */
    readonly skipped: readonly CloudName[];
}

export interface AppConfig {
    /** Build context, relative to the project root. */
    readonly context: string;
    /** Dockerfile, relative to the context. */
    readonly dockerfile: string;
    readonly apiCommand: readonly string[];
    readonly workerCommand: readonly string[];
    /** Port the api listens on inside its container. */
    readonly port: number;
    /** HTTP path that answers 200 while the api is healthy. */
    readonly healthPath: string;
    /** Container health check commands (exec form, run inside the container). */
    readonly apiHealthcheck: readonly string[];
    readonly workerHealthcheck: readonly string[];
}

export interface ImagePins {
    readonly redis: string;
    readonly ollama: string;
    readonly proxy: string;
    /** Image the readiness gate runs with --gpus all to prove the GPU is visible in a container. */
    readonly gpuCheck: string;
}

export interface StackConfig {
    readonly stack: string;
    readonly clouds: readonly HostKind[];
    readonly model: string;
    readonly liveColor: Color;
    readonly slots: { readonly blue: SlotConfig; readonly green: SlotConfig };
    readonly images: ImagePins;
    readonly app: AppConfig;
    /** Host port serving the live slot. */
    readonly apiPort: number;
    /** Host port serving the idle slot; only operatorCidrs reach it. */
    readonly idlePort: number;
    readonly workerConcurrency: number;
    /** Abuse limits the api enforces (per client; Redis-backed, so shared by both slots' apis). */
    readonly limits: { readonly requestsPerMinute: number; readonly queueMaxDepth: number };
    readonly ollama: { readonly keepAlive: string; readonly numParallel: number; readonly maxLoadedModels: number };
    readonly memoryMb: { readonly api: number; readonly worker: number; readonly redis: number; readonly proxy: number };
    /** Who may reach SSH and the idle slot. */
    readonly operatorCidrs: readonly string[];
    /** Who may reach the live API port. */
    readonly apiCidrs: readonly string[];
    readonly spot: boolean;
    /** A production stack: SSH and the idle slot may only open to narrow operator CIDRs. */
    readonly production: boolean;
    readonly sshUser: string;
    /** An operator's own public key, authorised beside the stack's generated one; "" for none. */
    readonly sshPublicKey: string;
    readonly diskGb: number;
    readonly nvidiaDriverBranch: string;
    /** The AWS host; `candidates` (resolved: every field filled) are the placements accepted, in order. */
    readonly aws: { readonly region: string; readonly instanceType: string; readonly candidates: readonly AwsPlacement[] };
    readonly gcp: {
        readonly project: string; readonly zone: string; readonly machineType: string; readonly gpuType: string;
        readonly candidates: readonly GcpPlacement[];
    };
    readonly azure: { readonly location: string; readonly vmSize: string; readonly candidates: readonly AzurePlacement[] };
    /** What `npm run deploy` may do when a cloud has no capacity for a host. */
    readonly fallback: FallbackConfig;
    /** Where `npm run deploy` placed each cloud host (it writes this key); absent: the first candidate. */
    readonly placements: PlacementsConfig;
    /** The operator's own servers, when "ssh" is in clouds. */
    readonly ssh: { readonly hosts: readonly SshHostConfig[] };
    /**
     * The operator's own SSH private key for the "ssh" hosts (a config secret), or "" to use the
     * stack's generated key, whose public half the stack outputs for the servers to authorise.
     * Plain here, as Pulumi hands config to the program; the hosts wrap it in a secret at once.
     */
    readonly sshPrivateKey: string;
    readonly local: { readonly dockerHost: string; readonly gpu: boolean; readonly bindAddress: string };
    /** API keys: checked by the proxy on the live and idle port of every host. */
    readonly auth: { readonly enabled: boolean };
    /**
     * Operators' own API keys, beside the one the stack generates (config secret, comma-separated).
     * Plain here, as Pulumi hands config to the program; index.ts wraps them in a secret at once.
     */
    readonly apiKeys: readonly string[];
    /** HTTPS on cloud hosts (the local stack serves plain HTTP on loopback). */
    readonly tls: TlsConfig;
}

export type TlsMode = "internal" | "acme" | "off";
export const TLS_MODES: readonly TlsMode[] = ["internal", "acme", "off"];

export interface TlsConfig {
    /**
     * "internal": Caddy's own CA issues a certificate for the host's IP (zero configuration; the
     * root is the stack output caRootCert, for clients to pin). "acme": a publicly trusted
     * certificate for the cloud's domain in `domains` (needs DNS pointing at the host and port 80
     * open for the HTTP-01 challenge). "off": plain HTTP.
     */
    readonly mode: TlsMode;
    /** The operator's DNS name of each cloud's host, for "acme". */
    readonly domains: { readonly aws: string; readonly gcp: string; readonly azure: string };
    /** Contact address for the ACME account. "" for none. */
    readonly email: string;
}

type Defaults = Omit<StackConfig, "stack">;

/** Every default, in one place. Pulumi.yaml declares the same values (a test keeps them equal). */
export const DEFAULTS: Defaults = {
    clouds: ["local"],
    model: "qwen2.5:0.5b",
    liveColor: "blue",
    // Unpinned: `npm run up` pins a new stack's slots to one snapshot before its first deployment.
    slots: { blue: { release: "workdir", commit: "" }, green: { release: "workdir", commit: "" } },
    images: {
        redis: "redis:7.4.2-alpine",
        ollama: "ollama/ollama:0.6.8",
        proxy: "caddy:2.10.0-alpine",
        gpuCheck: "ubuntu:24.04",
    },
    app: {
        context: "app",
        dockerfile: "Dockerfile",
        apiCommand: ["node", "dist/api.js"],
        workerCommand: ["node", "dist/worker.js"],
        port: 8000,
        healthPath: "/health",
        apiHealthcheck: ["node", "dist/healthcheck.js", "api"],
        workerHealthcheck: ["node", "dist/healthcheck.js", "worker"],
    },
    apiPort: 8000,
    idlePort: 8001,
    workerConcurrency: 2,
    limits: { requestsPerMinute: 600, queueMaxDepth: 10000 },
    ollama: { keepAlive: "24h", numParallel: 2, maxLoadedModels: 1 },
    memoryMb: { api: 512, worker: 512, redis: 512, proxy: 128 },
    operatorCidrs: [],
    apiCidrs: ["0.0.0.0/0"],
    spot: false,
    production: false,
    sshUser: "ubuntu",
    // Optional keys default to "" (unset): a key Pulumi.yaml declares without a default is required
    // on every stack by the engine.
    sshPublicKey: "",
    diskGb: 100,
    nvidiaDriverBranch: "570-server",
    aws: { region: "us-east-1", instanceType: "g4dn.xlarge", candidates: [] },
    gcp: { project: "", zone: "us-central1-a", machineType: "n1-standard-4", gpuType: "nvidia-tesla-t4", candidates: [] },
    azure: { location: "eastus", vmSize: "Standard_NC4as_T4_v3", candidates: [] },
    fallback: { candidates: true, spotToOnDemand: false, otherClouds: false },
    placements: { skipped: [] },
    ssh: { hosts: [] },
    sshPrivateKey: "",
    // "" = the engine the operator's docker CLI uses (DOCKER_HOST, else the current context).
    local: { dockerHost: "", gpu: false, bindAddress: "127.0.0.1" },
    auth: { enabled: true },
    apiKeys: [],
    tls: { mode: "internal", domains: { aws: "", gcp: "", azure: "" }, email: "" },
};

export const KNOWN_KEYS: readonly string[] = Object.keys(DEFAULTS).sort();

export class ConfigError extends Error {
    constructor(public readonly problems: readonly string[]) {
        super(`invalid ${NAMESPACE} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Collects problems; each reader returns a usable value (the default) so checking continues. */
class Reader {
    readonly problems: string[] = [];

    constructor(private readonly raw: Readonly<Record<string, string | undefined>>) {}

    fail(key: string, allowed: string, got: unknown): void {
        this.problems.push(`${NAMESPACE}:${key} must be ${allowed}, got ${show(got)}`);
    }

    /** The raw value of a top-level key: JSON-decoded where Pulumi serialised a structured value. */
    value(key: string): unknown {
        const text = this.raw[key];
        if (text === undefined) return undefined;
        try {
            return JSON.parse(text);
        } catch {
            return text;
        }
    }

    /** The raw text of a string-typed top-level key (never JSON-decoded: "570" stays a string). */
    text(key: string): string | undefined {
        return this.raw[key];
    }

    string(key: string, v: unknown, fallback: string, pattern: RegExp, allowed: string): string {
        if (v === undefined) return fallback;
        if (typeof v === "string" && pattern.test(v)) return v;
        this.fail(key, allowed, v);
        return fallback;
    }

    oneOf<T extends string>(key: string, v: unknown, fallback: T, options: readonly T[]): T {
        if (v === undefined) return fallback;
        if (typeof v === "string" && (options as readonly string[]).includes(v)) return v as T;
        this.fail(key, options.map(show).join(" or "), v);
        return fallback;
    }

    int(key: string, v: unknown, fallback: number, min: number, max: number): number {
        if (v === undefined) return fallback;
        const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
        if (typeof n === "number" && Number.isInteger(n) && n >= min && n <= max) return n;
        this.fail(key, `an integer from ${min} to ${max}`, v);
        return fallback;
    }

    bool(key: string, v: unknown, fallback: boolean): boolean {
        if (v === undefined) return fallback;
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        this.fail(key, "true or false", v);
        return fallback;
    }

    /** An object whose fields are checked one by one; unknown fields are problems too. */
    object<T extends object>(key: string, v: unknown, fallback: T, fields: { [K in keyof T]: (fk: string, fv: unknown, d: T[K]) => T[K] }): T {
        if (v === undefined) return fallback;
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.fail(key, `an object with fields ${Object.keys(fields).join(", ")}`, v);
            return fallback;
        }
        const given = v as Record<string, unknown>;
        for (const k of Object.keys(given)) {
            if (!(k in fields)) this.problems.push(`${NAMESPACE}:${key}.${k} is not a known field; known fields: ${Object.keys(fields).join(", ")}`);
        }
        const out = {} as T;
        for (const k of Object.keys(fields) as (keyof T)[]) {
            out[k] = fields[k](`${key}.${String(k)}`, given[k as string], fallback[k]);
        }
        return out;
    }

    list<T>(key: string, v: unknown, fallback: readonly T[], item: (v: unknown) => v is T, allowed: string, nonEmpty: boolean): readonly T[] {
        if (v === undefined) return fallback;
        if (!Array.isArray(v)) {
            this.fail(key, `a list of ${allowed}`, v);
            return fallback;
        }
        if (nonEmpty && v.length === 0) {
            this.fail(key, `a non-empty list of ${allowed}`, v);
            return fallback;
        }
        const bad = v.filter((x) => !item(x));
        if (bad.length > 0) {
            this.fail(key, `a list of ${allowed}`, bad.length === 1 ? bad[0] : bad);
            return fallback;
        }
        return v as T[];
    }

    command(key: string, v: unknown, fallback: readonly string[]): readonly string[] {
        return this.list(key, v, fallback, (x): x is string => typeof x === "string" && x.length > 0,
            "non-empty strings (exec form, e.g. [\"node\", \"dist/api.js\"])", true);
    }
}

const RESERVED_PORTS: readonly number[] = [PORTS.ssh, PORTS.redis, PORTS.ollama];

/** How strict loadConfig is about what only the program needs. */
export interface LoadOptions {
    /**
     * Refuse a slot without a commit. The program builds only pinned commits; the operator scripts
     * read a new stack's config before they pin it. Defaults to true.
     */
    readonly requirePinnedSlots?: boolean;
}

/**
 * Validates the raw config of `stack` (keys without the "gpu-hosts:" prefix) and returns the typed
 * config, or throws ConfigError naming every bad key, its value and what is allowed.
 */
export function loadConfig(
    stack: string,
    raw: Readonly<Record<string, string | undefined>>,
    isSecret: (key: string) => boolean = () => false,
    options: LoadOptions = {},
): StackConfig {
    const r = new Reader(raw);
    const d = DEFAULTS;

    for (const k of Object.keys(raw)) {
        if (!KNOWN_KEYS.includes(k)) r.problems.push(`${NAMESPACE}:${k} is not a known key; known keys: ${KNOWN_KEYS.join(", ")}`);
    }

    const clouds = r.list("clouds", r.value("clouds"), d.clouds, (x): x is HostKind => HOST_KINDS.includes(x as HostKind),
        HOST_KINDS.map(show).join(", "), true);
    if (new Set(clouds).size !== clouds.length) r.fail("clouds", "a list without repeats", clouds);
    const enabled = (k: HostKind) => clouds.includes(k);
    // Cloud VMs get a firewall from the CIDRs; the operator's own servers (ssh) keep theirs.
    const anyCloud = clouds.some((c) => c === "aws" || c === "gcp" || c === "azure");

    const str = (pattern: RegExp, allowed: string) => (k: string, v: unknown, fb: string) => r.string(k, v, fb, pattern, allowed);
    const int = (min: number, max: number) => (k: string, v: unknown, fb: number) => r.int(k, v, fb, min, max);
    const cmd = (k: string, v: unknown, fb: readonly string[]) => r.command(k, v, fb);
    const release = (k: string, v: unknown, fb: SlotConfig) => r.object(k, v, fb, {
        release: str(RELEASE.re, RELEASE.allowed),
        commit: (ck, cv, cfb) => (typeof cv === "string" ? cv : cv === undefined ? cfb : (r.fail(ck, "a string", cv), cfb)),
    });
    const image = str(IMAGE_PIN.re, IMAGE_PIN.allowed);

    const app = r.object("app", r.value("app"), d.app, {
        context: str(RELATIVE_PATH.re, RELATIVE_PATH.allowed),
        dockerfile: str(RELATIVE_PATH.re, "a relative path inside the context, e.g. \"Dockerfile\""),
        apiCommand: cmd,
        workerCommand: cmd,
        port: int(1, 65535),
        healthPath: str(URL_PATH.re, URL_PATH.allowed),
        apiHealthcheck: cmd,
        workerHealthcheck: cmd,
    });

    const apiPort = r.int("apiPort", r.value("apiPort"), d.apiPort, 1, 65535);
    const idlePort = r.int("idlePort", r.value("idlePort"), d.idlePort, 1, 65535);
    if (apiPort === idlePort) r.fail("idlePort", `a port other than gpu-hosts:apiPort (${apiPort})`, idlePort);
    for (const [key, port] of [["apiPort", apiPort], ["idlePort", idlePort]] as const) {
        // Publishing one of these would open SSH, Redis or Ollama to the port's CIDRs.
        if (RESERVED_PORTS.includes(port)) r.fail(key, "a port other than 22 (SSH), 6379 (Redis) and 11434 (Ollama)", port);
    }

    const cidrList = (key: string, example: string, fallback: readonly string[]) => {
        const list = r.list(key, r.value(key), fallback, isCidr, `CIDR blocks, e.g. "${example}"`, false);
        for (const c of list) {
            const network = withoutHostBits(c);
            if (network) r.fail(key, `a list of CIDR blocks without host bits set (did you mean "${network}"?)`, c);
        }
        return list;
    };
    const operatorCidrs = cidrList("operatorCidrs", "203.0.113.0/24", d.operatorCidrs);
    const apiCidrs = cidrList("apiCidrs", "0.0.0.0/0", d.apiCidrs);
    const production = r.bool("production", r.value("production"), d.production);
    if (anyCloud) {
        if (operatorCidrs.length === 0) r.fail("operatorCidrs", "a non-empty list of CIDR blocks when a cloud host is enabled (it opens SSH and the idle slot)", operatorCidrs);
        if (apiCidrs.length === 0) r.fail("apiCidrs", "a non-empty list of CIDR blocks when a cloud host is enabled (it opens the live API port)", apiCidrs);
        if (production) {
            const open = operatorCidrs.filter(isWorldOpen);
            if (open.length > 0) {
                r.fail("operatorCidrs", `a list of CIDR blocks no wider than /${WIDEST_PRODUCTION_PREFIX.ipv4} (IPv4) or /${WIDEST_PRODUCTION_PREFIX.ipv6} (IPv6) ` +
                    "when gpu-hosts:production is true (SSH and the idle slot are never open to the world in production)", open.length === 1 ? open[0] : open);
            }
        }
    }

    const spot = r.bool("spot", r.value("spot"), d.spot);
    // Each cloud's candidates are read after its section: an entry's omitted fields come from it.
    const candidateLists: Partial<Record<CloudName, unknown[]>> = {};
    const listOf = (cloud: CloudName) => <T>(k: string, v: unknown, fb: readonly T[]): readonly T[] => {
        if (Array.isArray(v)) candidateLists[cloud] = v;
        else if (v !== undefined) r.fail(k, `a list of placements ${CANDIDATE_SHAPES[cloud]}`, v);
        return fb;
    };
    const awsSection = r.object("aws", r.value("aws"), d.aws, {
        region: str(AWS_REGION, "an AWS region, e.g. \"us-east-1\""),
        instanceType: (k, v, fb) => {
            const t = r.string(k, v, fb, /^[a-z0-9]+\.[a-z0-9]+$/, AWS_ALLOWED);
            if (enabled("aws") && t === v && !awsGpu(t)) r.fail(k, AWS_ALLOWED, v);
            return t;
        },
        candidates: listOf("aws"),
    });
    const gcpSection = r.object("gcp", r.value("gcp"), d.gcp, {
        project: str(/^([a-z][a-z0-9-]{4,28}[a-z0-9])?$/, "a GCP project id (6-30 lowercase letters, digits, hyphens)"),
        zone: str(GCP_ZONE, "a GCP zone, e.g. \"us-central1-a\""),
        machineType: str(/^[a-z0-9-]+$/, GCP_ALLOWED),
        gpuType: str(/^[a-z0-9-]*$/, "a GCP accelerator type, e.g. \"nvidia-tesla-t4\""),
        candidates: listOf("gcp"),
    });
    if (enabled("gcp")) {
        if (gcpSection.project === "") r.fail("gcp.project", "a GCP project id when \"gcp\" is in gpu-hosts:clouds", gcpSection.project);
        if (!gcpGpu(gcpSection.machineType, gcpSection.gpuType)) {
            r.fail("gcp.machineType", GCP_ALLOWED, `${gcpSection.machineType}${gcpSection.machineType.startsWith("g2-") ? "" : ` with gpuType ${gcpSection.gpuType}`}`);
        }
    }
    const azureSection = r.object("azure", r.value("azure"), d.azure, {
        location: str(AZURE_LOCATION, "an Azure location, e.g. \"eastus\""),
        vmSize: (k, v, fb) => {
            const s = r.string(k, v, fb, /^Standard_[A-Za-z0-9_]+$/, AZURE_ALLOWED);
            if (enabled("azure") && s === v) checkAzureSize(r, k, s);
            return s;
        },
        candidates: listOf("azure"),
    });
    const placementReader = new PlacementReader(r, { aws: awsSection, gcp: gcpSection, azure: azureSection }, spot, enabled);
    const aws = { ...awsSection, candidates: placementReader.candidates("aws", candidateLists.aws) };
    const gcp = { ...gcpSection, candidates: placementReader.candidates("gcp", candidateLists.gcp) };
    const azure = { ...azureSection, candidates: placementReader.candidates("azure", candidateLists.azure) };
    const fallback = r.object("fallback", r.value("fallback"), d.fallback, {
        candidates: (k, v, fb) => r.bool(k, v, fb),
        spotToOnDemand: (k, v, fb) => r.bool(k, v, fb),
        otherClouds: (k, v, fb) => r.bool(k, v, fb),
    });
    const placements = placementReader.placements(r.value("placements"), clouds);

    const ssh = readSshHosts(r, r.value("ssh"), enabled("ssh"));
    const sshPrivateKey = readSshPrivateKey(r, raw.sshPrivateKey, isSecret("sshPrivateKey"));
    for (const h of ssh.hosts) {
        for (const [key, port] of [["apiPort", apiPort], ["idlePort", idlePort]] as const) {
            if (h.port === port) r.fail(`ssh.hosts[${ssh.hosts.indexOf(h)}].port`, `a port other than gpu-hosts:${key} (${port}): the proxy publishes that one on the server`, h.port);
        }
    }

    const apiKeys = readApiKeys(r, raw.apiKeys, isSecret("apiKeys"));
    const domain = str(new RegExp(`^$|${DOMAIN.re.source}`), `${DOMAIN.allowed}, or ""`);
    const tls = r.object("tls", r.value("tls"), d.tls, {
        mode: (k, v, fb) => r.oneOf(k, v, fb, TLS_MODES),
        domains: (k, v, fb) => r.object(k, v, fb, { aws: domain, gcp: domain, azure: domain }),
        email: str(new RegExp(`^$|${EMAIL.re.source}`), `${EMAIL.allowed}, or ""`),
    });
    if (tls.mode === "acme") {
        for (const [key, port] of [["apiPort", apiPort], ["idlePort", idlePort]] as const) {
            if (port === 80) r.fail(key, "a port other than 80 when gpu-hosts:tls.mode is \"acme\" (80 answers the certificate challenge)", port);
        }
        ssh.hosts.forEach((h, i) => {
            if (net.isIP(h.address) !== 0) {
                r.fail(`ssh.hosts[${i}].address`, "a DNS name when gpu-hosts:tls.mode is \"acme\" (a public CA issues certificates for names; use \"internal\" for an address)", h.address);
            }
        });
        for (const c of clouds) {
            if (c !== "local" && c !== "ssh" && tls.domains[c as CloudName] === "") {
                r.fail(`tls.domains.${c}`, `the DNS name of the ${c} host when gpu-hosts:tls.mode is "acme" (a public CA issues only for a name)`, "");
            }
        }
    }

    const slotProblems = r.problems.length;
    const slots = r.object("slots", r.value("slots"), d.slots, { blue: release, green: release });
    const slotsRead = r.problems.length === slotProblems;

    const cfg: StackConfig = {
        stack,
        clouds,
        model: r.string("model", r.text("model"), d.model, MODEL.re, MODEL.allowed),
        liveColor: r.oneOf("liveColor", r.text("liveColor"), d.liveColor, COLORS),
        slots,
        images: r.object("images", r.value("images"), d.images, { redis: image, ollama: image, proxy: image, gpuCheck: image }),
        app,
        apiPort,
        idlePort,
        workerConcurrency: r.int("workerConcurrency", r.value("workerConcurrency"), d.workerConcurrency, 1, 64),
        limits: r.object("limits", r.value("limits"), d.limits, {
            // 0 turns the per-client rate limit off.
            requestsPerMinute: int(0, 1_000_000),
            queueMaxDepth: int(1, 10_000_000),
        }),
        ollama: r.object("ollama", r.value("ollama"), d.ollama, {
            keepAlive: str(DURATION.re, DURATION.allowed),
            numParallel: int(1, 16),
            maxLoadedModels: int(1, 8),
        }),
        memoryMb: r.object("memoryMb", r.value("memoryMb"), d.memoryMb, {
            api: int(64, 65536), worker: int(64, 65536), redis: int(32, 65536), proxy: int(32, 65536),
        }),
        operatorCidrs,
        apiCidrs,
        spot,
        production,
        sshUser: r.string("sshUser", r.text("sshUser"), d.sshUser, LINUX_USER.re, "a Linux user name other than root, e.g. \"ubuntu\""),
        sshPublicKey: raw.sshPublicKey === undefined || raw.sshPublicKey === "" ? ""
            : r.string("sshPublicKey", raw.sshPublicKey, "", SSH_PUBLIC_KEY.re, `${SSH_PUBLIC_KEY.allowed}, or "" for none`),
        diskGb: r.int("diskGb", r.value("diskGb"), d.diskGb, 100, 4096),
        nvidiaDriverBranch: r.string("nvidiaDriverBranch", r.text("nvidiaDriverBranch"), d.nvidiaDriverBranch, DRIVER_BRANCH.re, DRIVER_BRANCH.allowed),
        aws,
        gcp,
        azure,
        fallback,
        placements,
        ssh,
        sshPrivateKey,
        local: r.object("local", r.value("local"), d.local, {
            dockerHost: str(DOCKER_HOST.re, DOCKER_HOST.allowed),
            gpu: (k, v, fb) => r.bool(k, v, fb),
            bindAddress: (k, v, fb) => {
                if (v === undefined) return fb;
                if (typeof v === "string" && net.isIP(v) !== 0) return v;
                r.fail(k, "an IP address of this machine, e.g. \"127.0.0.1\"", v);
                return fb;
            },
        }),
        auth: r.object("auth", r.value("auth"), d.auth, { enabled: (k, v, fb) => r.bool(k, v, fb) }),
        apiKeys,
        tls,
    };
    if (cfg.sshUser === "root") r.fail("sshUser", "a Linux user name other than root, e.g. \"ubuntu\"", cfg.sshUser);
    // Checked whether or not the stack sets slots: the default is unpinned, and an unpinned slot has
    // nothing to build.
    for (const c of slotsRead ? COLORS : []) {
        const commit = cfg.slots[c].commit;
        if (commit === "" && options.requirePinnedSlots === false) continue;
        if (!COMMIT.re.test(commit)) {
            r.fail(`slots.${c}.commit`, `the full id of the git commit the slot is pinned to (40 or 64 hex digits)${commit === "" ? "; `npm run up` pins a new stack's slots, `npm run release` pins a new release" : ""}`, commit);
        }
    }

    if (r.problems.length > 0) throw new ConfigError(r.problems);
    return cfg;
}

/** The shape of one candidate per cloud, for messages. */
const CANDIDATE_SHAPES: Readonly<Record<CloudName, string>> = {
    aws: "{region, zone?, instanceType?, spot?}",
    gcp: "{zone, machineType?, gpuType?, spot?}",
    azure: "{location, vmSize?, spot?}",
};

function checkAzureSize(r: Reader, key: string, size: string): void {
    if (isAzureGridSize(size)) {
        r.fail(key, `a full-GPU NC-series size (${AZURE_ALLOWED}); NVadsA10 v5 sizes are GPU slices that need NVIDIA's GRID driver`, size);
    } else if (!azureGpu(size)) {
        r.fail(key, AZURE_ALLOWED, size);
    }
}

type Placement<C extends CloudName> = C extends "aws" ? AwsPlacement : C extends "gcp" ? GcpPlacement : AzurePlacement;
const CLOUD_NAMES: readonly CloudName[] = ["aws", "gcp", "azure"];

/**
 * Candidates and recorded placements: one placement per entry, the location required, every other
 * field defaulting to the cloud's section (and gpu-hosts:spot), checked against the catalog when the
 * cloud is enabled.
 */
class PlacementReader {
    constructor(
        private readonly r: Reader,
        private readonly sections: { aws: { region: string; instanceType: string }; gcp: { zone: string; machineType: string; gpuType: string }; azure: { location: string; vmSize: string } },
        private readonly spot: boolean,
        private readonly enabled: (k: HostKind) => boolean,
    ) {}

    /** One entry at `at`; undefined when it is not an object or lacks its location. */
    entry<C extends CloudName>(cloud: C, at: string, v: unknown, extra: readonly string[] = []): Placement<C> | undefined {
        const r = this.r;
        const shape = CANDIDATE_SHAPES[cloud];
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            r.fail(at, `an object ${shape}`, v);
            return undefined;
        }
        const e = v as Record<string, unknown>;
        const str = (k: string, pattern: RegExp, allowed: string, fb: string) => r.string(`${at}.${k}`, e[k], fb, pattern, allowed);
        const known = { aws: ["region", "zone", "instanceType", "spot"], gcp: ["zone", "machineType", "gpuType", "spot"], azure: ["location", "vmSize", "spot"] }[cloud];
        for (const k of Object.keys(e)) {
            if (!known.includes(k) && !extra.includes(k)) r.problems.push(`${NAMESPACE}:${at}.${k} is not a known field; known fields: ${[...known, ...extra].join(", ")}`);
        }
        const where = { aws: "region", gcp: "zone", azure: "location" }[cloud];
        if (e[where] === undefined) {
            r.problems.push(`${NAMESPACE}:${at}.${where} is required`);
            return undefined;
        }
        const spot = r.bool(`${at}.spot`, e.spot, this.spot);
        const check = this.enabled(cloud);
        if (cloud === "aws") {
            const s = this.sections.aws;
            const region = str("region", AWS_REGION, "an AWS region, e.g. \"us-east-1\"", "");
            const zone = str("zone", /^$|^[a-z]{2}-[a-z]+-\d[a-z]$/, "an availability zone of the entry's region, e.g. \"us-east-1b\", or \"\" for the first that offers the type", "");
            if (region && zone && !zone.startsWith(region)) r.fail(`${at}.zone`, `an availability zone of ${region}, e.g. "${region}b"`, zone);
            const instanceType = str("instanceType", /^[a-z0-9]+\.[a-z0-9]+$/, AWS_ALLOWED, s.instanceType);
            if (check && !awsGpu(instanceType)) r.fail(`${at}.instanceType`, AWS_ALLOWED, instanceType);
            return { region, zone, instanceType, spot } as Placement<C>;
        }
        if (cloud === "gcp") {
            const s = this.sections.gcp;
            const zone = str("zone", GCP_ZONE, "a GCP zone, e.g. \"us-central1-a\"", "");
            const machineType = str("machineType", /^[a-z0-9-]+$/, GCP_ALLOWED, s.machineType);
            const gpuType = str("gpuType", /^[a-z0-9-]*$/, "a GCP accelerator type, e.g. \"nvidia-tesla-t4\"", s.gpuType);
            if (check && !gcpGpu(machineType, gpuType)) {
                r.fail(`${at}.machineType`, GCP_ALLOWED, `${machineType}${machineType.startsWith("g2-") ? "" : ` with gpuType ${gpuType}`}`);
            }
            return { zone, machineType, gpuType, spot } as Placement<C>;
        }
        const s = this.sections.azure;
        const location = str("location", AZURE_LOCATION, "an Azure location, e.g. \"eastus\"", "");
        const vmSize = str("vmSize", /^Standard_[A-Za-z0-9_]+$/, AZURE_ALLOWED, s.vmSize);
        if (check) checkAzureSize(r, `${at}.vmSize`, vmSize);
        return { location, vmSize, spot } as Placement<C>;
    }

    /** gpu-hosts:<cloud>.candidates, resolved; repeats are a problem (each would fail the same way). */
    candidates<C extends CloudName>(cloud: C, list: readonly unknown[] | undefined): Placement<C>[] {
        const out: Placement<C>[] = [];
        (list ?? []).forEach((v, i) => {
            const p = this.entry(cloud, `${cloud}.candidates[${i}]`, v);
            if (p) out.push(p);
        });
        const keys = out.map((p) => JSON.stringify(p));
        const repeated = out.filter((_, i) => keys.indexOf(keys[i]) !== i);
        if (repeated.length) this.r.fail(`${cloud}.candidates`, "a list without repeats", repeated.length === 1 ? repeated[0] : repeated);
        return out;
    }

    /** gpu-hosts:placements: {aws?, gcp?, azure?: placement + tried, skipped?: [cloud]}. */
    placements(v: unknown, clouds: readonly HostKind[]): PlacementsConfig {
        const r = this.r;
        if (v === undefined) return DEFAULTS.placements;
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            r.fail("placements", "an object {aws?, gcp?, azure?, skipped?} (npm run deploy writes it)", v);
            return DEFAULTS.placements;
        }
        const given = v as Record<string, unknown>;
        for (const k of Object.keys(given)) {
            if (![...CLOUD_NAMES, "skipped"].includes(k)) r.problems.push(`${NAMESPACE}:placements.${k} is not a known field; known fields: aws, gcp, azure, skipped`);
        }
        const out: { -readonly [K in keyof PlacementsConfig]: PlacementsConfig[K] } = { skipped: [] };
        for (const cloud of CLOUD_NAMES) {
            if (given[cloud] === undefined) continue;
            const p = this.entry(cloud, `placements.${cloud}`, given[cloud], ["tried"]);
            const tried = r.list(`placements.${cloud}.tried`, (given[cloud] as Record<string, unknown>)?.tried, [],
                (x): x is string => typeof x === "string", "strings", false);
            if (p) (out as Record<string, unknown>)[cloud] = { ...p, tried };
        }
        const skipped = r.list("placements.skipped", given.skipped, [], (x): x is CloudName => CLOUD_NAMES.includes(x as CloudName),
            CLOUD_NAMES.map(show).join(", "), false);
        const served = clouds.filter((c) => !skipped.includes(c as CloudName));
        if (skipped.length > 0 && served.length === 0) {
            r.fail("placements.skipped", "a list that leaves at least one host of gpu-hosts:clouds to deploy", skipped);
        }
        return { ...out, skipped };
    }
}

export const API_KEY_ALLOWED = `a comma-separated list of API keys, each ${API_KEY.allowed}`;

/** Operators' API keys from the config text; never echoes a value in a message. */
function readApiKeys(r: Reader, text: string | undefined, secret: boolean): readonly string[] {
    if (text === undefined || text.trim() === "") return [];
    const keys = text.split(",").map((k) => k.trim()).filter((k) => k !== "");
    const problems: string[] = [];
    if (!secret) problems.push(`${NAMESPACE}:apiKeys must be set as a secret (pulumi config set --secret ${NAMESPACE}:apiKeys ...), got a plain-text value (not shown)`);
    const bad = keys.filter((k) => !API_KEY.re.test(k)).length;
    if (bad > 0) problems.push(`${NAMESPACE}:apiKeys must be ${API_KEY_ALLOWED}, got ${bad} of ${keys.length} key${keys.length === 1 ? "" : "s"} that ${bad === 1 ? "is" : "are"} not (values not shown: they are secrets)`);
    if (new Set(keys).size !== keys.length) problems.push(`${NAMESPACE}:apiKeys must be a list without repeats (values not shown: they are secrets)`);
    r.problems.push(...problems);
    return problems.length > 0 ? [] : keys;
}

const SSH_HOST_FIELDS = ["name", "address", "port", "user", "gpu"] as const;
/** An ssh host's defaults: the fields an entry may leave out. */
export const SSH_HOST_DEFAULTS = { port: 22, user: "ubuntu", gpu: true } as const;

/** gpu-hosts:ssh: {hosts: [{name, address, port?, user?, gpu?}]}, every entry checked, every problem named. */
function readSshHosts(r: Reader, v: unknown, enabled: boolean): StackConfig["ssh"] {
    const key = "ssh.hosts";
    const given = v === undefined ? DEFAULTS.ssh : v;
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
        r.fail("ssh", "an object with field hosts", given);
        return DEFAULTS.ssh;
    }
    for (const k of Object.keys(given)) if (k !== "hosts") r.problems.push(`${NAMESPACE}:ssh.${k} is not a known field; known fields: hosts`);
    const list = (given as { hosts?: unknown }).hosts ?? [];
    if (!Array.isArray(list)) {
        r.fail(key, "a list of {name, address, port?, user?, gpu?}", list);
        return DEFAULTS.ssh;
    }
    if (enabled && list.length === 0) r.fail(key, "a non-empty list of {name, address, port?, user?, gpu?} when \"ssh\" is in gpu-hosts:clouds", list);
    const hosts: SshHostConfig[] = [];
    list.forEach((h, i) => {
        const at = `${key}[${i}]`;
        if (typeof h !== "object" || h === null || Array.isArray(h)) {
            r.fail(at, "an object {name, address, port?, user?, gpu?}", h);
            return;
        }
        const e = h as Record<string, unknown>;
        for (const k of Object.keys(e)) {
            if (!(SSH_HOST_FIELDS as readonly string[]).includes(k)) r.problems.push(`${NAMESPACE}:${at}.${k} is not a known field; known fields: ${SSH_HOST_FIELDS.join(", ")}`);
        }
        for (const k of ["name", "address"]) if (e[k] === undefined) r.problems.push(`${NAMESPACE}:${at}.${k} is required`);
        const name = e.name === undefined ? "" : r.string(`${at}.name`, e.name, "", HOST_NAME.re, HOST_NAME.allowed);
        if (name && HOST_KINDS.includes(name as HostKind)) r.fail(`${at}.name`, `a name other than ${HOST_KINDS.map(show).join(", ")} (the other hosts' names)`, name);
        const address = e.address === undefined ? "" : (() => {
            const a = e.address;
            if (typeof a === "string" && (net.isIP(a) !== 0 || (DNS_NAME.re.test(a) && !/^[0-9.]+$/.test(a)))) return a;
            r.fail(`${at}.address`, "an IPv4 or IPv6 address or a DNS name, e.g. \"203.0.113.10\" or \"gpu1.example.com\"", a);
            return "";
        })();
        hosts.push({
            name,
            address,
            port: r.int(`${at}.port`, e.port, SSH_HOST_DEFAULTS.port, 1, 65535),
            user: r.string(`${at}.user`, e.user, SSH_HOST_DEFAULTS.user, LINUX_USER.re, LINUX_USER.allowed),
            gpu: r.bool(`${at}.gpu`, e.gpu, SSH_HOST_DEFAULTS.gpu),
        });
    });
    const names = hosts.map((h) => h.name).filter(Boolean);
    const repeated = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    if (repeated.length) r.fail(key, "a list whose names are all different", repeated.length === 1 ? repeated[0] : repeated);
    return { hosts };
}


/** The operators' own SSH private key: a secret, in OpenSSH or PEM form; never echoed. */
function readSshPrivateKey(r: Reader, text: string | undefined, secret: boolean): string {
    if (text === undefined || text.trim() === "") return "";
    const problems: string[] = [];
    if (!secret) problems.push(`${NAMESPACE}:sshPrivateKey must be set as a secret (pulumi config set --secret ${NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519), got a plain-text value (not shown)`);
    if (!SSH_PRIVATE_KEY.re.test(text)) problems.push(`${NAMESPACE}:sshPrivateKey must be ${SSH_PRIVATE_KEY.allowed}, got something else (not shown: it is a secret)`);
    r.problems.push(...problems);
    return problems.length ? "" : text;
}

/** The raw config of this program's namespace, keys stripped of "gpu-hosts:". */
export function namespaced(all: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(all)) {
        if (k.startsWith(`${NAMESPACE}:`)) out[k.slice(NAMESPACE.length + 1)] = v;
    }
    return out;
}
