// What runs on one host: a private network, redis, ollama, the model pull, two release slots and
// the proxy. It takes any GpuHost and does not care which cloud it runs on.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import type { NetworkConfig } from "../config/sections/network";
import type { RegistryConfig } from "../config/sections/registry";
import type { ReleaseConfig } from "../config/sections/release";
import type { ServiceConfig } from "../config/sections/service";
import { Color } from "../vocabulary";
import { APP_STACK_TYPE, CONTAINERS, modelVolumeName, proxyName, slotName } from "../contract/names";
import { GpuHost } from "../hosts/gpuHost";
import { healthcheck, service } from "./containerDefaults";
import { Proxy, ProxyAuth, ProxyTls } from "./proxy";
import { BuildSource, releaseLabel } from "./release";
import { Slot } from "./slot";
import { baseImagePuller } from "./baseImages";
import { AppRole, HUB_REDIS_ALIAS, HUB_REDIS_TLS_PORT, ISLAND } from "./fleet";
import { fleetRedisConf } from "./redisConf";

/** The part of the stack config an AppStack needs. */
export type AppSettings = ServiceConfig & ReleaseConfig & Pick<NetworkConfig, "apiPort" | "idlePort"> & Pick<RegistryConfig, "registry">;

export interface AppStackArgs {
    /** Where to run. */
    readonly host: GpuHost;
    /** Validated settings. */
    readonly settings: AppSettings;
    /** Build source of each slot's release. */
    readonly sources: { readonly blue: BuildSource; readonly green: BuildSource };
    /** API keys checked by the proxy on both ports. Defaults to { enabled: false }. */
    readonly auth?: ProxyAuth;
    /** TLS on the live and idle ports. Defaults to { mode: "off" }. */
    readonly tls?: ProxyTls;
    /** What the host runs: all of it, or its part of a fleet (infra/service/fleet.ts). Defaults to an island. */
    readonly role?: AppRole;
    /** Where a worker host's work arrives: the hub's endpoint, reported as this host's URLs. Required for role "worker". */
    readonly endpoint?: Endpoint;
}

/** The URLs a host's work arrives through, and the CA they are served with. */
export interface Endpoint {
    readonly liveUrl: pulumi.Output<string>;
    readonly idleUrl: pulumi.Output<string>;
    readonly docsUrl: pulumi.Output<string>;
    readonly healthUrl: pulumi.Output<string>;
    readonly idleHealthUrl: pulumi.Output<string>;
    readonly caRootCert: pulumi.Output<string | undefined>;
}

export interface SlotInfo {
    /** The release's name, as the operator gave it. */
    readonly release: string;
    /** The commit it is pinned to. */
    readonly commit: string;
    /** What the slot's containers report as their release (APP_RELEASE), e.g. "workdir@3f2a9c1b0d4e". */
    readonly label: string;
    /** The image the slot runs (repository:content tag). */
    readonly image: string;
}

const REDIS_CONF = "/usr/local/etc/redis/redis.conf";
/** The hub Redis's TLS files in its container (redisConf.ts names them in the conf). */
const HUB_REDIS_TLS = { certFile: "/usr/local/etc/redis/tls/server.crt", keyFile: "/usr/local/etc/redis/tls/server.key", caFile: "/usr/local/etc/redis/tls/ca.crt" } as const;

/** redis.conf as data; the password lives here rather than on a command line anyone can `ps`. */
export function redisConf(password: string, maxMemoryMb: number): string {
    return [
        `requirepass ${password}`,
        "appendonly yes",
        "appendfsync everysec",
        "dir /data",
        // The queue library must never have its keys evicted.
        "maxmemory-policy noeviction",
        `maxmemory ${Math.floor(maxMemoryMb * 0.75)}mb`,
        "",
    ].join("\n");
}

