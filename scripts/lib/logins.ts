// Before the engine runs: can this machine log in to each of the operator's own servers (host kind
// "ssh") with the stack's login key? `npm run up`, `preview`, `deploy` and `release` ask first, and a
// server that refuses the key stops the command within seconds, with one line: the line to authorise
// (or the key problem), and nothing run. Without it the program finds the same refusal 4 s after it
// starts (infra/hosts/server.ts, the machine-id read), but the engine prints a program error only when
// the program ends, and the program's other work keeps it running for a minute or more (issue 23
// item 15: 48 s, 78 s under load).
//
// Per server, as the program itself would connect (infra/hosts/hostKeys.ts, ssh.ts):
// 1. its host keys, read with ssh-keyscan (no login). The key to require is the one config pins
//    (ssh.hosts[].hostKey), else the one the state recorded at the first up (the server's host-key
//    record). A server that no longer presents it is refused here with the program's own line, and
//    nothing is sent to it. A server with no key pinned yet (before its first up) is probed with the
//    key it presents now (trust on first use, for this probe only; the program records its own):
//    that is safe for a probe, because public-key authentication proves possession of the private
//    key by signing the session identifier, which is bound to this one connection's key exchange
//    (RFC 4252 section 7, RFC 4253 section 7.2), so an impostor learns the public half alone (the line
//    the operator publishes anyway) and cannot replay the signature to the real server; and the
//    command run is `true`.
// 2. `ssh -o BatchMode=yes -o ConnectTimeout=8 ... true` with the login key, against a known_hosts
//    file holding that one host key (StrictHostKeyChecking=yes).
// The login key: the operator's own (gpu-hosts:sshPrivateKey, a config secret), or the stack's
// generated one, read from the state (`pulumi stack export --show-secrets`, which the Automation
// API's exportStack runs: @pulumi/pulumi automation/localWorkspace.ts). A new stack has no generated
// key until its first up makes it: then there is nothing to check, and the engine runs (the program
// still stops on the refusal with the same one line, later). The private key goes to a 0600 file in
// a 0700 temporary directory, removed at once: never argv, never a log.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { SshHostConfig } from "../../infra/config/sections/hosts";
import type { StackConfig } from "../../infra/config";
import { SSH } from "../../infra/vocabulary";
import { LOCAL_COMMAND_TYPE, SERVER_HOST_TYPE, STACK_KEY_NAME, TLS_PRIVATE_KEY_TYPE, hostKeyName } from "../../infra/contract/names";
import {
    HostAccessError, changedHostKeyMessage, describeKey, hostKeyOf, knownHostsText, preferredHostKey, refusedKeyMessage, scanHostKeys,
} from "../../infra/hosts/hostKeys";
import { sshClientOptions } from "../../infra/hosts/ssh";
import { nameOf } from "./changes";
import { OpsError } from "./errors";
import { firstTrigger } from "./recover";
import type { StackState, StateResource } from "./recover";

/** Seconds ssh waits for the TCP connection (ssh_config ConnectTimeout). */
export const LOGIN_CONNECT_TIMEOUT_SECONDS = 8;

/** The login key of the stack's servers, as this machine can use it. */
export type LoginKey =
    /** The operator's own (gpu-hosts:sshPrivateKey). */
    | { readonly kind: "own"; readonly privateKey: string }
    /** The stack's generated key, from the state. */
    | { readonly kind: "generated"; readonly privateKey: string; readonly publicKey: string };

/** One server to check: as config names it, with the host key the stack pinned ("" for none yet). */
export interface LoginToCheck {
    readonly server: SshHostConfig;
    /** The host key to require: config's, else the state's; "" before the first up. */
    readonly pinnedKey: string;
    /** Whether config pins it (ssh.hosts[].hostKey). */
    readonly pinnedInConfig: boolean;
    readonly key: LoginKey;
    /** The stack's name, for the changed-key line's recover command. */
    readonly stack: string;
}

/** What a check found: logged in (with which host key), or the one line that says why not. */
export type LoginResult = { readonly ok: true; readonly hostKey: string; readonly firstUse: boolean } | { readonly ok: false; readonly line: string };

