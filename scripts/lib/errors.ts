// Expected failures of the release tooling. The entry points print these as one line and exit
// non-zero; anything else is a bug and keeps its stack trace.

export type OpsErrorKind =
    | "usage"
    | "cli-missing"
    | "no-stack"
    | "concurrent-update"
    | "missing-output"
    | "bad-output"
    | "config"
    | "unhealthy"
    | "command"
    | "up-failed"
    | "rolled-back"
    | "rollback-failed"
    | "smoke-failed"
    | "git"
    | "no-machines"
    | "host-key"
    | "login"
    | "pending-changes"
    | "live-changed"
    | "no-capacity";

export class OpsError extends Error {
    constructor(readonly kind: OpsErrorKind, message: string) {
        super(message);
        this.name = "OpsError";
    }
}

export function isOpsError(e: unknown, kind?: OpsErrorKind): e is OpsError {
    return e instanceof OpsError && (kind === undefined || e.kind === kind);
}
