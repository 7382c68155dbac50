// npm run release -- --stack S [--release R | --workdir]
// Pins the release (a git ref to its commit, --workdir to the app context on disk, pushed to origin
// for a shared stack; without either, the app context's HEAD), deploys it into the idle slot only,
// waits for it to be healthy and smoke-tests it with one real job.
import { main } from "./lib/cli";
import { dirtyNote, pinnerFor, WORKDIR } from "./lib/pin";
import { release } from "./lib/release";

main({ name: "release", releaseFlag: true, switches: ["workdir"] }, (deps, args) => {
    const name = args.workdir ? WORKDIR : args.release ?? "HEAD";
    // Without --release, HEAD: say so when the context on disk has changes HEAD does not hold.
    return release(deps, { release: name, pin: pinnerFor(deps.stack.name, deps.log), note: name === "HEAD" ? (dir) => dirtyNote(dir, "HEAD") : undefined });
});
