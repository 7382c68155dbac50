// Docker Hub as a host's engine is asked for images: the Docker provider's login (registryAuth, which
// its RemoteImage pulls send the engine), and the docker client config the readiness gate pulls its
// own image with. The password stays a secret Output from the config to the provider's inputs and
// the gate's stdin: never in argv, a plain state value or a log.
import * as pulumi from "@pulumi/pulumi";
import type * as docker from "@pulumi/docker";

/** A Docker Hub login (gpu-hosts:registry.username and gpu-hosts:registryPassword). */
export interface RegistryLogin {
    readonly username: string;
    /** The password or access token; made a secret here whatever the caller passes. */
    readonly password: pulumi.Input<string>;
}

/**
 * The registry addresses the Docker provider may file a Docker Hub pull under. Its RemoteImage pull
 * looks the login up by the registry host it parses out of the image name: "registry-1.docker.io" for
 * a name without one ("redis:7.4.2-alpine"), the host itself for "docker.io/library/redis:..."
 * (kreuzwerker/terraform-provider-docker v4.5.0 internal/provider/resource_docker_image_funcs.go,
 * parseImageOptions and pullImage's `authConfig.Configs[pullOpts.Registry]`), and it files each
 * registry_auth block under its address's host (provider.go providerSetToRegistryAuth). These are the
 * host names the provider itself takes for Docker Hub (provider.go dockerHubRegistryHostnames).
 */
export const DOCKER_HUB_HOSTS = ["registry-1.docker.io", "index.docker.io", "docker.io", "registry.hub.docker.com"] as const;

/** The Docker provider's `registryAuth` for `login`: one block per Docker Hub host, the password a secret. */
export function providerRegistryAuth(login: RegistryLogin): docker.types.input.ProviderRegistryAuth[] {
    const password = pulumi.secret(login.password);
    return DOCKER_HUB_HOSTS.map((address) => ({ address, username: login.username, password }));
}

/**
 * Where the docker CLI keeps a Docker Hub login in its config.json: the v1 index URL, whatever the
 * image's name says (docker/cli registry.IndexServer; ResolveAuthConfig maps docker.io names to it).
 */
export const DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/";

/** A docker client config.json holding `login` for Docker Hub, as a secret: the readiness gate's stdin. */
export function dockerClientConfig(login: RegistryLogin): pulumi.Output<string> {
    return pulumi.secret(pulumi.output(login.password).apply((password) => `${JSON.stringify({
        auths: { [DOCKER_HUB_CONFIG_KEY]: { auth: Buffer.from(`${login.username}:${password}`).toString("base64") } },
    })}\n`));
}
