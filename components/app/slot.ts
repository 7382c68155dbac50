// One release slot (blue or green): the app image built from one release, an api and a worker.
// Nothing here depends on which slot is live, so a swap never touches a slot's resources. Work is
// slot-scoped like traffic (slotEnv.ts): the slot's worker takes only jobs its own api accepted.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { AppConfig, Color } from "../config";
import { GpuHost } from "../hosts/gpuHost";
import { shellQuote } from "../../cloud-init/render";
import { BuildSource } from "./release";
import { healthcheck, service } from "./containerDefaults";
import { slotEnvironment } from "./slotEnv";

export interface SlotArgs {
    /** Which slot this is. */
    readonly color: Color;
    /** The release string, as configured. */
    readonly release: string;
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
}

const REPO = /^[a-z0-9][a-z0-9._-]*$/;
const REF = /^[a-z0-9][a-z0-9._-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Shell that prints the id of a built image. Containers must name their image by id: the Docker
 * provider reads a container's image back as the id the engine reports, and `image` forces a
 * replacement, so a tag would plan a replacement of every container on every `up`
 * (kreuzwerker resource_docker_container_funcs.go: d.Set("image", container.Image)).
 */
export function imageIdScript(ref: string): string {
    if (!REF.test(ref)) throw new Error(`image reference must be repository:tag, got ${JSON.stringify(ref)}`);
    return `docker image inspect --format '{{.Id}}' ${shellQuote(ref)}\n`;
}

/** The sha256 id an image-id command printed. */
export function parseImageId(stdout: string): string {
    const id = stdout.trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(id)) throw new Error(`docker image inspect printed ${JSON.stringify(id)}, not an image id`);
    return id;
}

/**
 * Bash that removes every tag of `repository` but `keep`: docker.Image never deletes what it built
 * (pulumi-docker), so without it each release leaves an image behind on the host. One repository
 * per slot, so this never touches an image the other slot runs. An image still used by a container
 * is left alone, with a note.
 */
export function pruneImagesScript(repository: string, keep: string): string {
    if (!REPO.test(repository)) throw new Error(`image repository must match ${REPO}, got ${JSON.stringify(repository)}`);
    if (!keep.startsWith(`${repository}:`)) throw new Error(`image to keep must be a tag of ${repository}, got ${JSON.stringify(keep)}`);
    return [
        "set -euo pipefail",
        `keep=${shellQuote(keep)}`,
        `docker image ls --format '{{.Repository}}:{{.Tag}}' ${shellQuote(repository)} | while read -r ref; do`,
        '  [ "$ref" = "$keep" ] && continue',
        '  if docker image rm "$ref" >/dev/null; then echo "removed previous image $ref"; else echo "kept $ref: still in use" >&2; fi',
        "done",
        "",
    ].join("\n");
}

export class Slot extends pulumi.ComponentResource {
    /** The slot's image, tagged by the release's content. */
    public readonly image: docker.Image;
    /** The api container. */
    public readonly api: docker.Container;
    /** The worker container. */
    public readonly worker: docker.Container;
    /** The built image's id (what the containers run). */
    public readonly imageId: pulumi.Output<string>;
    /** Removes the slot's previous images once the new ones run. */
    public readonly prune: pulumi.CustomResource;
    /** host:port of the api on the private network. */
    public readonly upstream: string;
    /** Image reference the slot runs. */
    public readonly imageName: string;

    constructor(name: string, args: SlotArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:app:Slot", name, {}, opts);
        const { color, app, host } = args;
        const child = { parent: this, provider: host.provider, ...host.onHost };
        const alias = `api-${color}`;
        this.upstream = `${alias}:${app.port}`;
        // One repository per slot: replacing one slot's image never untags an image the other runs.
        this.imageName = `${name}:${args.source.tag}`;

        this.image = new docker.Image(`${name}-image`, {
            imageName: this.imageName,
            build: {
                context: args.source.context,
                dockerfile: `${args.source.context}/${app.dockerfile}`,
                // The host's platform, never the default (the operator's own CPU: pulumi-docker's Check).
                platform: host.platform,
            },
            skipPush: true,
        }, child);

        const inspect = host.run(`${name}-image-id`, {
            create: imageIdScript(this.imageName),
            triggers: [this.imageName],
        }, { parent: this, dependsOn: [this.image] });
        this.imageId = inspect.stdout.apply(parseImageId);

        // REDIS_URL carries the password, so the whole env list stays secret.
        const envs = pulumi.secret(args.redisUrl).apply((redisUrl) => slotEnvironment({
            color,
            release: args.release,
            redisUrl,
            port: app.port,
            ollamaUrl: args.ollamaUrl,
            model: args.model,
            workerConcurrency: args.workerConcurrency,
            limits: args.limits,
        }));
        const common = {
            image: this.imageId,
            envs,
            // Docker's init (tini) is PID 1 and forwards SIGTERM; the image has no init of its own, so
            // an operator's app gets one too.
            init: true,
        };

        this.api = new docker.Container(`${name}-api`, {
            ...common,
            name: `${name}-api`,
            command: [...app.apiCommand],
            ...service({ memoryMb: args.memoryMb.api, waitTimeoutSeconds: 180 }),
            healthcheck: healthcheck(app.apiHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [alias] }],
        }, { ...child, deleteBeforeReplace: true, dependsOn: args.apiDependsOn });

        this.worker = new docker.Container(`${name}-worker`, {
            ...common,
            name: `${name}-worker`,
            command: [...app.workerCommand],
            ...service({ memoryMb: args.memoryMb.worker, waitTimeoutSeconds: 180 }),
            healthcheck: healthcheck(app.workerHealthcheck),
            networksAdvanced: [{ name: args.network.name, aliases: [`worker-${color}`] }],
            // SIGTERM lets the worker finish in-flight jobs (the app's job limit is 300 s); a job cut
            // off anyway goes back to this slot's queue once its lock expires.
            stopTimeout: 310,
            destroyGraceSeconds: 330,
        }, { ...child, deleteBeforeReplace: true, dependsOn: args.workerDependsOn });

        this.prune = host.run(`${name}-image-prune`, {
            create: pruneImagesScript(name, this.imageName),
            triggers: [this.imageName],
        }, { parent: this, dependsOn: [this.api, this.worker] });

        this.registerOutputs({ imageName: this.imageName, upstream: this.upstream });
    }
}
