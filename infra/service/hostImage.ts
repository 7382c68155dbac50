// An image built on a host from a directory of this repository, as the containers on that host
// use it: built for the host's platform, named by id, and its repository's older tags removed once
// the containers that run the new one are up. Slots (the app) and the proxy's key service share it.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { shellQuote } from "../shell/quote";
import { renderShell } from "../shell/render";
import { GpuHost } from "../hosts/gpuHost";
import type { BaseImagePuller } from "./baseImages";

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
 * Bash (infra/shell/prune-images.sh) that removes every tag of `repository` but `keep`: docker.Image never deletes what it built
 * (pulumi-docker), so without it each release leaves an image behind on the host. One repository
 * per slot, so this never touches an image the other slot runs. An image still used by a container
 * is left alone, with a note.
 */
export function pruneImagesScript(repository: string, keep: string): string {
    if (!REPO.test(repository)) throw new Error(`image repository must match ${REPO}, got ${JSON.stringify(repository)}`);
    if (!keep.startsWith(`${repository}:`)) throw new Error(`image to keep must be a tag of ${repository}, got ${JSON.stringify(keep)}`);
    return renderShell({ file: "prune-images.sh", inPlace: { KEEP_REF: keep, REPOSITORY: repository } });
}

export interface HostImageArgs {
    /** Repository on the host; one per image user, so pruning never touches another's image. */
    readonly repository: string;
    /** Content-derived tag. */
    readonly tag: string;
    /** Build context, relative to the project root. */
    readonly context: string;
    /** Dockerfile path, relative to the project root. */
    readonly dockerfile: string;
    /** Pulls the build's Docker Hub base images first (a Docker Hub login: baseImages.ts). Defaults to none: the build pulls them. */
    readonly pullBase?: BaseImagePuller;
}

/** What hostImage makes: the build, its reference and id, and the clean-up to run after its containers. */
export interface HostImage {
    readonly image: docker.Image;
    /** repository:tag. */
    readonly imageName: string;
    /** The built image's id, what containers must name. */
    readonly imageId: pulumi.Output<string>;
    /** Removes the repository's other tags once `users` (the containers running this image) exist. */
    prune(users: pulumi.Resource[]): pulumi.CustomResource;
}

/**
 * Builds `a` on `host` as `<repository>-image`, reads its id with `<repository>-image-id`, and
 * offers `<repository>-image-prune`; all children of `parent`.
 */
export function hostImage(parent: pulumi.Resource, host: GpuHost, a: HostImageArgs): HostImage {
    const imageName = `${a.repository}:${a.tag}`;
    const image = new docker.Image(`${a.repository}-image`, {
        imageName,
        // The host's platform, never the default (the operator's own CPU: pulumi-docker's Check).
        build: { context: a.context, dockerfile: a.dockerfile, platform: host.platform },
        skipPush: true,
    }, { parent, provider: host.provider, ...host.onHost, ...(a.pullBase ? { dependsOn: a.pullBase(a.dockerfile) } : {}) });
    const imageId = host.run(`${a.repository}-image-id`, {
        create: imageIdScript(imageName),
        triggers: [imageName],
    }, { parent, dependsOn: [image] }).stdout.apply(parseImageId);
    return {
        image,
        imageName,
        imageId,
        prune: (users) => host.run(`${a.repository}-image-prune`, {
            create: pruneImagesScript(a.repository, imageName),
            triggers: [imageName],
        }, { parent, dependsOn: users }),
    };
}
