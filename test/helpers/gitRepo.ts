// Throwaway git repositories for tests of pinning and building releases.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface TempRepo {
    readonly dir: string;
    /** Runs git in the repository and returns its trimmed stdout. */
    git(...args: string[]): string;
    /** Writes a file (relative path), creating its directories. */
    write(rel: string, content: string, mode?: number): void;
    remove(): void;
}

/** A new repository; a git hook running the suite exports GIT_DIR & co, which must not leak in. */
export function tempRepo(prefix = "gpu-hosts-repo-"): TempRepo {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_")));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8", env }).trim();
    git("init", "-q");
    return {
        dir,
        git,
        write: (rel, content, mode) => {
            fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
            fs.writeFileSync(path.join(dir, rel), content, mode === undefined ? undefined : { mode });
        },
        remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}
