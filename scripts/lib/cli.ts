// Argument parsing and the shared main() of the entry points: one-line errors for expected
// failures, a stack trace only for bugs, ^C forwarded to a running `pulumi up`.
import { isOpsError, OpsError } from "./errors";
import { accessFromOutputs, httpChecker } from "./health";
import { Deps } from "./promote";
import { openStack, StackOps } from "./stackOps";

export interface CliArgs {
    readonly stack: string;
    readonly release?: string;
    readonly workdir: boolean;
}

export interface CliSpec {
    /** Script name for messages, e.g. "promote". */
    readonly name: string;
    /** Whether --release/--workdir are accepted. */
    readonly releaseFlags: boolean;
}

export function usage(spec: CliSpec): string {
    const extra = spec.releaseFlags ? " [--release R | --workdir]" : "";
    return `usage: npm run ${spec.name} -- --stack S${extra}`;
}

const STACK = /^[A-Za-z0-9_./-]+$/;

/** Parses `--stack S` / `--stack=S`, and for release `--release R` / `--workdir`; "help" for --help. */
export function parseArgs(argv: readonly string[], spec: CliSpec): CliArgs | "help" {
    const fail = (why: string): never => {
        throw new OpsError("usage", `${why}\n${usage(spec)}`);
    };
    let stack: string | undefined;
    let release: string | undefined;
    let workdir = false;
    for (let i = 0; i < argv.length; i++) {
        const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        const flag = m?.[1];
        const value = () => m?.[2] ?? (i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : fail(`${flag} needs a value`));
        if (flag === "--stack") stack = value();
        else if (flag === "--release" && spec.releaseFlags) release = value();
        else if (flag === "--workdir" && spec.releaseFlags && m?.[2] === undefined) workdir = true;
        else if ((flag === "--help" || argv[i] === "-h") && m?.[2] === undefined) return "help";
        else fail(`unknown argument ${JSON.stringify(argv[i])}`);
    }
    if (!stack) return fail("--stack is required");
    if (!STACK.test(stack)) fail(`--stack must be a stack name, got ${JSON.stringify(stack)}`);
    if (release !== undefined && workdir) fail("give --release or --workdir, not both");
    return { stack, release, workdir };
}

/** 2 for a usage error, 1 for any other failure (including a promotion that rolled back). */
export function exitCode(e: unknown): number {
    return isOpsError(e, "usage") ? 2 : 1;
}

/** What the operator sees: one line for expected failures, the stack trace only for bugs. */
export function errorText(spec: CliSpec, e: unknown): string {
    if (isOpsError(e, "usage")) return `${spec.name}: ${e.message}`;
    if (isOpsError(e)) return `${spec.name} failed: ${e.message}`;
    return `${spec.name} failed unexpectedly (a bug; please report):\n${e instanceof Error ? e.stack : String(e)}`;
}

/**
 * Runs an entry point: parses args, opens the stack, hands `run` the dependencies; exits 0 on
 * success, 1 on failure, 2 on a usage error.
 */
export function main(spec: CliSpec, run: (deps: Deps, args: CliArgs) => Promise<unknown>): void {
    const abort = new AbortController();
    let upRunning = false;
    process.on("SIGINT", () => {
        // The terminal's ^C also reaches pulumi (same process group), which then cancels cleanly and
        // releases its lock; so wait for it rather than forwarding a second, forcing SIGINT.
        if (!upRunning || abort.signal.aborted) process.exit(130);
        process.stderr.write(`\n${spec.name}: interrupted; waiting for pulumi up to stop (^C again to quit now)\n`);
        abort.abort();
    });
    /** Runs a pulumi operation that ^C should let finish cleanly (up, refresh). */
    const whileRunning = async <T>(op: () => Promise<T>): Promise<T> => {
        upRunning = true;
        try {
            return await op();
        } finally {
            upRunning = false;
        }
    };
    (async () => {
        const args = parseArgs(process.argv.slice(2), spec);
        if (args === "help") {
            console.log(usage(spec));
            return;
        }
        const opened = await openStack({ stackName: args.stack });
        const stack: StackOps = {
            name: opened.name,
            outputs: () => opened.outputs(),
            getConfig: (k) => opened.getConfig(k),
            setConfig: (k, v) => opened.setConfig(k, v),
            exportState: () => opened.exportState(),
            importState: (s) => opened.importState(s),
            refresh: (targets) => whileRunning(() => opened.refresh(targets)),
            up: () => whileRunning(() => opened.up()),
        };
        // The checks send the stack's API key and trust its hosts' internal CAs (both from its outputs).
        const access = accessFromOutputs(await opened.outputs().catch(() => ({})));
        await run({ stack, checker: httpChecker(access), log: (line) => console.log(line), signal: abort.signal }, args);
    })().then(
        () => process.exit(0),
        (e: unknown) => {
            process.stderr.write(`${errorText(spec, e)}\n`);
            process.exit(exitCode(e));
        },
    );
}