export interface LoginDeps {
    readonly stack: { readonly name: string; exportState(): Promise<StackState> };
    readonly log: (line: string) => void;
    /** Checks one server. Defaults to checkLogin (ssh-keyscan and ssh from this machine). */
    readonly login?: (c: LoginToCheck) => LoginResult;
}

/** A secret's plain value in a state exported with --show-secrets ({<sig>: ..., plaintext: "<JSON>"}), or the value itself. */
function plain(v: unknown): unknown {
    if (v && typeof v === "object" && "plaintext" in v && typeof (v as { plaintext: unknown }).plaintext === "string") {
        try {
            return JSON.parse((v as { plaintext: string }).plaintext);
        } catch {
            return undefined;
        }
    }
    return v;
}

/** The stack's generated key pair in the state (top-level tls PrivateKey STACK_KEY_NAME), or undefined when there is none yet. */
export function generatedKeyIn(resources: readonly StateResource[]): { readonly privateKey: string; readonly publicKey: string } | undefined {
    const r = resources.find((x) => x.type === TLS_PRIVATE_KEY_TYPE && nameOf(x.urn) === STACK_KEY_NAME && !(x.parent ?? "").includes(SERVER_HOST_TYPE));
    const o = r?.outputs ?? {};
    const privateKey = plain(o.privateKeyOpenssh);
    const publicKey = plain(o.publicKeyOpenssh);
    return typeof privateKey === "string" && typeof publicKey === "string" && privateKey.includes("PRIVATE KEY") && publicKey.trim()
        ? { privateKey, publicKey: publicKey.trim() }
        : undefined;
}

/** The host key the state recorded for server `name` (its host-key record's trigger), or "". */
export function recordedHostKey(resources: readonly StateResource[], name: string): string {
    const r = resources.find((x) => x.type === LOCAL_COMMAND_TYPE && nameOf(x.urn) === hostKeyName(name) && nameOf(x.parent ?? "") === name &&
        (x.parent ?? "").includes(SERVER_HOST_TYPE));
    return firstTrigger(r) ?? "";
}

/** The public half of an OpenSSH private key (ssh-keygen -y, reading the key from a 0600 file), or the reason it has none. */
function publicHalf(keyFile: string): { readonly publicKey: string } | { readonly why: string } {
    const r = spawnSync("ssh-keygen", ["-y", "-P", "", "-f", keyFile], { encoding: "utf8", timeout: 10_000 });
    const line = (r.stdout ?? "").trim().split("\n")[0] ?? "";
    if (r.status === 0 && line) return { publicKey: line.split(/\s+/).slice(0, 2).join(" ") };
    return { why: (r.error?.message ?? (r.stderr ?? "").trim().split("\n").pop()) || `ssh-keygen exited ${r.status}` };
}

/**
 * Logs in to one server now, from this machine, as the program will: the host key first (see the
 * file comment), then `ssh ... true` with the login key. Never throws for the server's answers: a
 * refusal is `{ok: false, line}`, one line that says what to do.
 */
