// npm run preview [-- --stack S]: what `npm run up` would change, per slot. Pins unpinned slots first
// (config only), as up would.
import { main } from "./lib/cli";
import { pinRelease } from "./lib/pin";
import { appContextDir, preview } from "./lib/up";

main({ name: "preview", defaultStack: "local", createLocal: true }, async (deps) => {
    const contextDir = await appContextDir(deps.stack);
    await preview(deps, (r) => pinRelease(contextDir, r));
});