export class AppStack extends pulumi.ComponentResource {
    /** URL of the live slot. */
    public readonly liveUrl: pulumi.Output<string>;
    /** URL of the idle slot (operator CIDRs only on cloud hosts). */
    public readonly idleUrl: pulumi.Output<string>;
    /** Live OpenAPI UI. */
    public readonly docsUrl: pulumi.Output<string>;
    /** Live health endpoint. */
    public readonly healthUrl: pulumi.Output<string>;
    /** Idle health endpoint. */
    public readonly idleHealthUrl: pulumi.Output<string>;
    /** Release and image of each slot. */
    public readonly slots: { readonly blue: SlotInfo; readonly green: SlotInfo };
    /** The two slots. */
    public readonly slotResources: { readonly blue: Slot; readonly green: Slot };
    /** Secret REDIS_URL of the apis (on a worker host, its workers'). */
    public readonly redisUrl: pulumi.Output<string>;
    /** Shared containers: Redis where the host holds a queue (an island, a fleet's hub), Ollama where it runs workers. */
    public readonly redis?: docker.Container;
    public readonly ollama?: docker.Container;
    /** The tracked model pull, where the host runs workers. */
    public readonly modelPull?: pulumi.CustomResource;
    /** The proxy, where the host serves the API (an island, a fleet's hub). */
    public readonly proxy?: Proxy;
    /** What the host runs. */
    public readonly role: AppRole;
    /** PEM of the proxy's internal root CA (tls mode "internal"), for clients to pin; undefined otherwise. */
    public readonly caRootCert: pulumi.Output<string | undefined>;
    /** Volume holding the models, where the host runs workers; kept on destroy. */
    public readonly modelVolume?: docker.Volume;
    /** Every image this stack puts on the host (pulled pins and the slots' builds), for clean-up advice. */
    public readonly images: readonly string[];

