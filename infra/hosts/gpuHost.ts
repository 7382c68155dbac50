// The one shape every host kind produces; an AppStack runs on any of them.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { HostKind } from "../vocabulary";
import type { HostDetailsInput } from "../contract/details";

/** A shell command run on the host: over SSH for a cloud VM, locally for the local engine. */
export interface HostCommandArgs {
    /** Script run on create (and again whenever a trigger changes). */
    readonly create: pulumi.Input<string>;
    /** Script run on delete. Defaults to nothing. */
    readonly delete?: pulumi.Input<string>;
    /** Fed to the script's standard input; the way to hand it secrets or generated files. Defaults to nothing. */
    readonly stdin?: pulumi.Input<string>;
    /** Values whose change re-runs the command. Defaults to none. */
    readonly triggers?: pulumi.Input<unknown>[];
}

/**
 * Options every resource that lives on a host takes (Docker objects, commands run there). A host
 * is cattle: when its machine is replaced, or recreated after a spot interruption, everything on
 * it is re-created on the new one, and a destroy removes it with the machine instead of dialling
 * an engine that may be gone.
 */
export interface HostResourceOptions {
    /** The machine's id: a new id replaces the resource (engine: any change of the value replaces). Defaults to none (the local engine). */
    readonly replacementTrigger?: pulumi.Input<string>;
    /** The machine: when it is deleted, the resource's own delete is skipped. Defaults to none. */
    readonly deletedWith?: pulumi.Resource;
}

/** Runs a command on the host; the returned resource exposes stdout. */
export type HostRunner = (
    name: string,
    args: HostCommandArgs,
    opts?: pulumi.CustomResourceOptions,
) => pulumi.CustomResource & { readonly stdout: pulumi.Output<string> };

export interface GpuHost {
    /** Logical name, used to derive child names. */
    readonly name: string;
    /** Which kind of host this is. */
    readonly kind: HostKind;
    /** Whether containers may ask for `gpus: "all"`. */
    readonly gpu: boolean;
    /** GPU model, as the cloud sells it ("none" for a host without one). */
    readonly gpuModel: pulumi.Input<string>;
    /** Address clients use to reach the published ports. */
    readonly address: pulumi.Output<string>;
    /** Host IP the proxy binds its published ports to. */
    readonly bindAddress: string;
    /** SSH user, for cloud hosts. */
    readonly sshUser?: string;
    /** How to run a command on the host. */
    readonly run: HostRunner;
    /** The Docker engine on the host; it depends on `ready`. */
    readonly provider: docker.Provider;
    /** Options for every resource that lives on the host; `run` applies them itself. */
    readonly onHost: HostResourceOptions;
    /**
     * The engine's platform, e.g. "linux/amd64", that images are built for. pulumi-docker's Image
     * Check would otherwise default it to the provider plugin's own GOOS/GOARCH, i.e. the operator's
     * machine, and an Apple-silicon laptop would build arm64 images for amd64 GPU VMs.
     */
    readonly platform: pulumi.Input<string>;
    /** Completes once the host can run (GPU) containers. */
    readonly ready: pulumi.Resource;
    /**
     * A host directory on a disk that outlives the machine (a cloud fleet hub's data disk), for state
     * that must survive a replaced VM; undefined: Docker volumes.
     */
    readonly dataDir?: string;
    /**
     * Completes once `dataDir` is mounted; whatever keeps its data there depends on it (the host's
     * Docker provider already does). Undefined with `dataDir`.
     */
    readonly dataReady?: pulumi.Resource;
    /**
     * The host's kind again, with what that kind adds to its stack outputs (region, instance type,
     * spot, ssh command...): one value whose type says, per kind, which fields it must have
     * (infra/contract/details.ts). Its `kind` is the host's.
     */
    readonly details: HostDetailsInput;
}
