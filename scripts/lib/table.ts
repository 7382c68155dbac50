// Plain-text tables for the scripts' final reports: columns padded to their widest cell.
/** Renders rows (the first is the header) as aligned columns with a rule under the header. */
export function table(rows: readonly (readonly string[])[]): string {
    if (rows.length === 0) return "";
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
    return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}
