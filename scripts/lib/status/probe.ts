// One look at a host's machine: a small POSIX sh script, run beside the local engine (`sh -s`) or on a
// remote host through its `ssh` output (`ssh ... sh -s`), that lists the app's containers with
// `docker inspect` and the GPUs with nvidia-smi. One process (one SSH connection) per host per look;
// each command inside is bounded by coreutils `timeout` where the host has it, and the whole run by
// the runner's own timeout. The script is read from stdin, never argv, and holds no config value
// but the container prefix, which is quoted.
import { spawn } from "child_process";
import { shellQuote } from "../../../infra/shell/quote";
import { INSPECT_FORMAT } from "./containers";
import { NVIDIA_SMI_ARGS } from "./gpu";

/** Seconds each command on the host may take. */
export const COMMAND_TIMEOUT_S = 10;
/** Seconds an SSH connection may take to open. */
export const SSH_CONNECT_TIMEOUT_S = 8;
/** The whole run on one host, in ms: connection plus both commands, with slack. */
export const HOST_RUN_TIMEOUT_MS = (SSH_CONNECT_TIMEOUT_S + 2 * COMMAND_TIMEOUT_S + 4) * 1000;

const MARK = "@@gpu-hosts-status";

/** The script for a host whose containers start with `prefix`. */
export function hostScript(prefix: string): string {
    const nvidia = ["nvidia-smi", ...NVIDIA_SMI_ARGS].map(shellQuote).join(" ");
    return [
        "# gpu-hosts status: the app's containers and the GPUs (scripts/lib/status/probe.ts)",
        `t() { if command -v timeout >/dev/null 2>&1; then timeout ${COMMAND_TIMEOUT_S} "$@"; else "$@"; fi; }`,
        `echo '${MARK} docker'`,
        `ids="$(t docker ps -aq --filter ${shellQuote(`name=^${prefix}`)} 2>&1)"; rc=$?`,
        'if [ "$rc" -ne 0 ]; then printf \'%s\\n\' "$ids"; else',
        // Container ids only: a warning the CLI printed beside them is no argument for inspect.
        "  ids=\"$(printf '%s\\n' \"$ids\" | grep -E '^[0-9a-f]+$')\"",
        "  # shellcheck disable=SC2086 # one argument per id, all hex",
        `  if [ -n "$ids" ]; then t docker inspect --format ${shellQuote(INSPECT_FORMAT)} $ids 2>&1; rc=$?; fi`,
        "fi",
        `echo "${MARK} exit $rc"`,
        `echo '${MARK} nvidia-smi'`,
        `t ${nvidia} 2>&1; echo "${MARK} exit $?"`,
        "",
    ].join("\n");
}

/** One command's output and exit code, from the script's output. */
export interface Section {
    readonly output: string;
    readonly exitCode: number;
}

/** The sections of the script's output by name; a section cut off has exit code -1. */
export function parseSections(text: string): Record<string, Section> {
    const out: Record<string, Section> = {};
    const re = new RegExp(`^${MARK} (\\S+)$`, "gm");
    const heads = [...text.matchAll(re)].filter((m) => m[1] !== "exit");
    heads.forEach((m, i) => {
        const start = m.index! + m[0].length + 1;
        const end = i + 1 < heads.length ? heads[i + 1].index! : text.length;
        const body = text.slice(start, end);
        const exit = new RegExp(`^${MARK} exit (\\d+)\\s*$`, "m").exec(body);
        out[m[1]] = exit ? { output: body.slice(0, exit.index), exitCode: Number(exit[1]) } : { output: body, exitCode: -1 };
    });
    return out;
}

/** A finished run of the script. */
export interface RunResult {
    /** The process's exit code; null when it was killed at the timeout. */
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
    readonly timedOut: boolean;
}

/**
 * Runs argv with `input` on stdin, bounded by `timeoutMs`: then the process is killed (SIGKILL: ssh
 * may hang in a read) and the run ends at once, whatever its children still hold open.
 */
export function runWithInput(argv: readonly string[], input: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
    return new Promise((resolve) => {
        let stdout = "";
        let stderr = "";
        let settled = false;
        const finish = (r: RunResult) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(r);
        };
        const child = spawn(argv[0], argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            child.stdout.destroy();
            child.stderr.destroy();
            finish({ code: null, stdout, stderr, timedOut: true });
        }, timeoutMs);
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        child.on("error", (e: NodeJS.ErrnoException) => finish({ code: e.code === "ENOENT" ? 127 : 1, stdout, stderr: `${stderr}${e.message}`, timedOut: false }));
        child.on("close", (code) => finish({ code, stdout, stderr, timedOut: false }));
        child.stdin.on("error", () => undefined); // the process may exit before reading it all
        child.stdin.end(input);
    });
}

/**
 * The argv of the host's `ssh` output, with options for a non-interactive, bounded run inserted
 * before the destination: never prompt, give up connecting after SSH_CONNECT_TIMEOUT_S, notice a dead
 * connection, and check the host key against the known_hosts file the output names (the pin the
 * program wrote there, infra/hosts/hostKeys.ts): never a first-seen key, never the machine's global
 * file. ssh takes the first value it sees for an option, so these only add to what the output sets. `remote` is the command
 * run there, reading its script from stdin (status: `sh -s`; a swap's route command: `bash -s`).
 * The one place the operator scripts build an ssh command line (scripts/lib/routes.ts uses it too).
 */
export function sshArgv(sshCommand: string, remote: readonly string[] = ["sh", "-s"]): string[] {
    const words = sshCommand.trim().split(/\s+/);
    if (words[0] !== "ssh" || words.length < 2) throw new Error(`the host's ssh output is not an ssh command line: ${JSON.stringify(sshCommand)}`);
    return [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", `ConnectTimeout=${SSH_CONNECT_TIMEOUT_S}`,
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=2",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        ...words.slice(1),
        ...remote,
    ];
}

/** What a look at the host found: the sections, or why the host could not be reached. */
export type HostLook =
    | { readonly ok: true; readonly docker: Section; readonly gpu: Section }
    | { readonly ok: false; readonly reason: string };

const lastLine = (s: string) => s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop() ?? "";

/** Judges a run: a dead SSH connection or engine is `ok: false` with the reason, in the words ssh or docker used. */
export function lookFrom(r: RunResult, via: "ssh" | "local", timeoutMs: number): HostLook {
    if (r.timedOut) return { ok: false, reason: `no answer within ${Math.round(timeoutMs / 1000)} s${via === "ssh" ? " over SSH" : ""}` };
    const sections = parseSections(r.stdout);
    const docker = sections.docker;
    if (!docker) {
        // ssh exits 255 on its own errors ("Connection refused", "Connection timed out", "Permission denied (publickey)").
        const why = lastLine(r.stderr) || lastLine(r.stdout) || `exit code ${r.code}`;
        return { ok: false, reason: via === "ssh" ? `ssh failed: ${why}` : `the probe failed: ${why}` };
    }
    if (docker.exitCode !== 0) {
        const why = docker.exitCode === 124 ? `docker did not answer within ${COMMAND_TIMEOUT_S} s` : lastLine(docker.output) || `docker exited ${docker.exitCode}`;
        return { ok: false, reason: `the Docker engine does not answer: ${why}` };
    }
    return { ok: true, docker, gpu: sections["nvidia-smi"] ?? { output: "", exitCode: -1 } };
}
