// One release slot (blue or green): the app image built from one release, an api and a worker.
// Nothing here depends on which slot is live, so a swap never touches a slot's resources.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { AppConfig, Color } from "../config";
import { BuildSource } from "./release";
import { logOpts, healthcheck } from "./containerDefaults";

export interface SlotArgs {
    /** Which slot this is. */
    readonly color: Color;
    /** The release string, as configured. */
    readonly release: string;
    /** Build context and content-derived tag of that release. */
    readonly source: BuildSource;
    /** The app to build and run. */
    readonly app: AppConfig;
    /** Engine to build and run on. */
    readonly provider: docker.Provider;
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
    /** Memory limits, MiB. */
    readonly memoryMb: { readonly api: number; readonly worker: number };
    /** Resources the worker must wait for (the model pull). Defaults to none. */
    readonly workerDependsOn?: pulumi.Resource[];
}

export class Slot extends pulumi.ComponentResource {
    /** The slot's image, tagged by the release's content. */
    public readonly image: docker.Image;
    /** The api container. */
    public readonly api: docker.Container;
    /** The worker container. */
    public readonly worker: docker.Container;
    /** host:port of the api on the private network. */
    public readonly upstream: string;
    /** Image reference the slot runs. */
    public readonly imageName: string;

    constructor(name: string, args: SlotArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:app:Slot", name, {}, opts);
        const { color, app } = args;
        const provider = args.provider;
        const alias = `api-${color}`;
        this.upstream = `${alias}:${app.port}`;
        // One repository per slot: replacing one slot's image never untags an image the other runs.
        this.imageName = `${name}:${args.source.tag}`;

        this.image = new docker.Image(`${name}-image`, {
            imageName: this.imageName,
            // No platform pin: each engine builds for itself (amd64 cloud VMs, or an ARM laptop).
            build: { context: args.source.context, dockerfile: `${args.source.context}/${app.dockerfile}` },
            skipPush: true,
        }, { parent: this, provider });

        // REDIS_URL carries the password, so the whole env list stays secret.
        const envs = pulumi.secret(args.redisUrl).apply((redisUrl) => [
            `REDIS_URL=${redisUrl}`,
            `PORT=${app.port}`,
            `OLLAMA_BASE_URL=${args.ollamaUrl}`,
            `OLLAMA_MODEL=${args.model}`,
            `WORKER_CONCURRENCY=${args.workerConcurrency}`,
            `APP_SLOT=${color}`,
            `APP_RELEASE=${args.release}`,
        ]);
        const common = {
            image: this.image.imageName,
            envs,
            restart: "unless-stopped",
            init: true,
            logDriver: "json-file",
            logOpts,
            wait: true,
            waitTimeout: 180,
        };

        this.api = new docker.Container(`${name}-api`, {
            ...common,
            name: `${name}-api`,
            command: [...app.apiCommand],
            memory: args.memoryMb.api,
            healthcheck: healthcheck(app.apiHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [alias] }],
        }, { parent: this, provider, deleteBeforeReplace: true });

        this.worker = new docker.Container(`${name}-worker`, {
            ...common,
            name: `${name}-worker`,
            command: [...app.workerCommand],
            memory: args.memoryMb.worker,
            healthcheck: healthcheck(app.workerHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [`worker-${color}`] }],
            // SIGTERM lets the worker finish in-flight jobs (the app's job limit is 300 s); a job cut
            // off anyway is picked up again by the other slot's worker once its lock expires.
            stopTimeout: 310,
            destroyGraceSeconds: 330,
        }, { parent: this, provider, deleteBeforeReplace: true, dependsOn: args.workerDependsOn });

        this.registerOutputs({ imageName: this.imageName, upstream: this.upstream });
    }
}