    constructor(name: string, args: AppStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super(APP_STACK_TYPE, name, {}, opts);
        const { host, settings: s } = args;
        const provider = host.provider;
        // Everything here lives on the host: replaced with its machine, deleted with it. Objects
        // with fixed names are deleted before their replacement is created: a volume's id is its
        // name, so a create-first replace on a new VM would be followed by deleting the new volume.
        const child = { parent: this, provider, ...host.onHost };
        const named = { ...child, deleteBeforeReplace: true };

        const role = args.role ?? ISLAND;
        this.role = role;
        // An island runs everything; a hub serves the API and holds the queue, with workers only where
        // there is a GPU; a worker host runs only workers and Ollama.
        const servesApi = role.kind !== "worker";
        const runsWorkers = role.kind === "hub" ? role.workers : true;

        const network = new docker.Network(`${name}-net`, { name: `${name}-net`, driver: "bridge" }, named);
        const volume = (volumeName: string, extra: pulumi.CustomResourceOptions = {}) =>
            new docker.Volume(volumeName, { name: volumeName }, { ...named, ...extra });
        // A cloud hub keeps its queue on a disk that outlives the VM (host.dataDir); elsewhere a volume.
        const dataDir = role.kind === "hub" ? host.dataDir : undefined;
        const redisData = role.kind === "worker" || dataDir ? undefined : volume(`${name}-redis-data`);
        // Models are large downloads: `pulumi destroy` keeps the volume (see README for removal).
        this.modelVolume = runsWorkers ? volume(modelVolumeName(name), { retainOnDelete: true }) : undefined;
        const proxyMarker = servesApi ? volume(`${name}-proxy-marker`) : undefined;
        const pull = (suffix: string, image: string) =>
            new docker.RemoteImage(`${name}-${suffix}-image`, { name: image, keepLocally: true }, child);
        // The data disk's directory is made by Docker as root; the Redis image's entrypoint hands /data
        // to its redis user before it drops root (docker-library/redis docker-entrypoint.sh:
        // `find . \! -user redis -exec chown redis '{}' +`, then gosu), as it does for a volume.
        const redisVolume = () => (dataDir
            ? { hostPath: `${dataDir}/redis`, containerPath: "/data" }
            : { volumeName: redisData!.name, containerPath: "/data" });

        // The queue: the apis' and the workers' REDIS_URL (secrets) and, in a fleet, the CA that verifies it.
        let apiUrl: pulumi.Output<string> | undefined;
        let workerUrl: pulumi.Output<string>;
        let caPem: pulumi.Output<string> | undefined;
        // What both kinds of Redis container share: the name, image, command, data and network alias.
        const redisContainer = (c: Pick<docker.ContainerArgs, "uploads" | "envs" | "ports"> & { readonly check: string }) =>
            new docker.Container(CONTAINERS.redis(name), {
                name: CONTAINERS.redis(name),
                image: pull("redis", s.images.redis).imageId,
                command: ["redis-server", REDIS_CONF],
                uploads: c.uploads,
                // redis-cli reads REDISCLI_AUTH, so the health check never puts the password in argv.
                envs: c.envs,
                healthcheck: { tests: ["CMD-SHELL", `${c.check} | grep -q PONG`], interval: "5s", timeout: "3s", retries: 10, startPeriod: "5s" },
                volumes: [redisVolume()],
                networksAdvanced: [{ name: network.name, aliases: [HUB_REDIS_ALIAS] }],
                ...(c.ports ? { ports: c.ports } : {}),
                ...service({ memoryMb: s.memoryMb.redis, waitTimeoutSeconds: 60 }),
            }, named);
        if (role.kind === "island") {
            const password = new random.RandomPassword(`${name}-redis-password`, { length: 32, special: false }, { parent: this });
            const secretPassword = pulumi.secret(password.result);
            apiUrl = workerUrl = pulumi.secret(pulumi.interpolate`redis://:${secretPassword}@redis:6379/0`);
            this.redis = redisContainer({
                uploads: [{ file: REDIS_CONF, content: secretPassword.apply((p) => redisConf(p, s.memoryMb.redis)) }],
                envs: secretPassword.apply((p) => [`REDISCLI_AUTH=${p}`]),
                check: "redis-cli ping",
            });
        } else if (role.kind === "hub") {
            const q = role.queue;
            apiUrl = q.onHub("api").url;
            workerUrl = q.onHub("worker").url;
            caPem = q.caPem;
            const conf = pulumi.all([q.passwords.api, q.passwords.worker]).apply(([api, worker]) => fleetRedisConf({
                tlsPort: HUB_REDIS_TLS_PORT, tls: HUB_REDIS_TLS, passwords: { api, worker }, memoryMb: s.memoryMb.redis, dir: "/data",
            }));
            // Readable by the image's redis user (the entrypoint drops root before redis-server starts).
            const file = (path: string, content: pulumi.Input<string>, permissions = "0644") => ({ file: path, content, permissions });
            this.redis = redisContainer({
                // The conf holds only the passwords' hashes; the key is a secret (the tls provider's).
                uploads: [file(REDIS_CONF, conf), file(HUB_REDIS_TLS.certFile, q.certificate.certPem),
                    file(HUB_REDIS_TLS.keyFile, q.certificate.privateKeyPem), file(HUB_REDIS_TLS.caFile, q.caPem)],
                envs: q.passwords.api.apply((p) => [`REDISCLI_AUTH=${p}`]),
                // As the api user over TLS, verifying the server as every client does.
                check: `redis-cli --tls --cacert ${HUB_REDIS_TLS.caFile} -h ${HUB_REDIS_ALIAS} -p ${HUB_REDIS_TLS_PORT} --user api ping`,
                // The one port a fleet publishes beside the proxy's: the worker hosts dial it, and the
                // host's firewall (cloud rules, or the server's GPU-HOSTS chain) lets only them in.
                ports: [{ internal: HUB_REDIS_TLS_PORT, external: q.port, ip: host.bindAddress }],
            });
        } else {
            const q = role.queue;
            workerUrl = q.remote("worker").url;
            caPem = q.caPem;
        }
        this.redisUrl = apiUrl ?? workerUrl;
        const redisDeps = this.redis ? [this.redis] : [];

        if (runsWorkers) {
            this.ollama = new docker.Container(CONTAINERS.ollama(name), {
                name: CONTAINERS.ollama(name),
                image: pull("ollama", s.images.ollama).imageId,
                envs: [
                    "OLLAMA_HOST=0.0.0.0:11434",
                    `OLLAMA_KEEP_ALIVE=${s.ollama.keepAlive}`,
                    `OLLAMA_NUM_PARALLEL=${s.ollama.numParallel}`,
                    `OLLAMA_MAX_LOADED_MODELS=${s.ollama.maxLoadedModels}`,
                ],
                gpus: host.gpu ? "all" : undefined,
                // The image has no curl; its own CLI asks the server.
                healthcheck: healthcheck(["ollama", "list"], "10s"),
                volumes: [{ volumeName: this.modelVolume!.name, containerPath: "/root/.ollama" }],
                networksAdvanced: [{ name: network.name, aliases: ["ollama"] }],
                ...service({ waitTimeoutSeconds: 120 }),
            }, named);

            // Re-runs only when the model name changes; the model itself persists on the volume.
            this.modelPull = host.run(`${name}-model-pull`, {
                create: `docker exec ${CONTAINERS.ollama(name)} ollama pull ${s.model}`,
                triggers: [s.model],
            }, { parent: this, dependsOn: [this.ollama] });
        }

        // With a Docker Hub login, the builds' bases are pulled with it first (baseImages.ts): the
        // build itself would pull them anonymously. Without one, nothing here changes.
        const pullBase = s.registry.username !== "" ? baseImagePuller(this, name, host) : undefined;
        const inFleet = role.kind !== "island";
        const slot = (color: Color) => new Slot(slotName(name, color), {
            color,
            release: s.slots[color],
            source: args.sources[color],
            app: s.app,
            host,
            network,
            redisUrl: this.redisUrl,
            ollamaUrl: "http://ollama:11434",
            model: s.model,
            workerConcurrency: s.workerConcurrency,
            limits: s.limits,
            memoryMb: s.memoryMb,
            // A component's dependsOn does not order its children (pulumi/pulumi#8721): name the
            // containers' dependencies on them directly.
            apiDependsOn: redisDeps,
            workerDependsOn: [...(this.modelPull ? [this.modelPull] : []), ...redisDeps],
            pullBase,
            ...(inFleet ? {
                parts: { api: servesApi, worker: runsWorkers },
                workerRedisUrl: workerUrl,
                redisCaPem: caPem,
                hostName: host.name,
            } : {}),
        }, { parent: this });
        const blue = slot("blue");
        const green = slot("green");
        this.slotResources = { blue, green };
        this.slots = {
            blue: { ...s.slots.blue, label: releaseLabel(s.slots.blue), image: blue.imageName },
            green: { ...s.slots.green, label: releaseLabel(s.slots.green), image: green.imageName },
        };

        if (servesApi) {
            this.proxy = new Proxy(proxyName(name), {
                host,
                image: s.images.proxy,
                network,
                routesVolume: proxyMarker!,
                apiPort: s.apiPort,
                idlePort: s.idlePort,
                memoryMb: s.memoryMb.proxy,
                liveColor: s.liveColor,
                upstreams: { blue: blue.upstream, green: green.upstream },
                healthPath: s.app.healthPath,
                routesDependOn: [blue.api!, green.api!],
                auth: args.auth,
                tls: args.tls,
                pullBase,
            }, { parent: this });
        }
        this.images = [
            ...(this.redis ? [s.images.redis] : []), ...(this.ollama ? [s.images.ollama] : []), ...(this.proxy ? [s.images.proxy] : []),
            blue.imageName, green.imageName,
            ...(this.proxy?.authImageName ? [this.proxy.authImageName] : [])];

        let endpoint: Endpoint;
        if (this.proxy) {
            const liveUrl = pulumi.interpolate`${this.proxy.scheme}://${this.proxy.publicHost}:${s.apiPort}`;
            const idleUrl = pulumi.interpolate`${this.proxy.scheme}://${this.proxy.publicHost}:${s.idlePort}`;
            endpoint = {
                liveUrl, idleUrl,
                docsUrl: pulumi.interpolate`${liveUrl}/docs`,
                healthUrl: pulumi.interpolate`${liveUrl}${s.app.healthPath}`,
                idleHealthUrl: pulumi.interpolate`${idleUrl}${s.app.healthPath}`,
                caRootCert: this.proxy.caRootCert,
            };
        } else {
            if (!args.endpoint) throw new Error(`AppStack ${name}: a worker host needs the hub's endpoint (args.endpoint)`);
            endpoint = args.endpoint;
        }
        this.caRootCert = endpoint.caRootCert;
        this.liveUrl = endpoint.liveUrl;
        this.idleUrl = endpoint.idleUrl;
        this.docsUrl = endpoint.docsUrl;
        this.healthUrl = endpoint.healthUrl;
        this.idleHealthUrl = endpoint.idleHealthUrl;
        this.registerOutputs({ liveUrl: this.liveUrl, idleUrl: this.idleUrl, docsUrl: this.docsUrl, healthUrl: this.healthUrl, idleHealthUrl: this.idleHealthUrl });
    }
}
