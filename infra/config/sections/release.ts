// Which release each slot runs and which slot is live: gpu-hosts:slots and gpu-hosts:liveColor.
import { COLORS, Color } from "../../vocabulary";
import { RELEASE } from "../../validators";
import { defineKey } from "../schema";

export interface SlotConfig {
    /** The release's name, for people: "workdir" (a snapshot of the app context on disk) or a git ref. */
    readonly release: string;
    /**
     * The commit the release was pinned to when it was set (`npm run release`, `npm run up`), or ""
     * when the program pins the release itself (plain `pulumi up`; infra/service/pin.ts keeps that
     * pin in the stack). A commit left behind by an earlier release name is stale and ignored.
     */
    readonly commit: string;
}

export type SlotsConfig = { readonly [C in Color]: SlotConfig };

/** The release section of the stack config. */
export interface ReleaseConfig {
    /** The slot serving live traffic. */
    readonly liveColor: Color;
    readonly slots: SlotsConfig;
}

export const liveColor = defineKey<Color>({
    key: "liveColor",
    schema: { type: "string", description: "Release slot serving live traffic, \"blue\" or \"green\". Flip it to promote.", default: "blue" },
    read: (r, raw, _ctx, fb) => r.oneOf("liveColor", raw, fb, COLORS),
});

/** Unpinned: the first up pins a new stack's two slots to one snapshot of the app context on disk. */
const UNPINNED: SlotsConfig = { blue: { release: "workdir", commit: "" }, green: { release: "workdir", commit: "" } };

export const slots = defineKey<SlotsConfig>({
    key: "slots",
    schema: {
        description: "Release of each slot, {blue: {release, commit}, green: {release, commit}}. release is its name (\"workdir\": the app context on disk, or a git ref), pinned to a commit once, when it is set, and kept in the stack: a later commit, a moved branch or an edit on disk never moves a slot. commit is the pin npm run release / npm run up wrote; without one (or with one left from an earlier release), pulumi up pins release itself. npm run release pins the idle slot.",
        default: UNPINNED,
    },
    read: (r, raw, _ctx, fb) => {
        const slot = (k: string, v: unknown, fb: SlotConfig) => r.object(k, v, fb, {
            release: (rk, rv, rfb) => r.pattern(rk, rv, rfb, RELEASE),
            commit: (ck, cv, cfb) => (typeof cv === "string" ? cv : cv === undefined ? cfb : (r.fail(ck, "a string", cv), cfb)),
        });
        return r.object("slots", raw, fb, { blue: slot, green: slot });
    },
});

export const RELEASE_KEYS = [liveColor, slots] as const;
