// npm run status -- --stack S [--json] [--watch]
// One look at every host of the stack: slots and releases, containers, queues and recent jobs, GPUs,
// price and cost, and a verdict. Exit code: OK 0, DEGRADED 1, DOWN 2 (and 2 when it cannot answer).
// --json prints one document of the schema in scripts/lib/status/schema.json; --watch repeats every
// few seconds until ^C.
import { main } from "./lib/cli";
import { runStatus } from "./lib/status/run";

main({ name: "status", switches: ["json", "watch"], failureExitCode: 2, checker: false }, (deps, args) =>
    runStatus(deps.stack, { json: args.json, watch: args.watch }));
