// The slice of a Pulumi stack the release scripts need, as an interface so promotion logic can be
// tested against an in-memory stand-in, and its real implementation over the Automation API.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../../infra/vocabulary";
import { ChangeLog, ResourceChange, nameOf } from "./changes";
import { OpsError } from "./errors";
import { ErrorLog, INSTALL, UpFailedError, cliMissingReason, headline, mapStackError, registryLimitHint, stderrOf } from "./engineErrors";
import { RecoverOps, StackState } from "./recover";

/** The Pulumi project directory (holds Pulumi.yaml). */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export interface UpSummary {
    /** Resource operation counts reported by the update, e.g. { update: 1, same: 40 }. */
    readonly changes: Readonly<Record<string, number>>;
    /** Each resource the update changed, from the engine's step events. */
    readonly resources: readonly ResourceChange[];
}

/** A stack's raw `gpu-hosts:` config, as infra/config loadConfig reads it (scripts/lib/stackConfig.ts readStackConfig). */
export interface RawConfig {
    readonly values: Readonly<Record<string, string>>;
    readonly secrets: readonly string[];
    /**
     * Every key of the stack's config as the CLI gives it (namespaced, project defaults included,
     * secrets in plain text): what a swap compares with the config of the last update
     * (scripts/lib/pending.ts). Absent where a caller has only the `gpu-hosts:` values.
     */
    readonly all?: Readonly<Record<string, ConfigEntry>>;
}

/** One config value as the CLI reports it (`pulumi config --json`, and each update's config in the history). */
export interface ConfigEntry {
    readonly value: string;
    readonly secret: boolean;
}

/** One operation in the stack's history, newest first (`pulumi stack history`). */
export interface UpdateRecord {
    /** "update", "refresh", "destroy", "import", ... (pulumi/pulumi sdk/go/common/apitype UpdateKind). */
    readonly kind: string;
    /** "succeeded", "failed", "in-progress", "not-started". */
    readonly result: string;
    /** When it started. */
    readonly startTime: Date;
    /** The config it ran with, every key (secrets in plain text). */
    readonly config: Readonly<Record<string, ConfigEntry>>;
}

/** What an `up` may be limited to. */
export interface UpOptions {
    /**
     * URNs or URN globs (`*` within a URN part, `**` across parts) of the only resources the update
     * may change (`pulumi up --target`); the engine runs the whole program but gives every other
     * resource its old state. Defaults to none: everything.
     */
    readonly targets?: readonly string[];
}

export interface StackOps extends RecoverOps {
    /** Stack name, for messages. */
    readonly name: string;
    /** The stack's outputs as plain values (secrets included, unmasked). */
    outputs(): Promise<Record<string, unknown>>;
    /**
     * Every `gpu-hosts:` key as the program gets it (namespace stripped, objects as JSON text), and
     * which are secrets. Scripts read config through readStackConfig (stackConfig.ts), never raw.
     */
    allConfig(): Promise<RawConfig>;
    /**
     * Sets `gpu-hosts:<key>`. An object is written as a YAML object whose leaves keep their JSON
     * types (`pulumi config set-all --json`), so a release "1.20" or an all-digit commit stays a
     * string, which `--path` would turn into a number.
     */
    setConfig(key: string, value: string | object): Promise<void>;
    /** `pulumi preview` of the stack: each resource an up would change now. */
    preview(): Promise<readonly ResourceChange[]>;
    /** `pulumi up` of the stack (only `targets`, when given), output streamed as it runs. */
    up(opts?: UpOptions): Promise<UpSummary>;
    /** The stack's latest `pageSize` operations, newest first, their config included. */
    history(pageSize: number): Promise<readonly UpdateRecord[]>;
    /** `pulumi destroy` of the stack, output streamed as it runs. */
    destroy(): Promise<UpSummary>;
}

export interface OpenStackOptions {
    readonly stackName: string;
    /** Project directory. Defaults to PROJECT_ROOT. */
    readonly workDir?: string;
    /**
     * Directory holding bin/pulumi. Defaults to where the pinned `pulumi` npm launcher installed the
     * CLI (installedCli), else the `pulumi` found on PATH (under npm run, that launcher, which
     * installs it on first use).
     */
    readonly pulumiRoot?: string;
    /** Receives `pulumi up` output as it streams. Defaults to process.stdout. */
    readonly onOutput?: (text: string) => void;
    /** Aborting sends SIGINT to a running `pulumi up` (for callers whose child gets no terminal ^C). */
    readonly signal?: AbortSignal;
    /**
     * Create the stack when it does not exist (npm run up of the local stack), with the passphrase
     * secrets provider. Defaults to false: select an existing stack only.
     */
    readonly create?: boolean;
}

/**
 * Environment for the stack's CLI calls: the `local` stack lives in a file backend inside the
 * project with an empty default passphrase, exactly as `npm run up` sets it up,
 * whatever PULUMI_BACKEND_URL the shell exports (that one is for the cloud stacks).
 */
