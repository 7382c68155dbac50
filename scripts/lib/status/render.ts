// The human view of a status report: a headline with the verdict and its reasons, then one table per
// concern (hosts, slots, containers, GPUs), the totals, and the notes. Pure: the tests pin it.
import { table } from "../table";
import type { HostStatus, SlotStatus, StatusReport } from "./types";

const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "-" : String(v));
const pair = (a: number | null | undefined, b: number | null | undefined) => (a == null && b == null ? "-" : `${dash(a)}/${dash(b)}`);
const usd = (n: number) => `$${n < 10 ? n.toFixed(n < 1 ? 3 : 2) : n.toFixed(2)}`;

function gpuCell(h: HostStatus): string {
    if (h.gpu.state === "unknown") return "unknown";
    if (h.gpu.state === "none") return "no GPU";
    const names = [...new Set(h.gpu.devices.map((d) => d.name))];
    return names.map((n) => `${h.gpu.devices.filter((d) => d.name === n).length}x ${n}`).join(", ");
}

function whereCell(h: HostStatus): string {
    if (h.zone && h.region && h.zone.startsWith(h.region)) return h.zone;
    return [h.region, h.zone].filter(Boolean).join("/") || "-";
}

function priceCell(h: HostStatus): string {
    if (!h.cost) return "-";
    if (h.cost.usdPerHour === null) return "no price";
    return `${usd(h.cost.usdPerHour)}/h${h.cost.indicative ? " (indicative)" : ""}`;
}

function costCell(h: HostStatus): string {
    if (!h.cost || h.cost.usdSinceCreated === null) return "-";
    return `${usd(h.cost.usdSinceCreated)} in ${h.cost.hoursSinceCreated!.toFixed(1)} h`;
}

function healthCell(s: SlotStatus): string {
    if (s.health.ok) return "healthy";
    if (s.health.httpStatus === null) return "no answer";
    return s.health.status === "healthy" ? `healthy, but slot ${dash(s.health.slot)} ${dash(s.health.release)}` : `${dash(s.health.status ?? `HTTP ${s.health.httpStatus}`)}`;
}

function breakerCell(s: SlotStatus): string {
    const b = s.metrics?.breakerOpen;
    return b === undefined || b === null ? "-" : b ? "OPEN" : "closed";
}

function hostsTable(r: StatusReport): string {
    return table([
        ["HOST", "KIND", "WHERE", "MACHINE", "MARKET", "ADDRESS", "GPU", "PRICE", "COST SINCE CREATED", "VERDICT"],
        ...r.hosts.map((h) => [h.name, h.kind, whereCell(h), dash(h.instanceType), dash(h.market), h.address, gpuCell(h), priceCell(h), costCell(h), h.verdict]),
    ]);
}

function slotsTable(r: StatusReport): string {
    return table([
        ["HOST", "SLOT", "ROLE", "RELEASE", "HEALTH", "QUEUE", "DONE 5m/60m", "FAILED 5m/60m", "BREAKER", "WORKERS"],
        ...r.hosts.flatMap((h) => h.slots.map((s) => [
            h.name, s.color, s.role, s.label, healthCell(s), dash(s.metrics?.queueDepth),
            pair(s.metrics?.completed5m, s.metrics?.completed60m), pair(s.metrics?.failed5m, s.metrics?.failed60m),
            breakerCell(s), dash(s.metrics?.workers),
        ])),
    ]);
}

function containersTable(r: StatusReport): string {
    const rows = r.hosts.flatMap((h) => h.containers.map((c) => [
        h.name, c.name, c.state === "exited" && c.exitCode !== null ? `exited (${c.exitCode})` : c.state, dash(c.health), dash(c.restarts),
    ]));
    // Why is in the verdict's reasons above.
    const unreached = r.hosts.filter((h) => !h.reachable).map((h) => [h.name, "-", "not inspected (host not reached)", "-", "-"]);
    return table([["HOST", "CONTAINER", "STATE", "HEALTH", "RESTARTS"], ...rows, ...unreached]);
}

function gpusTable(r: StatusReport): string | undefined {
    const rows = r.hosts.flatMap((h) => h.gpu.devices.map((d) => [
        h.name, String(d.index), d.name, d.utilizationPercent === null ? "-" : `${d.utilizationPercent}%`,
        d.memoryUsedMiB === null && d.memoryTotalMiB === null ? "-" : `${dash(d.memoryUsedMiB)}/${dash(d.memoryTotalMiB)} MiB`,
        d.temperatureC === null ? "-" : `${d.temperatureC} C`,
    ]));
    return rows.length ? table([["HOST", "GPU", "MODEL", "UTIL", "MEMORY", "TEMP"], ...rows]) : undefined;
}

function totalsLine(r: StatusReport): string {
    const t = r.totals;
    const hosts = `${t.hosts} host${t.hosts === 1 ? "" : "s"} (${t.ok} OK, ${t.degraded} DEGRADED, ${t.down} DOWN)`;
    const money = t.usdPerHour === null ? "no priced host" : `${usd(t.usdPerHour)}/h, ${t.usdSinceCreated === null ? "-" : usd(t.usdSinceCreated)} since created`;
    return `totals: ${hosts}; queue ${dash(t.queueDepth)}; done ${pair(t.completed5m, t.completed60m)} and failed ${pair(t.failed5m, t.failed60m)} in the last 5/60 min; ${money}`;
}

/** The report as people read it. */
export function renderStatus(r: StatusReport): string {
    const when = `${r.checkedAt.replace("T", " ").replace(/\.\d+Z$/, "Z")}, took ${(r.durationMs / 1000).toFixed(1)} s`;
    const lines = [`stack ${r.stack}: ${r.verdict}   (live ${r.liveColor}, idle ${r.idleColor}; checked ${when})`];
    for (const reason of r.reasons) lines.push(`  - ${reason}`);
    lines.push("", hostsTable(r), "", slotsTable(r), "", containersTable(r));
    const gpus = gpusTable(r);
    if (gpus) lines.push("", gpus);
    lines.push("", totalsLine(r));
    const sources = [...new Set(r.hosts.flatMap((h) => (h.cost?.source ? [`${h.kind}: ${h.cost.source}, as of ${h.cost.asOf}`] : [])))];
    if (sources.length) lines.push(`prices: ${sources.join("; ")}; spot prices are indicative`);
    const notes = r.hosts.flatMap((h) => h.notes.map((n) => `host ${h.name}: ${n}`));
    for (const n of notes) lines.push(`note: ${n}`);
    return lines.join("\n");
}
