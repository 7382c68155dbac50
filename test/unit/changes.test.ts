// What an update changed, per resource and per slot (scripts/lib/changes.ts), from the engine's step
// events and URNs as the engine writes them.
import * as assert from "node:assert/strict";
import { ChangeLog, changeOf, countChanges, groupChanges, isRoutes, slotOf } from "../../scripts/lib/changes";

const urn = (chain: string, name: string) => `urn:pulumi:dev::gpu-hosts::${chain}::${name}`;
const SLOT = "gpu-hosts:app:AppStack$gpu-hosts:app:Slot";

describe("changes per slot", () => {
    it("maps every step op the engine emits (apitype.OpType) to a change, or none", () => {
        const ops: Record<string, string | undefined> = {
            same: undefined, read: undefined, refresh: undefined, discard: undefined, "read-replacement": undefined, "remove-pending-replace": undefined,
            create: "create", import: "create", update: "update", delete: "delete",
            replace: "replace", "create-replacement": "replace", "delete-replaced": "replace", "import-replacement": "replace", "discard-replaced": "replace",
        };
        for (const [op, want] of Object.entries(ops)) assert.equal(changeOf(op), want, op);
    });

    it("keeps the most severe change per resource: a replacement's three steps are one replace", () => {
        const log = new ChangeLog();
        const api = urn(`${SLOT}$docker:index/container:Container`, "local-app-green-api");
        for (const op of ["create-replacement", "replace", "same", "delete-replaced"]) log.add(op, api);
        log.add("update", urn("gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:local:Command", "local-app-proxy-routes"));
        log.add("same", urn("gpu-hosts:app:AppStack$docker:index/container:Container", "local-app-redis"));
        assert.deepEqual(log.changes.map((c) => c.change), ["update", "replace"], "sorted by URN");
        assert.equal(countChanges(log.changes), "1 replace, 1 update");
        assert.equal(countChanges([]), "none");
    });

    it("tells a slot's resources by the Slot component in the URN, whatever the host is called", () => {
        assert.equal(slotOf(urn(`${SLOT}$docker:index/container:Container`, "local-app-green-worker")), "green");
        assert.equal(slotOf(urn(`${SLOT}$command:remote:Command`, "gpu-blue-1-app-green-image-id")), "green", "a host named after a color");
        assert.equal(slotOf(urn(SLOT, "aws-app-blue")), "blue", "the component itself");
        assert.equal(slotOf(urn("gpu-hosts:app:AppStack$docker:index/container:Container", "green-app-redis")), undefined, "shared, though the host says green");
        assert.equal(slotOf("urn:pulumi:dev::gpu-hosts::pulumi:pulumi:Stack::gpu-hosts-dev"), undefined);
    });

    it("groups changes into live, idle and shared; knows the routes command", () => {
        const routes = urn("gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$command:remote:Command", "aws-app-proxy-routes");
        const g = groupChanges([
            { urn: urn(`${SLOT}$docker:index/image:Image`, "aws-app-blue-image"), change: "update" },
            { urn: urn(`${SLOT}$docker:index/container:Container`, "aws-app-green-api"), change: "replace" },
            { urn: routes, change: "update" },
        ], "green");
        assert.deepEqual([g.live.length, g.idle.length, g.shared.length], [1, 1, 1]);
        assert.equal(isRoutes(routes), true);
        assert.equal(isRoutes(urn("gpu-hosts:app:AppStack$gpu-hosts:app:Proxy$docker:index/container:Container", "aws-app-proxy")), false);
        assert.equal(isRoutes(urn("gpu-hosts:app:AppStack$command:remote:Command", "x-routes")), false, "only the proxy's");
    });
});
