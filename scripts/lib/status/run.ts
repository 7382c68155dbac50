// `npm run status`: one report (table, or --json), or with --watch a new one every few seconds until
// ^C. The exit code is the verdict's: OK 0, DEGRADED 1, DOWN 2 (cli.ts's main exits 2 as well when
// no report can be made: see verdict.ts). Nothing secret is printed: the report is built from named
// fields only, never from the outputs or the state as a whole.
import type { StackOutputs } from "../../../infra/contract/outputs";
import { accessFromOutputs } from "../health";
import { collectStatus, realProbes, StatusProbes, StatusStack } from "./collect";
import { renderStatus } from "./render";
import type { StatusReport } from "./types";
import { EXIT_CODES } from "./verdict";

/** Pause between two reports of --watch. */
export const WATCH_INTERVAL_MS = 5000;

/** ANSI: clear the screen and home the cursor (only ever written to a terminal). */
const CLEAR = "\x1b[2J\x1b[H";

export interface StatusOptions {
    readonly json: boolean;
    readonly watch: boolean;
    /** Where the report goes. Defaults to process.stdout. */
    readonly write?: (text: string) => void;
    /** Whether stdout is a terminal (--watch clears the screen only then). Defaults to process.stdout.isTTY. */
    readonly tty?: boolean;
    /** Probes for the stack's outputs. Defaults to the real ones (HTTP with the ops key, sh or ssh). */
    readonly probesFor?: (outputs: StackOutputs) => StatusProbes;
    /** Stops --watch (the entry point's ^C exits the process instead). */
    readonly signal?: AbortSignal;
    readonly intervalMs?: number;
}

/** The report as --json prints it: one JSON document per line (a line per refresh with --watch). */
export const jsonLine = (r: StatusReport): string => `${JSON.stringify(r)}\n`;

/** Runs status; resolves to the exit code of the last report. */
export async function runStatus(stack: StatusStack, o: StatusOptions): Promise<number> {
    const write = o.write ?? ((t: string) => void process.stdout.write(t));
    const tty = o.tty ?? process.stdout.isTTY === true;
    const probesFor = o.probesFor ?? ((outputs: StackOutputs) => realProbes(accessFromOutputs(outputs)));
    for (;;) {
        const report = await collectStatus(stack, probesFor);
        if (o.json) write(jsonLine(report));
        else write(`${o.watch && tty ? CLEAR : ""}${renderStatus(report)}\n${o.watch ? `\n(every ${(o.intervalMs ?? WATCH_INTERVAL_MS) / 1000} s; ^C to stop)\n` : ""}`);
        if (!o.watch || o.signal?.aborted) return EXIT_CODES[report.verdict];
        await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, o.intervalMs ?? WATCH_INTERVAL_MS);
            o.signal?.addEventListener("abort", () => {
                clearTimeout(t);
                resolve();
            }, { once: true });
        });
        if (o.signal?.aborted) return EXIT_CODES[report.verdict];
    }
}
