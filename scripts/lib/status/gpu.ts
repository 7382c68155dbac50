// The GPU of a host, from `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` run on it.
// A host without a GPU (no nvidia-smi, no driver, no device) is "none", never an error: the local
// stack and CPU servers have none. Parsing is by the fields asked for, so the unit tests feed it real
// outputs of other queries (test/unit/statusGpu.test.ts names their sources).
import type { GpuDevice, GpuStatus } from "./types";

/** The fields status asks for, in order (`nvidia-smi --help-query-gpu` documents each). */
export const GPU_FIELDS = ["name", "utilization.gpu", "memory.used", "memory.total", "temperature.gpu"] as const;

/** nvidia-smi's arguments: one CSV row per GPU, in index order, no header, no units. */
export const NVIDIA_SMI_ARGS: readonly string[] = [`--query-gpu=${GPU_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];

/**
 * What nvidia-smi prints for a value the device or driver does not give: "[N/A]" (newer drivers),
 * "[Not Supported]" (older ones; enkore/i3pystatus#776 shows both for the same card), and the
 * bracketed errors of the same family.
 */
const UNAVAILABLE = /^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU requires reset|Not Available)\]?$/i;

/** A number with the unit `--format=csv` adds without `nounits` ("42 %", "5934 MiB", "88.50 W"). */
const NUMBER = /^(-?\d+(?:\.\d+)?)(?:\s*(?:%|MiB|GiB|W|MHz|C))?$/;

/** One cell: null when unavailable, else the trimmed text. */
function cell(raw: string): string | null {
    const v = raw.trim();
    return v === "" || UNAVAILABLE.test(v) ? null : v;
}

/** A numeric cell: null when unavailable or not a number. */
export function numberOf(v: string | null): number | null {
    const m = v === null ? null : NUMBER.exec(v);
    return m ? Number(m[1]) : null;
}

/**
 * The rows of a `--query-gpu` CSV answer for `fields`, each a field -> value (null when unavailable)
 * map. Tolerates a header line (plain `--format=csv`), units, CRLF, and a name holding a comma (the
 * surplus cells are joined back into the one free-text field, "name"). Rows of another width are
 * dropped: they are not rows of this query (a warning line, say).
 */
export function parseQueryGpuCsv(text: string, fields: readonly string[]): Record<string, string | null>[] {
    const rows: Record<string, string | null>[] = [];
    const nameAt = fields.indexOf("name");
    for (const line of text.split(/\r?\n/)) {
        if (!line.trim()) continue;
        let cells = line.split(",");
        if (cells.length > fields.length && nameAt >= 0) {
            const extra = cells.length - fields.length;
            cells = [...cells.slice(0, nameAt), cells.slice(nameAt, nameAt + extra + 1).join(","), ...cells.slice(nameAt + extra + 1)];
        }
        if (cells.length !== fields.length) continue;
        // The header of plain --format=csv: "name, utilization.gpu [%], ..."
        if (cells.every((c, i) => c.trim().replace(/\s*\[[^\]]*\]$/, "") === fields[i])) continue;
        rows.push(Object.fromEntries(fields.map((f, i) => [f, cell(cells[i])])));
    }
    return rows;
}

/** The devices in an answer to NVIDIA_SMI_ARGS (or any query holding those fields). */
export function gpuDevices(text: string, fields: readonly string[] = GPU_FIELDS): GpuDevice[] {
    return parseQueryGpuCsv(text, fields).map((r, index) => ({
        index: r.index !== undefined && numberOf(r.index) !== null ? numberOf(r.index)! : index,
        name: r.name ?? "unknown GPU",
        utilizationPercent: numberOf(r["utilization.gpu"] ?? null),
        memoryUsedMiB: numberOf(r["memory.used"] ?? null),
        memoryTotalMiB: numberOf(r["memory.total"] ?? null),
        temperatureC: numberOf(r["temperature.gpu"] ?? null),
    }));
}

const firstLine = (s: string) => s.split(/\r?\n/).map((l) => l.trim()).find(Boolean) ?? "";

/**
 * The GPU status from nvidia-smi's exit code and output (stdout and stderr together). Every failure
 * is "none" with the reason: exit 127 or "not found" (no nvidia-smi: no NVIDIA driver installed),
 * "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" (installed, not
 * loaded), "No devices were found", a timeout (exit 124 from coreutils timeout).
 */
export function gpuStatus(exitCode: number, output: string, timeoutSeconds: number): GpuStatus {
    const none = (note: string): GpuStatus => ({ state: "none", note, devices: [] });
    if (exitCode === 0) {
        const devices = gpuDevices(output);
        return devices.length ? { state: "ok", note: null, devices } : none(`nvidia-smi listed no GPU${firstLine(output) ? `: ${firstLine(output)}` : ""}`);
    }
    if (exitCode === 127 || /command not found|: not found|No such file or directory/i.test(output)) return none("nvidia-smi is not installed");
    if (exitCode === 124) return none(`nvidia-smi did not answer within ${timeoutSeconds} s`);
    if (/NVIDIA-SMI has failed/i.test(output)) return none(`the NVIDIA driver does not answer: ${firstLine(output)}`);
    if (/No devices were found/i.test(output)) return none("nvidia-smi found no NVIDIA device");
    return none(`nvidia-smi exited ${exitCode}${firstLine(output) ? `: ${firstLine(output)}` : ""}`);
}
