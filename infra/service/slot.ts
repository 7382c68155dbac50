// One release slot (blue or green): the app image built from one release, an api and a worker.
// Nothing here depends on which slot is live, so a swap never touches a slot's resources. Work is
// slot-scoped like traffic (slotEnv.ts): the slot's worker takes only jobs its own api accepted.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { SlotConfig } from "../config/sections/release";
import type { AppConfig } from "../config/sections/service";
import { Color } from "../vocabulary";
import { CONTAINERS, SLOT_TYPE, slotApiAlias } from "../contract/names";
import { GpuHost } from "../hosts/gpuHost";
import { BuildSource, releaseLabel } from "./release";
import { healthcheck, service } from "./containerDefaults";
import { hostImage } from "./hostImage";
import type { BaseImagePuller } from "./baseImages";
import { slotEnvironment } from "./slotEnv";
import { REDIS_CA_FILE } from "./fleet";

export interface SlotArgs {
    /** Which slot this is. */
    readonly color: Color;
    /** The slot's pinned release. */
    readonly release: SlotConfig;
    /** Build context and content-derived tag of that release. */
    readonly source: BuildSource;
    /** The app to build and run. */
    readonly app: AppConfig;
    /** The host to build and run on (its engine, platform, and what follows its machine). */
    readonly host: GpuHost;
    /** Private network shared with redis, ollama and the proxy. */
    readonly network: docker.Network;
    /** Secret REDIS_URL, password included. */
    readonly redisUrl: pulumi.Output<string>;
    /** Ollama base URL on the private network. */
    readonly ollamaUrl: string;
    /** Model the worker asks for. */
    readonly model: string;
    /** Jobs per worker. */
    readonly workerConcurrency: number;
    /** The api's abuse limits. */
    readonly limits: { readonly requestsPerMinute: number; readonly queueMaxDepth: number };
    /** Memory limits, MiB. */
    readonly memoryMb: { readonly api: number; readonly worker: number };
    /** Resources the api must wait for (Redis). Defaults to none. */
    readonly apiDependsOn?: pulumi.Resource[];
    /** Resources the worker must wait for (the model pull, Redis). Defaults to none. */
    readonly workerDependsOn?: pulumi.Resource[];
    /** Pulls the build's Docker Hub base images first, with the host's Docker Hub login. Defaults to none: the build pulls them. */
    readonly pullBase?: BaseImagePuller;
    /** Which of the slot's containers run here (a fleet's hub without a GPU runs no worker; a worker host no api). Defaults to both. */
    readonly parts?: { readonly api: boolean; readonly worker: boolean };
    /** The worker's REDIS_URL when it is not the api's (a fleet: another ACL user). Defaults to `redisUrl`. */
    readonly workerRedisUrl?: pulumi.Output<string>;
    /** PEM of the CA that verifies a rediss:// Redis (a fleet's queue); uploaded into the containers. Defaults to none. */
    readonly redisCaPem?: pulumi.Input<string>;
    /** The host's name, stamped on the jobs the worker processes (APP_HOST; a fleet). Defaults to none. */
    readonly hostName?: string;
}

export class Slot extends pulumi.ComponentResource {
    /** The slot's image, tagged by the release's content. */
    public readonly image: docker.Image;
    /** The api container; undefined where the slot runs no api (a fleet's worker host). */
    public readonly api?: docker.Container;
    /** The worker container; undefined where the slot runs no worker (a fleet's hub without a GPU). */
    public readonly worker?: docker.Container;
    /** The built image's id (what the containers run). */
    public readonly imageId: pulumi.Output<string>;
    /** Removes the slot's previous images once the new ones run. */
    public readonly prune: pulumi.CustomResource;
    /** host:port of the api on the private network. */
    public readonly upstream: string;
    /** Image reference the slot runs. */
    public readonly imageName: string;

    constructor(name: string, args: SlotArgs, opts?: pulumi.ComponentResourceOptions) {
        super(SLOT_TYPE, name, {}, opts);
        const { color, app, host } = args;
        const child = { parent: this, provider: host.provider, ...host.onHost };
        const alias = slotApiAlias(color);
        this.upstream = `${alias}:${app.port}`;
        // One repository per slot: replacing one slot's image never untags an image the other runs.
        const built = hostImage(this, host, {
            repository: name, tag: args.source.tag, context: args.source.context, dockerfile: `${args.source.context}/${app.dockerfile}`,
            pullBase: args.pullBase,
        });
        this.image = built.image;
        this.imageName = built.imageName;
        this.imageId = built.imageId;

        const parts = args.parts ?? { api: true, worker: true };
        // REDIS_URL carries the password, so the whole env list stays secret.
        const envsFor = (url: pulumi.Output<string>) => pulumi.secret(url).apply((redisUrl) => slotEnvironment({
            color,
            release: releaseLabel(args.release),
            redisUrl,
            port: app.port,
            ollamaUrl: args.ollamaUrl,
            model: args.model,
            workerConcurrency: args.workerConcurrency,
            limits: args.limits,
            redisCaFile: args.redisCaPem ? REDIS_CA_FILE : undefined,
            hostName: args.hostName,
        }));
        const common = {
            image: this.imageId,
            // Docker's init (tini) is PID 1 and forwards SIGTERM; the image has no init of its own, so
            // an operator's app gets one too.
            init: true,
            // The CA is public; the file is what REDIS_CA_FILE names.
            ...(args.redisCaPem ? { uploads: [{ file: REDIS_CA_FILE, content: args.redisCaPem }] } : {}),
        };

        this.api = !parts.api ? undefined : new docker.Container(CONTAINERS.api(name), {
            ...common,
            envs: envsFor(args.redisUrl),
            name: CONTAINERS.api(name),
            command: [...app.apiCommand],
            ...service({ memoryMb: args.memoryMb.api, waitTimeoutSeconds: 180 }),
            healthcheck: healthcheck(app.apiHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [alias] }],
        }, { ...child, deleteBeforeReplace: true, dependsOn: args.apiDependsOn });

        this.worker = !parts.worker ? undefined : new docker.Container(CONTAINERS.worker(name), {
            ...common,
            envs: envsFor(args.workerRedisUrl ?? args.redisUrl),
            name: CONTAINERS.worker(name),
            command: [...app.workerCommand],
            ...service({ memoryMb: args.memoryMb.worker, waitTimeoutSeconds: 180 }),
            healthcheck: healthcheck(app.workerHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [`worker-${color}`] }],
            // SIGTERM lets the worker finish in-flight jobs (the app's job limit is 300 s); a job cut
            // off anyway goes back to this slot's queue once its lock expires.
            stopTimeout: 310,
            destroyGraceSeconds: 330,
        }, { ...child, deleteBeforeReplace: true, dependsOn: args.workerDependsOn });

        this.prune = built.prune([this.api, this.worker].filter((c): c is docker.Container => c !== undefined));

        this.registerOutputs({ imageName: this.imageName, upstream: this.upstream });
    }
}
