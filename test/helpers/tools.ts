// External tools some tests need (cloud-init, shellcheck, caddy). Under CI=true a missing tool fails
// the test, so a CI image without it cannot pass silently; elsewhere the test is skipped.
import * as fs from "fs";
import * as path from "path";

const INSTALL_HINTS: Record<string, string> = {
    "cloud-init": "apt-get install -y cloud-init",
    shellcheck: "apt-get install -y shellcheck",
    caddy: "apt-get install -y caddy",
    sshd: "apt-get install -y openssh-server",
    openssl: "apt-get install -y openssl",
    curl: "apt-get install -y curl",
    "ssh-keygen": "apt-get install -y openssh-client",
};

/** Absolute path of `name` on PATH, or undefined. */
export function findTool(name: string): string | undefined {
    // sshd lives in /usr/sbin, which a non-login PATH may lack (scripts/bootstrap.sh looks there too).
    for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin"]) {
        if (dir === "") continue;
        const candidate = path.join(dir, name);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            if (fs.statSync(candidate).isFile()) return candidate;
        } catch {
            // not here
        }
    }
    return undefined;
}

/** True when running under CI (`CI=true`), where missing tools fail instead of skip. */
export function isCI(): boolean {
    return process.env.CI === "true";
}

/**
 * Returns the path of `name`. If it is missing: throws under CI, otherwise prints why and
 * skips the calling test or hook (`ctx` is mocha's `this`).
 */
export function requireTool(name: string, ctx: Mocha.Context): string {
    const found = findTool(name);
    if (found) return found;
    const hint = INSTALL_HINTS[name] ? ` (install it with \`${INSTALL_HINTS[name]}\`)` : "";
    if (isCI()) {
        throw new Error(`${name} is required when CI=true but is not on PATH${hint}`);
    }
    console.warn(`      skipping: ${name} is not on PATH${hint}`);
    return ctx.skip();
}
