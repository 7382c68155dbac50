// What an update changed (or a preview would change), resource by resource, and which part of the
// stack each resource belongs to: the live slot, the idle slot, or what both share. The release and
// swap scripts use it to refuse, before anything runs, an update that would touch the live slot, and
// to report afterwards what really changed. Pure: the engine's step events come in, a summary goes out.
import { COLORS, Color } from "../../infra/vocabulary";
import { PROXY_TYPE, SLOT_TYPE, routesName } from "../../infra/contract/names";

/** The effect of one step on a resource, most severe last. */
export type Change = "update" | "create" | "delete" | "replace";
const SEVERITY: readonly Change[] = ["update", "create", "delete", "replace"];

/** One resource the engine changed (or would change). */
export interface ResourceChange {
    readonly urn: string;
    readonly change: Change;
}

/**
 * The change a step event's op means, or undefined for steps that change nothing (same, read,
 * refresh, discard). A replacement reports as replace, create-replacement and delete-replaced steps
 * for one URN (pulumi/pulumi sdk/go/common/apitype: OpType); all three count as "replace".
 */
export function changeOf(op: string): Change | undefined {
    switch (op) {
        case "create":
        case "import":
            return "create";
        case "update":
            return "update";
        case "delete":
            return "delete";
        case "replace":
        case "create-replacement":
        case "delete-replaced":
        case "import-replacement":
        case "discard-replaced":
            return "replace";
        default:
            return undefined;
    }
}

/** Collects step events into one change per URN, the most severe seen. */
export class ChangeLog {
    private readonly byUrn = new Map<string, Change>();

    /** Records a step: its op and URN (an engine event's StepEventMetadata). */
    add(op: string, urn: string): void {
        const c = changeOf(op);
        if (!c) return;
        const prev = this.byUrn.get(urn);
        if (!prev || SEVERITY.indexOf(c) > SEVERITY.indexOf(prev)) this.byUrn.set(urn, c);
    }

    get changes(): ResourceChange[] {
        return [...this.byUrn].map(([urn, change]) => ({ urn, change })).sort((a, b) => a.urn.localeCompare(b.urn));
    }
}

/** The resource name at the end of a URN. */
export const nameOf = (urn: string): string => urn.slice(urn.lastIndexOf("::") + 2);

/** The types from the stack down to the resource ("a$b$c" in the URN), the resource's own last. */
export const typeChainOf = (urn: string): string[] => {
    const parts = urn.split("::");
    return parts.length >= 4 ? parts[parts.length - 2].split("$") : [];
};

/**
 * The slot a resource belongs to, or undefined for what the slots share (network, redis, ollama,
 * proxy, routes, hosts). A slot is a Slot component (infra/service/slot.ts) named
 * "<host>-app-<color>", and every child's name starts with it; the host part may say anything, so
 * the color is the last "-blue" or "-green" that ends a name part.
 */
export function slotOf(urn: string): Color | undefined {
    if (!typeChainOf(urn).includes(SLOT_TYPE)) return undefined;
    const last = [...nameOf(urn).matchAll(/-(blue|green)(?=-|$)/g)].pop()?.[1];
    return COLORS.find((c) => c === last);
}

/** Whether a resource is a proxy's routes command: the one thing a swap changes. */
export function isRoutes(urn: string): boolean {
    const chain = typeChainOf(urn);
    return chain[chain.length - 2] === PROXY_TYPE && nameOf(urn).endsWith(routesName(""));
}

/** Changes grouped as an operator reads them for one swap or release. */
export interface ChangeReport {
    readonly live: readonly ResourceChange[];
    readonly idle: readonly ResourceChange[];
    readonly shared: readonly ResourceChange[];
}

/** Splits changes into the live slot's, the idle slot's and the shared ones. */
export function groupChanges(changes: readonly ResourceChange[], live: Color): ChangeReport {
    const live_: ResourceChange[] = [];
    const idle: ResourceChange[] = [];
    const shared: ResourceChange[] = [];
    for (const c of changes) {
        const slot = slotOf(c.urn);
        (slot === undefined ? shared : slot === live ? live_ : idle).push(c);
    }
    return { live: live_, idle, shared };
}

/** "3 replace, 1 update" for a list of changes; "none" when empty. */
export function countChanges(changes: readonly ResourceChange[]): string {
    if (changes.length === 0) return "none";
    const n = new Map<Change, number>();
    for (const c of changes) n.set(c.change, (n.get(c.change) ?? 0) + 1);
    return [...SEVERITY].reverse().filter((c) => n.has(c)).map((c) => `${n.get(c)} ${c}`).join(", ");
}

/** "replace local-app-green-api, update local-app-proxy-routes" for messages. */
export function listChanges(changes: readonly ResourceChange[]): string {
    return changes.map((c) => `${c.change} ${nameOf(c.urn)}`).join(", ");
}