export function checkLogin(c: LoginToCheck): LoginResult {
    const s = c.server;
    const target = `${s.user}@${s.address}`;
    const at = `${target} port ${s.port}`;
    let keys: string[];
    try {
        keys = scanHostKeys(s.address, s.port, s.name);
    } catch (e) {
        if (e instanceof HostAccessError) return { ok: false, line: e.message };
        throw e;
    }
    const pinned = c.pinnedKey ? hostKeyOf(c.pinnedKey) : undefined;
    if (pinned && !keys.includes(pinned)) return { ok: false, line: changedHostKeyMessage(s.name, at, preferredHostKey(keys)!, c.pinnedInConfig, c.stack) };
    const hostKey = pinned ?? preferredHostKey(keys)!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-login-"));
    try {
        const keyFile = path.join(dir, "key");
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(keyFile, c.key.privateKey.endsWith("\n") ? c.key.privateKey : `${c.key.privateKey}\n`, { mode: 0o600 });
        fs.writeFileSync(knownHosts, knownHostsText(s.address, s.port, hostKey), { mode: 0o600 });
        const r = spawnSync("ssh", ["-n", ...sshClientOptions(keyFile, knownHosts, false), "-o", `Port=${s.port}`,
            "-o", `ConnectTimeout=${LOGIN_CONNECT_TIMEOUT_SECONDS}`, "--", target, "true"],
        { encoding: "utf8", timeout: (LOGIN_CONNECT_TIMEOUT_SECONDS + 22) * 1000 });
        if (r.status === 0) return { ok: true, hostKey, firstUse: !pinned };
        const stderr = (r.stderr ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
        const why = (r.error?.message ?? stderr[stderr.length - 1]) || `exit ${r.status}`;
        if (/Host key verification failed/.test(stderr.join("\n"))) {
            // Between the scan and the login the server presented another key: refused, as the program would.
            return { ok: false, line: changedHostKeyMessage(s.name, at, hostKey, c.pinnedInConfig, c.stack) };
        }
        if (/Permission denied/.test(why)) {
            if (c.key.kind === "generated") return { ok: false, line: refusedKeyMessage(s.name, target, s.port, { generated: c.key.publicKey }) };
            const half = publicHalf(keyFile);
            return {
                ok: false,
                line: "publicKey" in half
                    ? refusedKeyMessage(s.name, target, s.port, { own: true, publicKey: half.publicKey })
                    : `${s.name}: ${at} refuses the key in gpu-hosts:sshPrivateKey, and ssh-keygen cannot read its public half without a passphrase (${half.why}); ` +
                        "set gpu-hosts:sshPrivateKey to an unencrypted OpenSSH private key whose public half the server authorises",
            };
        }
        return { ok: false, line: `${s.name}: cannot log in to ${at} over SSH (${why})` };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * Checks the login to every one of the stack's own servers before the engine runs; throws OpsError
 * "login" with every refusal, one line each, and runs nothing else. A
 * stack with no servers, or whose generated key does not exist yet (its first up makes it), passes.
 */
export async function checkLogins(d: LoginDeps, cfg: Pick<StackConfig, "clouds" | "ssh" | "sshPrivateKey">): Promise<void> {
    if (!cfg.clouds.includes(SSH) || cfg.ssh.hosts.length === 0) return;
    const servers = cfg.ssh.hosts;
    let resources: readonly StateResource[] = [];
    if (cfg.sshPrivateKey === "" || servers.some((s) => !s.hostKey)) {
        try {
            resources = (await d.stack.exportState()).deployment.resources ?? [];
        } catch {
            // No state to read (never deployed): nothing pinned, no generated key yet.
        }
    }
    let key: LoginKey;
    if (cfg.sshPrivateKey !== "") {
        key = { kind: "own", privateKey: cfg.sshPrivateKey };
    } else {
        const generated = generatedKeyIn(resources);
        if (!generated) {
            d.log("note: the stack's SSH key does not exist yet; this up makes it, and a server that does not authorise it yet stops the up with the line to authorise");
            return;
        }
        key = { kind: "generated", ...generated };
    }
    d.log(`checking the login to ${servers.map((s) => s.name).join(", ")} over SSH (${key.kind === "own" ? "the key in gpu-hosts:sshPrivateKey" : "the stack's SSH key"}) before the engine runs`);
    const check = d.login ?? checkLogin;
    const refused: string[] = [];
    for (const server of servers) {
        const pinnedKey = server.hostKey || recordedHostKey(resources, server.name);
        const r = check({ server, pinnedKey, pinnedInConfig: server.hostKey !== "", key, stack: d.stack.name });
        if (r.ok) d.log(`      ${server.name}: logged in (host key ${describeKey(r.hostKey)}${r.firstUse ? ", first use: the up records it" : ""})`);
        else refused.push(r.line);
    }
    // One line per server, each ending with what to paste (a key line is never followed by other text).
    if (refused.length > 0) throw new OpsError("login", refused.join("\n"));
}
