// npm run status's loop: the table or one JSON line per report, --watch until stopped (clearing the
// screen only on a terminal), the verdict's exit code, and 2 when no report can be made.
import * as assert from "node:assert/strict";
import { exitCode } from "../../scripts/lib/cli";
import { OpsError } from "../../scripts/lib/errors";
import { runStatus } from "../../scripts/lib/status/run";
import * as fixture from "../helpers/statusFixture";

describe("status: the command", () => {
    it("prints the table once and exits with the verdict's code (DEGRADED: 1)", async () => {
        const out: string[] = [];
        const code = await runStatus(fixture.stack(), { json: false, watch: false, write: (t) => out.push(t), probesFor: () => fixture.probes() });
        assert.equal(code, 1);
        assert.equal(out.length, 1);
        assert.match(out[0], /^stack dev: DEGRADED/);
        assert.ok(!out[0].includes("\x1b[2J"));
    });

    it("--json: one document on one line", async () => {
        const out: string[] = [];
        await runStatus(fixture.stack(), { json: true, watch: false, write: (t) => out.push(t), probesFor: () => fixture.probes() });
        assert.equal(out.length, 1);
        assert.ok(out[0].endsWith("}\n") && !out[0].slice(0, -1).includes("\n"));
        assert.equal(JSON.parse(out[0]).verdict, "DEGRADED");
    });

    it("--watch: a new report every interval until stopped; the screen is cleared on a terminal only", async () => {
        for (const tty of [true, false]) {
            const out: string[] = [];
            const stop = new AbortController();
            const code = await runStatus(fixture.stack(), {
                json: false, watch: true, tty, intervalMs: 10, signal: stop.signal, probesFor: () => fixture.probes(),
                write: (t) => {
                    out.push(t);
                    if (out.length === 3) stop.abort();
                },
            });
            assert.equal(code, 1);
            assert.equal(out.length, 3);
            assert.equal(out.every((t) => t.startsWith("\x1b[2J\x1b[H")), tty);
            assert.match(out[0], /\(every 0.01 s; \^C to stop\)/);
        }
    });

    it("a status that cannot answer exits 2, like DOWN (usage errors too); other scripts keep 1", () => {
        const spec = { name: "status", failureExitCode: 2 };
        assert.equal(exitCode(new OpsError("no-stack", "no such stack"), spec), 2);
        assert.equal(exitCode(new Error("a bug"), spec), 2);
        assert.equal(exitCode(new OpsError("usage", "bad"), spec), 2);
        assert.equal(exitCode(new OpsError("no-stack", "no such stack"), { name: "promote" }), 1);
    });
});
