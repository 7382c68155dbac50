import { promises as fs } from "node:fs";

/**
 * The worker's liveness signal for `node dist/healthcheck.js worker`: a file holding the time of
 * the last successful check. A wedged event loop or a lost Redis connection stops the writes, and
 * the file goes stale.
 */
export function startHeartbeat(file: string, intervalMs: number, isHealthy: () => Promise<boolean>): { stop(): Promise<void> } {
    let stopped = false;
    let inFlight: Promise<void> = Promise.resolve();
    const beat = async () => {
        if (stopped) return;
        try {
            if (await isHealthy()) await writeHeartbeat(file, Date.now());
        } catch {
            // A failed beat is what staleness reports; nothing else to do.
        }
    };
    inFlight = beat();
    const timer = setInterval(() => {
        inFlight = inFlight.then(beat);
    }, intervalMs);
    timer.unref();
    return {
        async stop() {
            stopped = true;
            clearInterval(timer);
            await inFlight;
        },
    };
}

export async function writeHeartbeat(file: string, at: number): Promise<void> {
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, `${at}\n`);
    await fs.rename(tmp, file);
}

/** Age of the heartbeat in ms, or null when there is none (or it is unreadable). */
export async function heartbeatAge(file: string): Promise<number | null> {
    try {
        const at = Number((await fs.readFile(file, "utf8")).trim());
        // "now" is taken after the read: the worker may rewrite the file while we read it.
        return Number.isFinite(at) && at > 0 ? Math.max(0, Date.now() - at) : null;
    } catch {
        return null;
    }
}
