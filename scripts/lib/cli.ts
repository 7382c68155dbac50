// Argument parsing and the shared main() of the entry points: one-line errors for expected
// failures, a stack trace only for bugs, ^C forwarded to a running `pulumi up`.
import { OutputsError, parseStackOutputs } from "../../infra/contract/parseOutputs";
import { isOpsError, OpsError } from "./errors";
import { Access, accessFromOutputs, httpChecker } from "./health";
import { Deps } from "./deployed";
import { openStack, StackOps } from "./stackOps";

export interface CliArgs {
    readonly stack: string;
    /** --release R */
    readonly release?: string;
    /** --workdir */
    readonly workdir: boolean;
    /** --json */
    readonly json: boolean;
    /** --watch */
    readonly watch: boolean;
    /** --cheapest */
    readonly cheapest: boolean;
}

/** A boolean flag an entry point may accept. */
export type Switch = "workdir" | "json" | "watch" | "cheapest";

export interface CliSpec {
    /** Script name for messages, e.g. "promote". */
    readonly name: string;
    /** Whether --release R is accepted. Defaults to false. */
    readonly releaseFlag?: boolean;
    /** The boolean flags accepted. Defaults to none. */
    readonly switches?: readonly Switch[];
    /** The stack when --stack is not given; without one, --stack is required. Defaults to none. */
    readonly defaultStack?: string;
    /**
     * Create the `local` stack when it does not exist (npm run up on a fresh clone). Other stacks are
     * never created here: their backend and secrets provider are the operator's choice. Defaults to false.
     */
    readonly createLocal?: boolean;
    /**
     * Exit code of a failure that is not a usage error (no stack, no CLI, a bug). `npm run status`
     * sets 2: its 1 means DEGRADED, and a status that could not answer must not read as one.
     * Defaults to 1.
     */
    readonly failureExitCode?: number;
    /**
     * Whether `run` uses deps.checker. Its key and CAs come from the outputs, which costs a Pulumi CLI
     * call before `run` starts; status reads the outputs itself. Defaults to true.
     */
    readonly checker?: boolean;
}

export function usage(spec: CliSpec): string {
    const stack = spec.defaultStack ? `[--stack S]` : "--stack S";
    const extra = [
        ...(spec.releaseFlag ? [spec.switches?.includes("workdir") ? "[--release R | --workdir]" : "[--release R]"] : []),
        ...(spec.switches ?? []).filter((s) => !(s === "workdir" && spec.releaseFlag)).map((s) => `[--${s}]`),
    ];
    return `usage: npm run ${spec.name} -- ${[stack, ...extra].join(" ")}${spec.defaultStack ? ` (the stack defaults to ${spec.defaultStack})` : ""}`;
}

const STACK = /^[A-Za-z0-9_./-]+$/;

/** Parses `--stack S` / `--stack=S`, `--release R` and the spec's switches; "help" for --help. */
export function parseArgs(argv: readonly string[], spec: CliSpec): CliArgs | "help" {
    const fail = (why: string): never => {
        throw new OpsError("usage", `${why}\n${usage(spec)}`);
    };
    const switches = new Set(spec.switches ?? []);
    let stack: string | undefined;
    let release: string | undefined;
    const on = new Set<Switch>();
    for (let i = 0; i < argv.length; i++) {
        const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        const flag = m?.[1];
        const value = () => m?.[2] ?? (i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : fail(`${flag} needs a value`));
        const name = flag?.slice(2) as Switch | undefined;
        if (flag === "--stack") stack = value();
        else if (flag === "--release" && spec.releaseFlag) release = value();
        else if (name && switches.has(name) && m?.[2] === undefined) on.add(name);
        else if ((flag === "--help" || argv[i] === "-h") && m?.[2] === undefined) return "help";
        else fail(`unknown argument ${JSON.stringify(argv[i])}`);
    }
    stack ??= spec.defaultStack;
    if (!stack) return fail("--stack is required");
    if (!STACK.test(stack)) fail(`--stack must be a stack name, got ${JSON.stringify(stack)}`);
    if (release !== undefined && on.has("workdir")) fail("give --release or --workdir, not both");
    return { stack, release, workdir: on.has("workdir"), json: on.has("json"), watch: on.has("watch"), cheapest: on.has("cheapest") };
}

/** 2 for a usage error, else the spec's failureExitCode: 1 for any other failure (including a promotion that rolled back). */
export function exitCode(e: unknown, spec?: CliSpec): number {
    return isOpsError(e, "usage") ? 2 : spec?.failureExitCode ?? 1;
}

/** What the operator sees: one line for expected failures, the stack trace only for bugs. */
export function errorText(spec: CliSpec, e: unknown): string {
    if (isOpsError(e, "usage")) return `${spec.name}: ${e.message}`;
    if (isOpsError(e)) return `${spec.name} failed: ${e.message}`;
    return `${spec.name} failed unexpectedly (a bug; please report):\n${e instanceof Error ? e.stack : String(e)}`;
}

/**
 * Runs an entry point: parses args, opens the stack, hands `run` the dependencies; exits with what
 * `run` returns (0 when it returns nothing), 1 on failure, 2 on a usage error.
 */
export function main(spec: CliSpec, run: (deps: Deps, args: CliArgs) => Promise<unknown>): void {
    const abort = new AbortController();
    let upRunning = false;
    process.on("SIGINT", () => {
        // The terminal's ^C also reaches pulumi (same process group), which then cancels cleanly and
        // releases its lock; so wait for it rather than forwarding a second, forcing SIGINT.
        if (!upRunning || abort.signal.aborted) process.exit(130);
        process.stderr.write(`\n${spec.name}: interrupted; waiting for pulumi to stop (^C again to quit now)\n`);
        abort.abort();
    });
    /** Runs a pulumi operation that ^C should let finish cleanly (up, refresh, destroy). */
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
            return 0;
        }
        const opened = await openStack({ stackName: args.stack, create: spec.createLocal === true && args.stack === "local" });
        const stack: StackOps = {
            name: opened.name,
            outputs: () => opened.outputs(),
            allConfig: () => opened.allConfig(),
            setConfig: (k, v) => opened.setConfig(k, v),
            exportState: () => opened.exportState(),
            importState: (s) => opened.importState(s),
            preview: () => whileRunning(() => opened.preview()),
            refresh: (targets) => whileRunning(() => opened.refresh(targets)),
            up: (opts) => whileRunning(() => opened.up(opts)),
            history: (n) => opened.history(n),
            destroy: () => whileRunning(() => opened.destroy()),
        };
        // The checks send the operator scripts' own API key and trust the hosts' internal CAs (both
        // from the outputs); a stack never deployed has none yet.
        const access = spec.checker === false ? {} : await accessOf(opened);
        const result = await run({ stack, checker: httpChecker(access), log: (line) => console.log(line), signal: abort.signal }, args);
        return typeof result === "number" ? result : 0;
    })().then(
        (code) => process.exit(code),
        (e: unknown) => {
            process.stderr.write(`${errorText(spec, e)}\n`);
            process.exit(exitCode(e, spec));
        },
    );
}

/**
 * The key and CAs the checks use, from the stack's outputs; none for a stack without them (never
 * deployed), whose script then says so itself when it reads the outputs.
 */
async function accessOf(stack: Pick<StackOps, "outputs">): Promise<Access> {
    try {
        return accessFromOutputs(parseStackOutputs(await stack.outputs()));
    } catch (e) {
        if (e instanceof OutputsError || isOpsError(e)) return {};
        throw e;
    }
}
