// The operator's own Docker engine: no cloud, no SSH.
import { execFileSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { PLATFORM_FORMAT } from "../shell/host";
import { renderShell } from "../shell/render";
import { LOCAL_HOST_TYPE } from "../contract/names";
import { GpuHost, HostResourceOptions, HostRunner } from "./gpuHost";
import { RegistryLogin, providerRegistryAuth } from "./registry";

export interface LocalHostArgs {
    /** Docker engine URL, already resolved (see dockerCliEndpoint). */
    readonly dockerHost: string;
    /** Whether the engine can hand containers a GPU (NVIDIA container toolkit installed). Defaults to false. */
    readonly gpu?: boolean;
    /** Host IP the published ports bind to. Defaults to "127.0.0.1". */
    readonly bindAddress?: string;
    /**
     * The Docker Hub login the provider's image pulls use. Defaults to none (anonymous, or whatever the
     * engine's own settings say). The operator's engine keeps its daemon.json: a mirror is theirs to set.
     */
    readonly registryLogin?: RegistryLogin;
}

/** Runs the docker CLI and returns its stdout; injectable so the resolution can be tested without one. */
export type DockerCli = (args: readonly string[], env: NodeJS.ProcessEnv) => string;

const realDockerCli: DockerCli = (args, env) =>
    execFileSync("docker", [...args], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 15_000 });

/**
 * The engine the operator's `docker` CLI talks to: DOCKER_HOST, else the current context's endpoint
 * (`docker context use`, or DOCKER_CONTEXT). That is what Docker Desktop, colima and rootless Docker
 * set up; a fixed unix:///var/run/docker.sock would miss all three.
 */
export function dockerCliEndpoint(env: NodeJS.ProcessEnv = process.env, cli: DockerCli = realDockerCli): string {
    if (env.DOCKER_HOST) return env.DOCKER_HOST;
    let out: string;
    try {
        out = cli(["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], env).trim();
    } catch (e) {
        const why = (e as { code?: string }).code === "ENOENT" ? "the docker CLI is not installed"
            : ((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split("\n")[0];
        throw new Error(`cannot find the local Docker engine: \`docker context inspect\` failed (${why}); ` +
            "install the docker CLI, or set gpu-hosts:local.dockerHost (e.g. \"unix:///var/run/docker.sock\")");
    }
    if (!out) throw new Error("cannot find the local Docker engine: the current docker context has no endpoint; set gpu-hosts:local.dockerHost");
    return out;
}

/** Bash run beside the engine (infra/shell/local-ready.sh): prints its platform, or fails naming the endpoint that did not answer. */
export function localReadyScript(): string {
    return renderShell({ file: "local-ready.sh", inPlace: { PLATFORM_FORMAT } });
}

export class LocalHost extends pulumi.ComponentResource implements GpuHost {
    /** Logical name. */
    public readonly name: string;
    /** Always "local". */
    public readonly kind = "local" as const;
    /** Whether containers get the GPU. */
    public readonly gpu: boolean;
    /** "none" unless the engine has a GPU. */
    public readonly gpuModel: string;
    /** Where clients reach the published ports. */
    public readonly address: pulumi.Output<string>;
    /** Host IP the published ports bind to. */
    public readonly bindAddress: string;
    /** Runs a command beside the engine, with DOCKER_HOST pointing at it. */
    public readonly run: HostRunner;
    /** The local engine. */
    public readonly provider: docker.Provider;
    /** Proves the engine answers before anything is created on it; its stdout is the engine's platform. */
    public readonly ready: command.local.Command;
    /** The operator's engine is no machine of the stack's: nothing to follow. */
    public readonly onHost: HostResourceOptions = {};
    /** The engine's own platform (an Apple-silicon Mac builds arm64, a PC amd64). */
    public readonly platform: pulumi.Output<string>;
    /** The engine URL in use. */
    public readonly dockerHost: string;
    /** The local engine adds nothing to the outputs every host has. */
    public readonly details = { kind: "local" } as const;

    constructor(name: string, args: LocalHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(LOCAL_HOST_TYPE, name, {}, opts);
        this.name = name;
        this.dockerHost = args.dockerHost;
        this.gpu = args.gpu ?? false;
        this.gpuModel = this.gpu ? "local GPU" : "none";
        this.bindAddress = args.bindAddress ?? "127.0.0.1";
        this.address = pulumi.output(this.bindAddress === "0.0.0.0" ? "127.0.0.1" : this.bindAddress);
        // DOCKER_HOST wins over any DOCKER_CONTEXT in the docker CLI, so commands reach the same engine.
        const environment = { DOCKER_HOST: args.dockerHost };

        this.run = (cmdName, cmd, cmdOpts) => new command.local.Command(cmdName, {
            create: cmd.create,
            delete: cmd.delete,
            stdin: cmd.stdin,
            triggers: cmd.triggers,
            environment,
            interpreter: ["/bin/bash", "-c"],
            addPreviousOutputInEnv: false,
        }, { parent: this, ...cmdOpts });

        this.ready = this.run(`${name}-ready`, { create: localReadyScript(), triggers: [args.dockerHost] }) as command.local.Command;
        this.platform = this.ready.stdout.apply((s) => {
            const platform = s.trim();
            if (!/^[a-z0-9]+\/[a-z0-9_]+$/.test(platform)) throw new Error(`the Docker engine at ${args.dockerHost} reported an unexpected platform ${JSON.stringify(platform)}`);
            return platform;
        });
        this.provider = new docker.Provider(`${name}-docker`, {
            host: args.dockerHost,
            ...(args.registryLogin ? { registryAuth: providerRegistryAuth(args.registryLogin) } : {}),
        }, { parent: this, dependsOn: [this.ready] });
        this.registerOutputs({ address: this.address, gpu: this.gpu, platform: this.platform });
    }
}
