// The pins a stack keeps between updates: its `pins` output (each slot's release name, the commit it
// runs and the config commit it was pinned from; infra/service/pin.ts PinRecord), read back by the
// next update of the same stack and by the operator scripts. This is what lets plain `pulumi up`
// pin a new stack, or a release name set with `pulumi config set`, once: the program cannot write its
// own config, so what it resolved lives in the stack itself.
//
// How the program reads its own previous outputs: a StackReference to its own stack. The engine
// answers it from the stack's last checkpoint (pulumi/pulumi pkg/resource/deploy/builtins.go
// readStackReference -> pkg/backend/backend.go GetStackOutputs -> the backend's latest snapshot,
// e.g. pkg/backend/diy/state.go getSnapshotStackOutputs). During an update that checkpoint holds the
// previous outputs: the stack resource's step is a "same" that retains its old outputs
// (pkg/resource/deploy/step.go SameStep.Apply: `s.new.Outputs = s.old.Outputs`), and the new ones
// are registered only when the program has finished (its exports depend on this very read). A new
// stack reads none (its slots are pinned from the config, or anew); after a failed update, the stack
// reads what the last completed one kept.
import * as pulumi from "@pulumi/pulumi";
import { COLORS, Color } from "../vocabulary";
import { COMMIT, matches } from "../validators";
import { KeptPins, PinRecord, PinnedSlots, pinSlots } from "../service/pin";
import type { StackConfig } from "../config";

/** The `pins` output: what each slot was pinned to, and from which config. */
export type PinsOutput = Readonly<Record<Color, PinRecord>>;

/** The StackReference's resource name. */
export const PINS_REFERENCE = "kept-pins";

/**
 * This stack's name as a StackReference takes it. The Pulumi Cloud needs "org/project/stack"; a diy
 * (file, S3...) backend's organization is always "organization" (pkg/backend/diy/store.go
 * ParseReference), and its older, non-project store takes the bare stack name only, which the
 * project store takes too (it adds the current project).
 */
export function selfReferenceName(org: string, project: string, stack: string): string {
    return org === "organization" ? stack : `${org}/${project}/${stack}`;
}

/** A JSON object (not null, not an array): what a stack output holding a record reads as. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isCommit = (v: unknown): v is string => matches(COMMIT, v);

/**
 * Each slot's kept pin from raw stack outputs: the `pins` output, or for a stack last deployed before
 * it existed, the `slots` output (whose commit always came from the config then). A slot with neither,
 * or with a malformed record, has none.
 */
export function readPins(raw: Readonly<Record<string, unknown>>): KeptPins {
    const out: Partial<Record<Color, PinRecord>> = {};
    for (const c of COLORS) {
        const p = isObject(raw.pins) ? raw.pins[c] : undefined;
        if (isObject(p) && typeof p.release === "string" && p.release && isCommit(p.commit) && (p.configCommit === "" || isCommit(p.configCommit))) {
            out[c] = { release: p.release, commit: p.commit, configCommit: p.configCommit };
            continue;
        }
        const s = isObject(raw.slots) ? raw.slots[c] : undefined;
        if (isObject(s) && typeof s.release === "string" && s.release && isCommit(s.commit)) {
            out[c] = { release: s.release, commit: s.commit, configCommit: s.commit };
        }
    }
    return out;
}

/** The pins this stack kept at its last completed update, read through a StackReference to itself. */
export async function keptPins(): Promise<KeptPins> {
    const self = new pulumi.StackReference(PINS_REFERENCE, {
        name: selfReferenceName(pulumi.getOrganization(), pulumi.getProject(), pulumi.getStack()),
    });
    const [pins, slots] = await Promise.all([self.getOutputDetails("pins"), self.getOutputDetails("slots")]);
    return readPins({ pins: pins.value, slots: slots.value });
}

/**
 * Both slots' pins for this update of this stack (infra/service/pin.ts pinSlots) against what the
 * stack kept: a slot keeps its pin until its release changes; what is new is pinned now, and a
 * preview keeps nothing. Notes and warnings go to the engine's log.
 */
export async function pinStack(projectRoot: string, cfg: Pick<StackConfig, "app" | "slots">): Promise<PinnedSlots> {
    return pinSlots(projectRoot, cfg, await keptPins(), {
        keep: !pulumi.runtime.isDryRun(),
        warn: (m) => pulumi.log.warn(m),
        info: (m) => pulumi.log.info(m),
    });
}
