/**
 * The blue/green job scenario, shared by app/test/slots.test.ts and the program's
 * test/slots.integration.test.ts: jobs through each slot's api, swaps (which api the "live URL"
 * means), the old slot draining, and who processed what. Throws (assert) on any violation.
 */
import assert from "node:assert/strict";
import type { OllamaStandIn } from "./ollama-stand-in";
import { httpJson, Slot } from "./slots";

interface Submitted {
    readonly id: string;
    readonly ticker: string;
    /** The slot whose api accepted it. */
    readonly via: Slot;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function submit(via: Slot, ticker: string): Promise<Submitted> {
    const res = await httpJson("POST", `${via.url}/jobs`, { ticker, date: "2024-05-10" });
    assert.equal(res.status, 202, res.text);
    return { id: res.body.job_id, ticker, via };
}

export async function runSlotScenario(blue: Slot, green: Slot, ollama: OllamaStandIn, releases: Record<string, string>): Promise<void> {
    // Slow enough generations that jobs are still in flight when the live URL swaps.
    ollama.delayMs = 250;
    const jobs: Submitted[] = [];
    const submitMany = async (via: Slot, prefix: string, n: number) => {
        for (let i = 0; i < n; i++) jobs.push(await submit(via, `${prefix}${i}`));
    };

    // Blue is live; green is idle and gets only a smoke test's worth of jobs through its own URL.
    let live = blue;
    await submitMany(live, "LB", 8);
    await submitMany(green, "SG", 3);

    // Swap 1: the live URL now means green. Blue's jobs are still queued or running.
    live = green;
    const inFlight = await Promise.all(
        jobs.filter((j) => j.via === blue).map(async (j) => (await httpJson("GET", `${green.url}/jobs/${j.id}`)).body.status),
    );
    assert.ok(inFlight.some((s) => s === "pending" || s === "running"), `no blue job was in flight at the swap: ${inFlight.join(",")}`);
    await submitMany(live, "LG", 6);

    // Swap 2: back to blue (a rollback), with green's jobs still in flight.
    live = blue;
    await submitMany(live, "RB", 4);

    // Everything finishes, each job on the slot that accepted it.
    const deadline = Date.now() + 30_000;
    const views = new Map<string, any>();
    while (views.size < jobs.length) {
        assert.ok(Date.now() < deadline, `jobs not finished in time: ${jobs.length - views.size} left`);
        for (const j of jobs) {
            if (views.has(j.id)) continue;
            const res = await httpJson("GET", `${(views.size % 2 ? blue : green).url}/jobs/${j.id}`);
            assert.equal(res.status, 200, res.text);
            if (res.body.status === "completed" || res.body.status === "failed") views.set(j.id, res.body);
        }
        await sleep(100);
    }

    const processedBy: Record<string, number> = { blue: 0, green: 0 };
    for (const j of jobs) {
        const view = views.get(j.id);
        assert.equal(view.status, "completed", JSON.stringify(view));
        assert.deepEqual(view.accepted_by, { slot: j.via.color, release: releases[j.via.color] }, JSON.stringify(view));
        assert.deepEqual(view.processed_by, { slot: j.via.color, release: releases[j.via.color] }, JSON.stringify(view));
        assert.equal(view.attempts_made, 1, JSON.stringify(view));
        processedBy[view.processed_by.slot]++;
        // Readable through either slot's URL, with the same answer.
        const [a, b] = await Promise.all([blue, green].map((s) => httpJson("GET", `${s.url}/jobs/${j.id}`)));
        assert.equal(a.status, 200, a.text);
        assert.deepEqual(a.body, b.body);
    }
    assert.deepEqual(processedBy, { blue: 12, green: 9 });

    // Processed exactly once: one generation per job (tickers are unique), none lost.
    const perTicker = new Map<string, number>();
    for (const call of ollama.generateCalls()) {
        const t = /^Ticker: (\S+)/.exec(String(call.body.prompt))?.[1] ?? "?";
        perTicker.set(t, (perTicker.get(t) ?? 0) + 1);
    }
    assert.deepEqual(
        [...perTicker.entries()].sort(),
        jobs.map((j) => [j.ticker, 1] as [string, number]).sort(),
    );

    // An unknown id is a 404 through both URLs.
    for (const s of [blue, green]) {
        const res = await httpJson("GET", `${s.url}/jobs/00000000-0000-4000-8000-000000000000`);
        assert.equal(res.status, 404, res.text);
    }
}