export function stackEnv(stackName: string, workDir: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    if (stackName !== "local") return {};
    return {
        PULUMI_BACKEND_URL: `file://${path.join(workDir, ".pulumi", "state")}`,
        PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE ?? "",
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
}

/** Selects a stack through the Automation API; creates it only when `create` is set. */
export async function openStack(o: OpenStackOptions): Promise<StackOps> {
    let cmd: PulumiCommand;
    try {
        const root = o.pulumiRoot ?? installedCliRoot();
        cmd = await PulumiCommand.get(root ? { root } : undefined);
    } catch (e) {
        throw new OpsError("cli-missing", cliMissingReason(e) ?? `the Pulumi CLI could not be started (${headline(stderrOf(e))}); ${INSTALL}`);
    }
    const workDir = o.workDir ?? PROJECT_ROOT;
    // The local stack's file backend lives in the project; a fresh clone has no directory for it yet.
    if (o.stackName === "local") fs.mkdirSync(path.join(workDir, ".pulumi", "state"), { recursive: true });
    const envVars = stackEnv(o.stackName, workDir);
    let stack: Stack;
    try {
        const ws = { pulumiCommand: cmd, envVars };
        stack = o.create
            ? await LocalWorkspace.createOrSelectStack({ stackName: o.stackName, workDir }, { ...ws, secretsProvider: "passphrase" })
            : await LocalWorkspace.selectStack({ stackName: o.stackName, workDir }, ws);
    } catch (e) {
        throw mapStackError(e, o.stackName, "selecting the stack");
    }
    const cli = (args: readonly string[]) => runCli(cmd.command, [...args, "--stack", o.stackName], workDir, envVars);
    return new AutomationStackOps(stack, cli, o.onOutput ?? ((t) => process.stdout.write(t)), o.signal);
}

/**
 * The pinned CLI's binary where the `pulumi` npm launcher installs it
 * ($PULUMI_HOME/versions/<version>/bin/pulumi: node_modules/pulumi/lib/resolve.js and lib/cache.js;
 * scripts/engine.sh relies on the same layout), or undefined before its first install. The scripts
 * run it directly: under `npm run`, `pulumi` on PATH is that launcher, a Node.js process that added
 * ~0.4 s to every CLI call here (docs/tests.md, "Start-up"). Before the first install they run the
 * launcher, which downloads the CLI in its own process and says so if it cannot.
 */
export function installedCli(): string | undefined {
    const { cacheDir } = require("pulumi/lib/cache") as { cacheDir(version: string): string };
    const { isExecutable } = require("pulumi/lib/resolve") as { isExecutable(file: string): boolean };
    const version = process.env.PULUMI_VERSION || (require("pulumi/package.json") as { version: string }).version;
    const bin = path.join(cacheDir(version), "bin", "pulumi");
    return isExecutable(bin) ? bin : undefined;
}

/** The installation root PulumiCommand.get takes (it runs `<root>/bin/pulumi`), if the CLI is installed. */
function installedCliRoot(): string | undefined {
    const bin = installedCli();
    return bin && path.dirname(path.dirname(bin));
}

/** A bare CLI call, for a read the Automation API would make in two (stackOutputs runs `stack output` masked, then again unmasked). */
async function runCli(bin: string, args: readonly string[], cwd: string, envVars: Readonly<Record<string, string>>): Promise<string> {
    // The environment PulumiCommand.run gives the CLI (automation/cmd.js): its own directory first on
    // PATH (the plugins installed beside it), PULUMI_AUTOMATION_API, and --non-interactive.
    const PATH = path.isAbsolute(bin) ? `${path.dirname(bin)}${path.delimiter}${envVars.PATH ?? process.env.PATH ?? ""}` : (envVars.PATH ?? process.env.PATH ?? "");
    const { stdout } = await promisify(execFile)(bin, [...args, "--non-interactive"], {
        cwd, env: { ...process.env, ...envVars, PATH, PULUMI_AUTOMATION_API: "true" }, maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
}

/** A config map as the Automation API reads it, reduced to value and secret flag. */
function configEntries(map: Readonly<Record<string, { value: string; secret?: boolean }>>): Record<string, ConfigEntry> {
    return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, { value: v.value, secret: v.secret === true }]));
}

class AutomationStackOps implements StackOps {
    constructor(
        private readonly stack: Stack,
        private readonly cli: (args: readonly string[]) => Promise<string>,
        private readonly onOutput: (t: string) => void,
        private readonly signal?: AbortSignal,
    ) {}

    get name(): string {
        return this.stack.name;
    }

    async outputs(): Promise<Record<string, unknown>> {
        try {
            // Plain values are all a script needs, so one unmasked read, not the Automation API's two.
            return JSON.parse(await this.cli(["stack", "output", "--json", "--show-secrets"])) as Record<string, unknown>;
        } catch (e) {
            throw mapStackError(e, this.name, "reading outputs");
        }
    }

