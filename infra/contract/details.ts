// What each kind of host adds to its stack outputs, beside what every host has (outputs.ts): one type
// per kind, keyed by the kind, so a host that leaves out a field fails tsc where it builds its
// details (infra/hosts/local.ts, server.ts, remote.ts; infra/clouds/<cloud>/host.ts), and the
// scripts' parser reads each kind's fields (parseOutputs.ts parseStackOutputs). Every cloud adds the same
// facts, so a new cloud needs nothing here. Imports nothing at runtime, so every layer can use it
// (test/unit/layers.test.ts puts it beside infra/vocabulary.ts).
import type * as pulumi from "@pulumi/pulumi";
import type { CloudName, HostKind, LocalKind, SshKind } from "../vocabulary";

/** What every host reached over SSH adds (the remote skeleton, infra/hosts/remote.ts). */
export interface RemoteDetails {
    /** The `ssh ...` command line that logs in (names the key file, never its contents). */
    readonly ssh: string;
}

/** What one of the operator's own servers adds (infra/hosts/server.ts). */
export interface ServerDetails extends RemoteDetails {
    readonly port: number;
    readonly user: string;
    /** Its /etc/machine-id, read over SSH on every run: a new one is a reinstalled server. */
    readonly machineId: string;
    /** The line the server's authorized_keys needs when the stack generated the key; absent with the operator's own key. */
    readonly authorizedKey?: string;
}

/** What a cloud VM adds (infra/clouds/<cloud>/host.ts). */
export interface CloudDetails extends RemoteDetails {
    /** AWS region, GCP region, Azure location. */
    readonly region: string;
    /** Availability zone (AWS, GCP); "none" on Azure, whose VMs this program puts in no zone. */
    readonly zone: string;
    /** Instance type, machine type or VM size. */
    readonly instanceType: string;
    readonly spot: boolean;
}

/** The local engine adds nothing. */
export type NoDetails = Readonly<Record<never, never>>;

/** The kinds of host reached over SSH. */
export type RemoteKind = Exclude<HostKind, LocalKind>;
/** The kinds of host that are a cloud VM. */
export type CloudKind = CloudName;

/** What a host of kind K adds to the outputs every host has. */
export type DetailsOf<K extends HostKind> = K extends LocalKind ? NoDetails : K extends SshKind ? ServerDetails : CloudDetails;

/** T with every value an Input, as the program hands it to the engine. */
export type Inputs<T> = { readonly [P in keyof T]: pulumi.Input<T[P]> };

/** A host's kind and what it adds to the outputs, as the host builds them (GpuHost.details). */
export type HostDetailsInput = { [K in HostKind]: { readonly kind: K } & Inputs<DetailsOf<K>> }[HostKind];

/**
 * What a remote kind's machine contributes to its details: all but `ssh`, which the remote skeleton
 * adds (it makes the key file the command names).
 */
export type MachineDetails<K extends RemoteKind = RemoteKind> = { [P in K]: { readonly kind: P } & Inputs<Omit<DetailsOf<P>, "ssh">> }[K];
