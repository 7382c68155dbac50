// npm run up [-- --stack S]   (the stack defaults to local, created on first use)
// Pins every slot the program would pin (a new stack: both to one snapshot of the app context on
// disk; a release name set by hand), pushing a workdir pin of a shared stack to origin first, then
// `pulumi up`, then what changed per slot and every host's URLs.
import { main } from "./lib/cli";
import { pinnerFor } from "./lib/pin";
import { up } from "./lib/up";

main({ name: "up", defaultStack: "local", createLocal: true }, async (deps, args) => {
    await up(deps, pinnerFor(deps.stack.name, deps.log));
    if (args.stack === "local") deps.log("\nAPI key: npm run -s key   (send it as: Authorization: Bearer <key>)");
});
