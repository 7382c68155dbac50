// What a failed engine run means to an operator, in one line: the Automation API's errors (no CLI, no
// stack, a locked stack, a failed update) and the engine's diagnostics per resource, with the fix
// where one is known (Docker Hub's pull limit). Pure: scripts/lib/stackOps.ts runs the engine.
import { ConcurrentUpdateError, EngineEvent, StackNotFoundError } from "@pulumi/pulumi/automation";
import { NAMESPACE } from "../../infra/vocabulary";
import { ResourceChange, nameOf } from "./changes";
import { OpsError } from "./errors";

export const INSTALL = "install it from https://www.pulumi.com/docs/install/";

export function stderrOf(e: unknown): string {
    const result = (e as { commandResult?: { stderr?: string } })?.commandResult;
    if (result && typeof result.stderr === "string" && result.stderr.trim()) return result.stderr;
    // A bare CLI call's error (child_process.execFile, stackOps.ts runCli) carries stderr itself.
    const stderr = (e as { stderr?: unknown })?.stderr;
    if (typeof stderr === "string" && stderr.trim()) return stderr;
    return e instanceof Error ? e.message : String(e);
}

/** The line of CLI output worth showing: the first "error:" line, else the last non-empty one. */
export function headline(text: string): string {
    const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !/^(code|stdout|stderr|err\?):/.test(l));
    const line = lines.find((l) => /^error:/i.test(l)) ?? lines[lines.length - 1] ?? "unknown error";
    return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Why the Pulumi CLI cannot be started, or undefined if the failure is something else. */
export function cliMissingReason(e: unknown): string | undefined {
    const text = stderrOf(e);
    if (/ENOENT/.test(text) && /pulumi/.test(text)) return `the Pulumi CLI is not installed (no \`pulumi\` on PATH): ${INSTALL}`;
    // node_modules/.bin/pulumi is the npm launcher; offline it cannot fetch the real binary.
    if (/Downloading pulumi|^pulumi: /m.test(text)) {
        return `the Pulumi CLI is not available: \`pulumi\` on PATH is the npm launcher and it could not download the CLI (${headline(text)}); ${INSTALL}`;
    }
    if (/Minimum version requirement failed|version .* is not compatible/i.test(text)) return `the Pulumi CLI is too old (${headline(text)}); ${INSTALL}`;
    return undefined;
}

/** An error the engine reported against a resource during an update (a diagnostic event). */
export interface ResourceError {
    readonly urn: string;
    /** The provider's message, as the engine printed it (may span lines). */
    readonly message: string;
}

/**
 * A failed `pulumi up`: the one-line error, each resource's own error for callers that classify
 * them, and the steps that completed before it stopped (a failed update keeps those).
 */
export class UpFailedError extends OpsError {
    constructor(
        message: string,
        readonly errors: readonly ResourceError[],
        readonly resources: readonly ResourceChange[] = [],
        /**
         * The errors the engine reported against the program itself, not a resource: a failed invoke
         * (e.g. an image lookup) ends the program with an unhandled exception, reported on the stack.
         */
        readonly programErrors: readonly string[] = [],
    ) {
        super("up-failed", message);
    }
}

/** Collects the error diagnostics of resources, and apart from them those of the program (the stack itself). */
export class ErrorLog {
    readonly errors: ResourceError[] = [];
    readonly programErrors: string[] = [];

    add(ev: EngineEvent): void {
        const d = ev.diagnosticEvent;
        if (d?.severity !== "error") return;
        if (d.urn && !d.urn.includes("::pulumi:pulumi:Stack::")) this.errors.push({ urn: d.urn, message: d.message.trim() });
        else this.programErrors.push(d.message.trim());
    }

    /** "fail: exit status 3: ... the GPU is on fire" for the first error, on one line. */
    headline(): string | undefined {
        const e = this.errors[0];
        if (!e) return undefined;
        const name = nameOf(e.urn);
        const message = e.message.replace(/\s*\n\s*/g, " ");
        // A program's own one-line error (infra/hosts/hostKeys.ts HostAccessError) already starts with the host's name.
        const line = message.startsWith(`${name}: `) ? message : `${name}: ${message}`;
        return line.length > 400 ? `${line.slice(0, 397)}...` : line;
    }
}

/**
 * Docker Hub refusing a pull for its rate limit: HTTP 429 with the error code TOOMANYREQUESTS, which
 * every client prints as "toomanyrequests: <Docker Hub's message>". dockerd (the Docker provider's
 * image pulls, `docker run`): "Error response from daemon: toomanyrequests: You have reached your
 * unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit"
 * (https://github.com/docker/hub-feedback/issues/2464); BuildKit (a build's FROM): "... 429 Too Many
 * Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase
 * the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
 * (https://github.com/ScribeMD/docker-cache/issues/829). Anonymous pulls are counted per IPv4 address
 * (https://docs.docker.com/docker-hub/usage/pulls/), so a retry or a recover from the same address
 * within the window gets it too.
 */
const TOO_MANY_REQUESTS = /toomanyrequests:?\s*([A-Za-z][^.\n"]*)?/i;

/**
 * What an operator reads when Docker Hub refused a pull in one of `messages`, on one line: what
 * happened (Docker Hub's own words) and the config that lifts it (gpu-hosts:registry); undefined when
 * none of them is Docker Hub's rate limit.
 */
export function registryLimitHint(messages: readonly string[], stackName: string): string | undefined {
    const m = messages.map((text) => TOO_MANY_REQUESTS.exec(text)).find((x) => x !== null);
    if (!m) return undefined;
    const set = `pulumi config set --stack ${stackName}`;
    return `Docker Hub refused a pull (toomanyrequests: ${(m[1] ?? "Too Many Requests").trim()}); the fix is ${NAMESPACE}:registry: ` +
        `a Docker Hub login (\`${set} --path ${NAMESPACE}:registry.username <user>\` and \`${set} --secret ${NAMESPACE}:registryPassword <access token>\`) ` +
        `or a pull-through mirror (\`${set} --path '${NAMESPACE}:registry.mirrors[0]' https://mirror.gcr.io\`; the local engine takes one in its own daemon.json), ` +
        "then run this again (or wait for Docker Hub's limit to reset)";
}

/** Maps an Automation API failure to a one-line OpsError naming the stack and what was being done. */
export function mapStackError(e: unknown, stackName: string, action: string): OpsError {
    if (e instanceof OpsError) return e;
    const text = stderrOf(e);
    if (e instanceof StackNotFoundError || /no stack named .* found/.test(text)) {
        return new OpsError("no-stack", `no such stack "${stackName}": create it with \`pulumi stack init ${stackName}\` or check --stack (\`pulumi stack ls\`)`);
    }
    if (e instanceof ConcurrentUpdateError || /conflict|currently locked/i.test(text)) {
        return new OpsError("concurrent-update", `stack ${stackName} has another update in progress (${headline(text)}): wait for it to finish and retry; if nothing is running, clear the lock with \`pulumi cancel --stack ${stackName}\``);
    }
    const missing = cliMissingReason(e);
    if (missing) return new OpsError("cli-missing", missing);
    const kind = action === "pulumi up" ? "up-failed" : "command";
    const limit = registryLimitHint([text], stackName);
    return new OpsError(kind, `${action} on stack ${stackName} failed: ${limit ?? headline(text)}`);
}
