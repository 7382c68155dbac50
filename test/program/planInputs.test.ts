// What a `pulumi preview` compares: every custom resource's URN, provider and inputs, for each
// stack's real YAML (and one of the operator's own servers), through the real index.ts under strict
// mocks. Recorded in test/golden/plan-inputs.<case>.json from main before the scripts moved to
// infra/shell (issue 22), so a refactor that changes one byte of a rendered script, a name or an
// input fails here: against state written by that main, such a change would plan an update or a
// replacement (a cloud VM's user data is replace-on-change). Slots are pinned to a fixed commit so
// the files do not move with HEAD. Rewrite after an intended change only, with
// `UPDATE_GOLDEN=1 /work/tools/m test/program/planInputs.test.ts`, and review the diff.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { runProgramFresh, secret } from "../helpers/stack";
import { OPERATOR_SSH_KEY } from "./hosts.ssh.test";

/** main when the files were recorded; any commit of this repository that holds the app would do. */
const COMMIT = "b29131b1ac6885dd77d39e9594d0a2030474b033";
const SLOTS = { blue: { release: "main", commit: COMMIT }, green: { release: "main", commit: COMMIT } };

const CASES: Record<string, [stack: string, overrides: Record<string, unknown>]> = {
    local: ["local", {}],
    dev: ["dev", {}],
    prod: ["prod", {}],
    servers: ["dev", {
        clouds: ["ssh"],
        ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "gpu2.example.com", port: 2222, user: "gpuops", gpu: false }] },
        sshPrivateKey: secret(OPERATOR_SSH_KEY),
    }],
};

describe("plan inputs: every resource's URN and inputs, as main recorded them (test/golden/plan-inputs.*.json)", () => {
    for (const [name, [stack, overrides]] of Object.entries(CASES)) {
        it(`${name}: byte for byte`, async function () {
            this.timeout(120_000);
            const run = await runProgramFresh(stack, { slots: SLOTS, ...overrides });
            const seen = run.resources.filter((r) => r.custom).map((r) => ({ urn: r.urn, provider: r.provider ?? "", inputs: r.inputs }));
            const text = JSON.stringify(seen, null, 1) + "\n";
            const file = path.join(__dirname, "..", "golden", `plan-inputs.${name}.json`);
            if (process.env.UPDATE_GOLDEN === "1") fs.writeFileSync(file, text);
            assert.ok(fs.existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
            const want = JSON.parse(fs.readFileSync(file, "utf8")) as typeof seen;
            // Per resource first, so a failure names the one that changed.
            assert.deepStrictEqual(seen.map((r) => r.urn), want.map((r) => r.urn), "the same resources, in the same order");
            for (let i = 0; i < want.length; i++) assert.deepStrictEqual(seen[i], want[i], want[i].urn);
            assert.strictEqual(text, fs.readFileSync(file, "utf8"));
        });
    }
});
