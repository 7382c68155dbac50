// npm run release -- --stack S [--release R | --workdir]
// Pins the release (a git ref to its commit, --workdir to a snapshot of the app context on disk;
// without either, the app context's HEAD), deploys it into the idle slot only, waits for it to be
// healthy and smoke-tests it with one real job.
import { main } from "./lib/cli";
import { dirtyNote, pinRelease, WORKDIR } from "./lib/pin";
import { release } from "./lib/release";
import { appContextDir } from "./lib/up";

main({ name: "release", releaseFlag: true, switches: ["workdir"] }, async (deps, args) => {
    const contextDir = await appContextDir(deps.stack);
    const name = args.workdir ? WORKDIR : args.release ?? "HEAD";
    if (name === "HEAD") {
        const note = dirtyNote(contextDir, "HEAD");
        if (note) deps.log(`note: ${note}`);
    }
    await release(deps, { release: name, pin: (r) => pinRelease(contextDir, r) });
});
