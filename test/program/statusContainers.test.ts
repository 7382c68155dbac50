// npm run status judges a host by the containers the program runs on it: the names it expects
// (scripts/lib/status/containers.ts) are the names the real program gives them, here under the mocks.
import * as assert from "assert";
import { expectedContainers } from "../../scripts/lib/status/containers";
import { runProgram } from "../helpers/stack";

describe("status: the containers it expects are the program's", () => {
    for (const [stack, hosts] of [["local", ["local"]], ["dev", ["aws", "gcp", "azure"]]] as const) {
        it(`${stack} stack`, async () => {
            const run = await runProgram(stack);
            // A container the provider names (the key service) is expected under its resource's name.
            const names = run.byType("docker:index/container:Container").map((c) => String(c.inputs.name ?? c.name));
            const auth = names.some((n) => n.endsWith("-proxy-auth"));
            for (const h of hosts) {
                assert.deepStrictEqual(names.filter((n) => n.startsWith(`${h}-app-`)).sort(), expectedContainers(h, auth).sort());
            }
        });
    }
});
