// The stack's hosts, from `clouds`; every kind yields the same GpuHost shape.
import * as pulumi from "@pulumi/pulumi";
import { AwsPlacement, AzurePlacement, GcpPlacement, HostKind, StackConfig } from "./config";
import { AwsGpuHost } from "./clouds/aws/host";
import { AzureGpuHost } from "./clouds/azure/host";
import { StackSshKey, cloudHostArgs } from "./clouds/common";
import { GcpGpuHost } from "./clouds/gcp/host";
import { GpuHost } from "./hosts/gpuHost";
import { placementOf } from "./clouds/placement";
import { LocalHost, dockerCliEndpoint } from "./hosts/local";
import { SshServerHost } from "./hosts/server";
import { createStackKey } from "./hosts/ssh";

/** The hosts one entry of `clouds` stands for: one VM per cloud, the local engine, or every server of "ssh". */
function hostsOf(kind: HostKind, cfg: StackConfig, key: () => StackSshKey): GpuHost[] {
    switch (kind) {
        case "local":
            return [new LocalHost("local", { ...cfg.local, dockerHost: cfg.local.dockerHost || dockerCliEndpoint() })];
        // A cloud host runs where its placement says (placement.ts): the recorded one, else the first candidate.
        case "aws": {
            const { region, zone, instanceType, spot } = placementOf(cfg, "aws") as AwsPlacement;
            return [new AwsGpuHost("aws", { ...cloudHostArgs(cfg, key()), spot, aws: { region, zone, instanceType } })];
        }
        case "gcp": {
            const { zone, machineType, gpuType, spot } = placementOf(cfg, "gcp") as GcpPlacement;
            return [new GcpGpuHost("gcp", { ...cloudHostArgs(cfg, key()), spot, gcp: { project: cfg.gcp.project, zone, machineType, gpuType } })];
        }
        case "azure": {
            const { location, vmSize, spot } = placementOf(cfg, "azure") as AzurePlacement;
            return [new AzureGpuHost("azure", { ...cloudHostArgs(cfg, key()), spot, azure: { location, vmSize } })];
        }
        case "ssh": {
            // The operator's own key, else the stack's, whose public half is an output to authorise.
            const own = cfg.sshPrivateKey !== "";
            return cfg.ssh.hosts.map((server) => new SshServerHost(server.name, {
                server,
                privateKey: own ? pulumi.secret(cfg.sshPrivateKey) : key().privateKey,
                publicKey: own ? "" : key().publicKey,
                nvidiaDriverBranch: cfg.nvidiaDriverBranch,
                gpuCheckImage: cfg.images.gpuCheck,
            }));
        }
        default: {
            const unreachable: never = kind;
            throw new Error(`unknown host kind ${unreachable}`);
        }
    }
}

/**
 * Why the environment must not run this stack, or undefined. The Docker provider takes the
 * endpoint of an exported DOCKER_CONTEXT over its own `host` setting (kreuzwerker
 * terraform-provider-docker, provider.go), which would put a cloud host's containers on whatever
 * engine that context names, the operator's laptop say. Pure: the caller passes the environment.
 */
export function environmentProblem(clouds: readonly HostKind[], env: NodeJS.ProcessEnv): string | undefined {
    const cloudHosts = clouds.filter((c) => c !== "local");
    if (cloudHosts.length > 0 && env.DOCKER_CONTEXT) {
        return `DOCKER_CONTEXT is set (to ${JSON.stringify(env.DOCKER_CONTEXT)}) and would redirect the Docker provider of ` +
            `${cloudHosts.join(", ")} from its host to that context's engine; unset it (\`unset DOCKER_CONTEXT\`) and run again`;
    }
    return undefined;
}

/**
 * The stack's hosts, in `clouds` order, less any cloud `npm run deploy` skipped (gpu-hosts:placements,
 * only with fallback.otherClouds). One generated SSH key serves every remote host that needs it.
 */
export function createHosts(cfg: StackConfig, env: NodeJS.ProcessEnv = process.env): GpuHost[] {
    const problem = environmentProblem(cfg.clouds, env);
    if (problem) throw new Error(problem);
    let key: StackSshKey | undefined;
    const stackKey = (): StackSshKey => {
        if (!key) {
            const k = createStackKey("ssh-key");
            key = { publicKey: k.publicKeyOpenssh, privateKey: pulumi.secret(k.privateKeyOpenssh) };
        }
        return key;
    };
    const skipped = cfg.placements.skipped as readonly HostKind[];
    return cfg.clouds.filter((kind) => !skipped.includes(kind)).flatMap((kind) => hostsOf(kind, cfg, stackKey));
}
