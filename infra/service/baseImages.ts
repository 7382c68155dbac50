// The Docker Hub images a build starts FROM, pulled ahead of the build through the host's Docker
// provider when the stack logs in to Docker Hub (gpu-hosts:registry.username).
//
// Why ahead: pulumi-docker's Image build sends the engine the registry logins of the docker CLI
// config on the machine that runs Pulumi, never the provider's registryAuth (pulumi/pulumi-docker
// provider/image.go dockerBuild: getDefaultDockerConfig + GetAllCredentials into
// ImageBuildOptions.AuthConfigs, and the BuildKit session's auth provider over the same file). So a
// build's base image would be pulled anonymously on a new host. A RemoteImage pull does log in, and
// the build then finds its base on the host: dockerd's builder takes a FROM image it has locally
// without asking the registry (moby builder-next/adapters/containerimage/pull.go ResolveImageConfig,
// "default == prefer local"), which is also why a retry or a recover on the same machine pulls nothing.
import * as crypto from "crypto";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { GpuHost } from "../hosts/gpuHost";
import { DOCKER_HUB_HOSTS } from "../hosts/registry";

/** `${NAME}`, `${NAME:-default}` or `$NAME`, as a Dockerfile's FROM line may use a global ARG. */
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

const unquote = (v: string): string => v.replace(/^(["'])(.*)\1$/, "$2");

/**
 * The images `dockerfile` (its text) builds FROM, in order and each once: global ARG defaults
 * substituted (the build passes no build args), earlier stages and `scratch` left out, and a FROM
 * whose image needs an ARG without a default left out too (the build would say what it lacks).
 */
export function dockerfileBaseImages(dockerfile: string): string[] {
    const lines = dockerfile.replace(/\\\r?\n/g, " ").split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    const args = new Map<string, string>();
    const stages = new Set<string>();
    const images: string[] = [];
    let seenFrom = false;
    for (const line of lines) {
        const [instruction, ...words] = line.split(/\s+/);
        const op = instruction.toUpperCase();
        // Only an ARG before the first FROM is in scope for FROM lines.
        if (op === "ARG" && !seenFrom) {
            for (const w of words) {
                const eq = w.indexOf("=");
                if (eq > 0) args.set(w.slice(0, eq), unquote(w.slice(eq + 1)));
            }
        }
        if (op !== "FROM") continue;
        seenFrom = true;
        const [image, as, stage] = words.filter((w) => !w.startsWith("--"));
        let unresolved = false;
        const ref = (image ?? "").replace(VARIABLE, (_m, braced?: string, fallback?: string, bare?: string) => {
            const v = args.get(braced ?? bare ?? "") ?? fallback;
            if (v === undefined) unresolved = true;
            return v ?? "";
        });
        if (ref !== "" && !unresolved && ref.toLowerCase() !== "scratch" && !stages.has(ref.toLowerCase()) && !images.includes(ref)) images.push(ref);
        if (as?.toUpperCase() === "AS" && stage) stages.add(stage.toLowerCase());
    }
    return images;
}

/** Whether `ref` is on Docker Hub: no registry host in front ("node:20"), or one of Docker Hub's names. */
export function isDockerHubImage(ref: string): boolean {
    const slash = ref.indexOf("/");
    const first = slash < 0 ? "" : ref.slice(0, slash);
    const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
    return !hasHost || (DOCKER_HUB_HOSTS as readonly string[]).includes(first);
}

/** Pulls the Docker Hub bases of a Dockerfile (a path from the project root), once per image per host; returns what a build must wait for. */
export type BaseImagePuller = (dockerfile: string) => pulumi.Resource[];

/**
 * A puller for `host`: `<name>-base-<image>` RemoteImages, children of `parent`, kept on the host like
 * the pinned images (a build still needs them, and another stack's may too).
 */
export function baseImagePuller(parent: pulumi.Resource, name: string, host: GpuHost): BaseImagePuller {
    const pulled = new Map<string, docker.RemoteImage>();
    const names = new Set<string>();
    const pull = (ref: string): docker.RemoteImage => {
        const known = pulled.get(ref);
        if (known) return known;
        let resourceName = `${name}-base-${ref.replace(/[^A-Za-z0-9.-]+/g, "-")}`;
        if (names.has(resourceName)) resourceName += `-${crypto.createHash("sha256").update(ref).digest("hex").slice(0, 8)}`;
        names.add(resourceName);
        const image = new docker.RemoteImage(resourceName, { name: ref, keepLocally: true }, { parent, provider: host.provider, ...host.onHost });
        pulled.set(ref, image);
        return image;
    };
    return (dockerfile) => dockerfileBaseImages(fs.readFileSync(dockerfile, "utf8")).filter(isDockerHubImage).map(pull);
}
