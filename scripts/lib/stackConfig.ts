// The one way the operator scripts read a stack's config: every `gpu-hosts:` value at once, through
// the program's own loader (infra/config loadConfig). A script so sees the defaults, types and checks
// the program sees, and a bad value is refused before anything runs, every problem named in one line.
// Slots may be unpinned: the scripts read a new stack's config before they pin it (up, preview,
// deploy, release). Writing config stays StackOps.setConfig.
import * as path from "path";
import { AppConfig, ConfigError, SlotConfig, StackConfig, loadConfig } from "../../infra/config";
import { OpsError } from "./errors";
import { PROJECT_ROOT, StackOps } from "./stackOps";

/** The stack's config, validated as the program validates it (slots may be unpinned); OpsError "config" listing every problem. */
export async function readStackConfig(stack: Pick<StackOps, "name" | "allConfig">): Promise<StackConfig> {
    const raw = await stack.allConfig();
    try {
        return loadConfig(stack.name, raw.values, (k) => raw.secrets.includes(k));
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        const n = e.problems.length;
        throw new OpsError("config", `the config of stack ${stack.name} has ${n} problem${n === 1 ? "" : "s"}: ${e.problems.join("; ")}`);
    }
}

/** The app's build context (gpu-hosts:app.context), as an absolute path. */
export function appContextDir(cfg: { readonly app: Pick<AppConfig, "context"> }, root = PROJECT_ROOT): string {
    return path.resolve(root, cfg.app.context);
}

/** Pins release name `release` of the app in `contextDir` to a commit (scripts/lib/pin.ts pinRelease). */
export type Pinner = (contextDir: string, release: string) => SlotConfig;
