// What a cloud host costs: its cloud's catalog price per hour (infra/clouds/<cloud>/catalog.ts, with
// its source and date) for the placement it runs on, times the hours since the engine created the machine.
//
// The creation time is the `created` timestamp Pulumi's state keeps per resource: apitype.ResourceV3
// `Created *time.Time json:"created,omitempty"`, "when the remote resource was first added to state
// by pulumi" (pulumi/pulumi sdk/go/common/apitype/core.go), set to now by CreateStep.Apply for a
// create and for a create-replacement alike (pkg/resource/deploy/step.go), so a VM replaced by
// `npm run recover` counts from its own creation. Checkpoints written before early 2023 lack it; the
// CLI here (v3.259.0) writes it (checked on a real `up` and a replacement). Local hosts and the
// operator's own servers (kind ssh) are not priced.
import { CLOUDS } from "../../../infra/clouds";
import { HostOutput, isCloudHost } from "../../../infra/contract/outputs";
import { vmName } from "../../../infra/contract/names";
import { nameOf } from "../changes";
import { MACHINE_TYPES, StackState, StateResource } from "../recover";
import type { CostStatus } from "./types";


/** The machine resource of cloud host `host` (vmName(host)), not one pending deletion. */
export function machineOf(state: StackState | undefined, host: string): StateResource | undefined {
    return state?.deployment.resources?.find((r) => MACHINE_TYPES.includes(r.type) && nameOf(r.urn) === vmName(host) && r.delete !== true);
}

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

/**
 * A cloud host's cost: its cloud's price for the placement it runs on (from its outputs, its VM in the
 * state, and the cloud's config section, e.g. an N1 machine's GPU), times the hours since the VM was
 * created. Each part that is unknown is null, with the note saying why.
 */
export function costOf(h: HostOutput, vm: StateResource | undefined, section: unknown, now: Date): CostStatus | null {
    if (!isCloudHost(h)) return null;
    const cloud = CLOUDS[h.kind];
    const spot = h.spot === true;
    const placement = cloud.deployedPlacement(h, vm, section as never);
    const quote = cloud.price(placement as never);
    const createdAt = typeof vm?.created === "string" ? vm.created : undefined;
    const created = createdAt !== undefined && !Number.isNaN(Date.parse(createdAt)) ? new Date(createdAt) : undefined;
    const hours = created ? Math.max(0, now.getTime() - created.getTime()) / 3_600_000 : undefined;
    const notes = [
        ...(quote ? [] : [`the catalog has no price for ${h.kind} ${cloud.describe(placement as never)}`]),
        ...(created ? [] : ["the state records no creation time for the machine"]),
    ];
    return {
        usdPerHour: quote?.usdPerHour ?? null,
        indicative: quote?.indicative ?? spot,
        source: quote?.source ?? null,
        asOf: quote?.asOf ?? null,
        createdAt: created ? created.toISOString() : null,
        hoursSinceCreated: hours === undefined ? null : round(hours, 2),
        usdSinceCreated: quote && hours !== undefined ? round(quote.usdPerHour * hours, 2) : null,
        note: notes.length ? notes.join("; ") : null,
    };
}
