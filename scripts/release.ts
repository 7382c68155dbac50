// npm run release -- --stack S [--release R | --workdir]
// Deploys a release into the idle slot, waits for it to be healthy, smoke-tests it with one real job.
import * as path from "path";
import { main } from "./lib/cli";
import { defaultRelease } from "./lib/git";
import { release } from "./lib/promote";
import { PROJECT_ROOT, StackOps } from "./lib/stackOps";

/** The app build context from config gpu-hosts:app (context), else the default "app". */
async function appContextDir(stack: StackOps): Promise<string> {
    const raw = await stack.getConfig("app");
    let context = "app";
    try {
        const v = raw === undefined ? undefined : JSON.parse(raw);
        if (typeof v?.context === "string") context = v.context;
    } catch {
        // Malformed app config is reported by the program itself during up.
    }
    return path.resolve(PROJECT_ROOT, context);
}

main({ name: "release", releaseFlags: true }, async (deps, args) => {
    let rel = args.release;
    if (rel === undefined) {
        const appDir = args.workdir ? PROJECT_ROOT : await appContextDir(deps.stack);
        const r = defaultRelease(appDir, args.workdir);
        deps.log(args.workdir ? `release ${r.release}: the app context as it is on disk` : `release ${r.release}: git HEAD of ${path.relative(PROJECT_ROOT, appDir) || "."}`);
        if (r.note) deps.log(`note: ${r.note}`);
        rel = r.release;
    }
    await release(deps, { release: rel });
});
