// The e2e's switch watcher (test/e2e/switchWatch.ts) against a loopback server whose slot the test
// flips: the figures the e2e prints for promote, rollback and kamal-proxy rest on it.
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { SwitchWatch } from "../e2e/switchWatch";

describe("the e2e's switch watcher", () => {
    let server: http.Server;
    let url = "";
    let slot = "blue";
    beforeEach(async () => {
        slot = "blue";
        server = http.createServer((_req, res) => {
            res.setHeader("content-type", "application/json");
            res.end(JSON.stringify({ status: "healthy", slot }));
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
    });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it("sees a switch made the moment the command returns (as kamal-proxy's deploy does), and times it from start()", async () => {
        const watch = new SwitchWatch(url, "green");
        watch.start();
        await sleep(300);
        slot = "green";
        // The command returns now: no request sent after the switch has come back yet.
        const w = await watch.stop();
        assert.ok(w.switchedAfterS !== undefined && w.switchedAfterS >= 0.3, String(w.switchedAfterS));
        assert.equal(w.failed, 0);
        assert.equal(w.backAfterSwitch, 0);
        assert.ok(w.sent > 4, String(w.sent));
    });

    it("reports never when the slot does not change, after the grace period only", async () => {
        const watch = new SwitchWatch(url, "green");
        watch.start();
        await sleep(100);
        const t = Date.now();
        const w = await watch.stop(400);
        assert.equal(w.switchedAfterS, undefined);
        assert.ok(Date.now() - t >= 400, "it waited out the grace period");
    });

    it("counts answers of the old slot to requests sent after the first answer of the new one (a flapping switch)", async () => {
        const watch = new SwitchWatch(url, "green");
        watch.start();
        await sleep(100);
        slot = "green";
        await sleep(150);
        slot = "blue";
        await sleep(150);
        const w = await watch.stop(0);
        assert.ok(w.switchedAfterS !== undefined);
        assert.ok(w.backAfterSwitch > 0, "the flap back to blue is counted");
    });
});
