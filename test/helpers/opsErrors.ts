// Asserting that a script step fails with one kind of OpsError.
import * as assert from "node:assert/strict";
import { OpsError } from "../../scripts/lib/errors";

/** Awaits `p`, asserts it rejects with an OpsError of `kind`, and returns that error. */
export async function rejects(p: Promise<unknown>, kind: string): Promise<OpsError> {
    try {
        await p;
    } catch (e) {
        assert.ok(e instanceof OpsError, `expected an OpsError, got ${String(e)}`);
        assert.equal(e.kind, kind, e.message);
        return e;
    }
    assert.fail(`expected a ${kind} error`);
}
