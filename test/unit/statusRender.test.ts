// The human table of npm run status, pinned by a golden file (test/golden/status.table.txt) for the
// four-host fixture. UPDATE_GOLDEN=1 rewrites it.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { collectStatus } from "../../scripts/lib/status/collect";
import { renderStatus } from "../../scripts/lib/status/render";
import * as fixture from "../helpers/statusFixture";

const GOLDEN = path.join(__dirname, "..", "golden", "status.table.txt");

describe("status: the table", () => {
    it("matches the golden file", async () => {
        const r = await collectStatus(fixture.stack(), () => fixture.probes());
        const text = `${renderStatus({ ...r, checkedAt: fixture.NOW.toISOString(), durationMs: 1234 })}\n`;
        if (process.env.UPDATE_GOLDEN === "1") fs.writeFileSync(GOLDEN, text);
        assert.equal(text, fs.readFileSync(GOLDEN, "utf8"));
    });

    it("a stopped worker shows in the verdict line, its container row and the exit code's verdict", async () => {
        const r = await collectStatus(fixture.stack(), () => fixture.probes(undefined, { localWorkerStopped: true }));
        const text = renderStatus(r);
        assert.match(text, /^stack dev: DEGRADED/);
        assert.match(text, /  - host local: container local-app-green-worker is exited \(exit code 137\)/);
        assert.match(text, /local +local-app-green-worker +exited \(137\) +unhealthy/);
    });
});
