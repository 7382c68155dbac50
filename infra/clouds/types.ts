// What the rest of the program and the operator scripts know of a cloud: one driver per cloud
// (infra/clouds/<cloud>/index.ts), listed in the registry (infra/clouds/index.ts). A driver says
// everything particular to its cloud, so a new cloud is a new folder and one registry line:
// its config section and placements, its catalog of GPU shapes and prices, how its host is made,
// which of its errors mean "no capacity here", and how recovery tells its VM is gone.
import type * as pulumi from "@pulumi/pulumi";
import type { ConfigKey, PlacementReading } from "../config/schema";
import type { Reader } from "../config/reader";
import type { CloudDetails } from "../contract/details";
import type { GpuHost } from "../hosts/gpuHost";
import type { CloudHostArgs } from "./common";

/** A GPU model a size carries; all are full CUDA GPUs usable by the stock datacenter driver. */
export type GpuModel = "NVIDIA T4" | "NVIDIA L4" | "NVIDIA A10G" | "NVIDIA A100";

/** A machine's price per hour and where it comes from. */
export interface PriceQuote {
    readonly usdPerHour: number;
    /** True for a spot machine: the price is the indicative one. */
    readonly indicative: boolean;
    readonly source: string;
    readonly asOf: string;
}

/** A VM failure that means the cloud has no room for it (see each cloud's capacity.ts). */
export interface CapacityFailure {
    /** The cloud's error code, e.g. "InsufficientInstanceCapacity", "ZONE_RESOURCE_POOL_EXHAUSTED". */
    readonly code: string;
    /** "capacity": the cloud has none of the machine there now; "quota": the account may not have more. */
    readonly reason: "capacity" | "quota";
    /**
     * Where the same failure would repeat: "placement" (another zone, region or size may work) or
     * "cloud" (a global quota such as GCP's GPUS_ALL_REGIONS: every candidate of the cloud fails too).
     */
    readonly scope: "placement" | "cloud";
    /** The quota's name, where the error gives one (GCP: "NVIDIA_T4_GPUS"). */
    readonly quota?: string;
}

/**
 * A failure that means a cloud API is not enabled in a project, or was enabled minutes ago and has
 * not propagated yet (the cloud answers both alike): `npm run deploy` retries it within a bound.
 */
export interface ApiNotReady {
    /** The API, e.g. "compute.googleapis.com". */
    readonly service: string;
    /** The project the cloud named: where the API must be enabled. */
    readonly project: string;
    /** The one command that enables it. */
    readonly fix: string;
}

/** A resource as an exported state holds it, as far as a driver reads one. */
export interface MachineState {
    readonly inputs?: Readonly<Record<string, unknown>>;
    readonly outputs?: Readonly<Record<string, unknown>>;
}

/** Where and on what one cloud host runs; every cloud's placement says its market. */
export interface Placement {
    readonly spot: boolean;
}

/** Everything particular to one cloud. `S` is its config section, `P` its placement. */
export interface CloudDriver<S = unknown, P extends Placement = Placement> {
    /** The cloud's name in gpu-hosts:clouds, host names and messages: "aws". */
    readonly name: string;
    /** gpu-hosts:<cloud>: the section's declaration and reader. */
    readonly section: ConfigKey<S>;
    /** How to read a placement entry (candidates, recorded placements). */
    readonly placements: PlacementReading<S, P>;
    /** Cross-field rules of the section when the cloud is enabled (e.g. gcp.project is required). */
    check(r: Reader, section: S): void;
    /** The placements the operator accepts, in order: the section's candidates, else its one placement. Never empty. */
    candidates(section: S, spot: boolean): readonly P[];
    /** The placement without extra fields (a recorded one's `tried`): what the config stores. */
    bare(p: P): P;
    /** "us-east-1b g4dn.xlarge spot", as tables and the recorded history show a placement. */
    describe(p: P): string;
    /** The catalog's price of a placement, or undefined where it has none. */
    price(p: P): PriceQuote | undefined;
    /** The GPU the catalog says a placement's machine has. */
    gpuOf(p: P): GpuModel | undefined;
    /** The placement a deployed host runs on, from its outputs and its VM in the state (npm run status's cost). */
    deployedPlacement(details: CloudDetails, vm: MachineState | undefined, section: S | undefined): P;
    /**
     * Makes the host: its network, firewall and VM, connected as a GpuHost. A driver loads its host module (and so its cloud SDK) here, on
     * first use, not when the registry is imported: the operator scripts and the stacks without that
     * cloud never create one, and requiring @pulumi/aws, @pulumi/gcp and @pulumi/azure-native (this
     * one ~1.5 s alone) took most of every script's and program's start on this machine
     * (docs/tests.md, "Start-up"; test/unit/layers.test.ts checks that importing the registry loads none).
     */
    createHost(name: string, args: CloudHostArgs, placement: P, section: S, opts?: pulumi.ComponentResourceOptions): GpuHost;
    /** The host component's type token (its VM is the child `<host>-vm`). */
    readonly hostType: string;
    /** The VM's resource type token. */
    readonly machineType: string;
    /** The capacity or quota failure a VM's error text reports, or undefined for any other failure. */
    classifyCapacity(message: string): CapacityFailure | undefined;
    /**
     * The API an error (of any resource, or of the program's own lookups) says is not enabled yet, or
     * undefined for any other failure. Only for clouds whose APIs are enabled per project (GCP).
     */
    apiNotReady?(message: string): ApiNotReady | undefined;
    /**
     * Whether a VM is gone after a refresh: dropped from the state (undefined: the cloud no longer has
     * it), or still listed in a state that means gone.
     */
    isGone(refreshed: MachineState | undefined): boolean;
}
