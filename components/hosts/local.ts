// The operator's own Docker engine: no cloud, no SSH.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { GpuHost, HostRunner } from "./gpuHost";

export interface LocalHostArgs {
    /** Docker engine URL. Defaults to "unix:///var/run/docker.sock". */
    readonly dockerHost?: string;
    /** Whether the engine can hand containers a GPU (NVIDIA container toolkit installed). Defaults to false. */
    readonly gpu?: boolean;
    /** Host IP the published ports bind to. Defaults to "127.0.0.1". */
    readonly bindAddress?: string;
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
    /** Proves the engine answers before anything is created on it. */
    public readonly ready: pulumi.Resource;

    constructor(name: string, args: LocalHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:hosts:LocalHost", name, {}, opts);
        const dockerHost = args.dockerHost ?? "unix:///var/run/docker.sock";
        this.name = name;
        this.gpu = args.gpu ?? false;
        this.gpuModel = this.gpu ? "local GPU" : "none";
        this.bindAddress = args.bindAddress ?? "127.0.0.1";
        this.address = pulumi.output(this.bindAddress === "0.0.0.0" ? "127.0.0.1" : this.bindAddress);
        const environment = { DOCKER_HOST: dockerHost };

        this.run = (cmdName, cmd, cmdOpts) => new command.local.Command(cmdName, {
            create: cmd.create,
            delete: cmd.delete,
            stdin: cmd.stdin,
            triggers: cmd.triggers,
            environment,
            interpreter: ["/bin/bash", "-c"],
        }, { parent: this, ...cmdOpts });

        this.ready = this.run(`${name}-ready`, {
            create: "docker version --format 'engine {{.Server.Version}}' || { echo 'no Docker engine answers at '\"$DOCKER_HOST\" >&2; exit 1; }",
        });
        this.provider = new docker.Provider(`${name}-docker`, { host: dockerHost }, { parent: this, dependsOn: [this.ready] });
        this.registerOutputs({ address: this.address, gpu: this.gpu });
    }
}
