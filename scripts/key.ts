// npm run -s key [-- --stack S]: the stack's generated client API key (a secret), printed only when asked.
import { main } from "./lib/cli";
import { readDeployed } from "./lib/deployed";
import { OpsError } from "./lib/errors";

main({ name: "key", defaultStack: "local" }, async (deps) => {
    const key = readDeployed(await deps.stack.outputs(), deps.stack.name).outputs.apiKey;
    if (key === undefined) throw new OpsError("missing-output", `stack ${deps.stack.name} has no API key: deploy it first (npm run up -- --stack ${deps.stack.name}), or it runs with gpu-hosts:auth.enabled false`);
    process.stdout.write(`${key}\n`);
});