    async allConfig(): Promise<RawConfig> {
        try {
            const all = await this.stack.getAllConfig();
            const values: Record<string, string> = {};
            const secrets: string[] = [];
            for (const [k, v] of Object.entries(all)) {
                if (!k.startsWith(`${NAMESPACE}:`)) continue;
                const key = k.slice(NAMESPACE.length + 1);
                values[key] = v.value;
                if (v.secret) secrets.push(key);
            }
            return { values, secrets, all: configEntries(all) };
        } catch (e) {
            throw mapStackError(e, this.name, "reading the config");
        }
    }

    async setConfig(key: string, value: string | object): Promise<void> {
        try {
            if (typeof value === "string") {
                await this.stack.setConfig(`${NAMESPACE}:${key}`, { value });
            } else {
                const json = JSON.stringify(value);
                await this.stack.setAllConfigJson(JSON.stringify({ [`${NAMESPACE}:${key}`]: { value: json, objectValue: value, secret: false } }));
            }
        } catch (e) {
            throw mapStackError(e, this.name, `setting config ${NAMESPACE}:${key}`);
        }
    }

    async preview(): Promise<readonly ResourceChange[]> {
        const log = new ChangeLog();
        try {
            await this.stack.preview({
                onEvent: (ev) => ev.resourcePreEvent && log.add(ev.resourcePreEvent.metadata.op, ev.resourcePreEvent.metadata.urn),
                signal: this.signal,
            });
        } catch (e) {
            throw mapStackError(e, this.name, "pulumi preview");
        }
        return log.changes;
    }

    async history(pageSize: number): Promise<readonly UpdateRecord[]> {
        try {
            const list = await this.stack.history(pageSize, 1, true);
            return list.map((u) => ({ kind: u.kind, result: u.result, startTime: u.startTime, config: configEntries(u.config ?? {}) }));
        } catch (e) {
            throw mapStackError(e, this.name, "reading the history");
        }
    }

    async up(opts: UpOptions = {}): Promise<UpSummary> {
        const log = new ChangeLog();
        const errors = new ErrorLog();
        try {
            const r = await this.stack.up({
                ...(opts.targets?.length ? { target: [...opts.targets] } : {}),
                onOutput: this.onOutput,
                onError: this.onOutput,
                // The scripts print what matters themselves (per-slot changes, URLs); the full output
                // list is `pulumi stack output`.
                suppressOutputs: true,
                // Steps that completed: what the update really did, resource by resource; and each
                // resource's own error, which says more than the engine's closing "update failed".
                onEvent: (ev) => {
                    if (ev.resOutputsEvent) log.add(ev.resOutputsEvent.metadata.op, ev.resOutputsEvent.metadata.urn);
                    errors.add(ev);
                },
                signal: this.signal,
            });
            return { changes: { ...(r.summary?.resourceChanges ?? {}) }, resources: log.changes };
        } catch (e) {
            const mapped = mapStackError(e, this.name, "pulumi up");
            const headline = errors.headline();
            if (mapped.kind !== "up-failed") throw mapped;
            // Docker Hub's rate limit, wherever a pull met it: said once, with the config that lifts it.
            for (const x of errors.errors) {
                const hint = registryLimitHint([x.message], this.name);
                if (hint) throw new UpFailedError(`pulumi up on stack ${this.name} failed at ${nameOf(x.urn)}: ${hint}`, errors.errors, log.changes, errors.programErrors);
            }
            throw new UpFailedError(headline ? `pulumi up on stack ${this.name} failed: ${headline}` : mapped.message, errors.errors, log.changes, errors.programErrors);
        }
    }

    async destroy(): Promise<UpSummary> {
        const log = new ChangeLog();
        try {
            const r = await this.stack.destroy({
                onOutput: this.onOutput,
                onEvent: (ev) => ev.resOutputsEvent && log.add(ev.resOutputsEvent.metadata.op, ev.resOutputsEvent.metadata.urn),
                signal: this.signal,
            });
            return { changes: { ...(r.summary?.resourceChanges ?? {}) }, resources: log.changes };
        } catch (e) {
            throw mapStackError(e, this.name, "pulumi destroy");
        }
    }

    async exportState(): Promise<StackState> {
        try {
            return (await this.stack.exportStack()) as unknown as StackState;
        } catch (e) {
            throw mapStackError(e, this.name, "exporting the state");
        }
    }

    async importState(state: StackState): Promise<void> {
        try {
            await this.stack.importStack(state as unknown as Parameters<Stack["importStack"]>[0]);
        } catch (e) {
            throw mapStackError(e, this.name, "importing the state");
        }
    }

    async refresh(targets: readonly string[]): Promise<void> {
        try {
            await this.stack.refresh({ target: [...targets], onOutput: this.onOutput, onError: this.onOutput, signal: this.signal });
        } catch (e) {
            throw mapStackError(e, this.name, "pulumi refresh");
        }
    }
}
