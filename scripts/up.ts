// npm run up [-- --stack S]   (the stack defaults to local, created on first use)
// Pins any slot without a commit (a new stack: both to one snapshot of the app context on disk),
// then `pulumi up`, then what changed per slot and every host's URLs.
import { main } from "./lib/cli";
import { pinRelease } from "./lib/pin";
import { up } from "./lib/up";

main({ name: "up", defaultStack: "local", createLocal: true }, async (deps, args) => {
    await up(deps, pinRelease);
    if (args.stack === "local") deps.log("\nAPI key: npm run -s key   (send it as: Authorization: Bearer <key>)");
});
