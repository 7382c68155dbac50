import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { loadConfig, namespaced } from "../../../infra/config";
import { COLORS, Color } from "../../../infra/vocabulary";
import { releaseLabel, resolveSlots } from "../../../infra/service/release";
import { pinStack } from "../../../infra/contract/pins";

export = async () => {
    const root = process.cwd();
    const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()));
    const pins = await pinStack(root, cfg);
    const sources = resolveSlots(root, cfg.app.context, cfg.app.dockerfile, pins.slots);
    const slots = {} as Record<Color, { release: string; commit: string; label: string; image: string }>;
    for (const c of COLORS) {
        // Replaced exactly when the real slot's image would be rebuilt: a new commit or content.
        new command.local.Command(`app-${c}-image`, { create: "true", triggers: [pins.slots[c].commit, sources[c].tag] });
        slots[c] = { ...pins.slots[c], label: releaseLabel(pins.slots[c]), image: `app-${c}:${sources[c].tag}` };
    }
    return { slots, pins: pins.records };
};
