// SSH host keys: every connection to a remote host verifies the key the stack pinned for it, with
// OpenSSH's StrictHostKeyChecking=yes against a known_hosts file the program writes from the pin
// (ssh, the SSH gate, the machine-id read, the Docker provider's `docker system dial-stdio`), and
// with pulumi-command's `connection.hostKey` for the remote commands. Where the pin comes from:
// - a cloud VM: the stack generates the key pair and cloud-init installs it (infra/clouds/common.ts),
//   so even the first connection is verified;
// - an operator's server: the key it presented the first time (trust on first use, kept in the
//   state by infra/hosts/server.ts), or the one the operator pins in config (ssh.hosts[].hostKey).
// A server whose key changed is refused with one line that says what happened and what to do;
// `npm run recover` accepts a new key only together with a new machine id (probeServer below).
// Pure functions and the two reads over the network (ssh-keyscan, the machine id), no Pulumi.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { MACHINE_ID, SSH_HOST_KEY, matches } from "../validators";
import { sshClientOptions, writePrivateFile } from "./ssh";

/** A failure to reach or trust a host, in one line that says what to do; the program reports it without a stack trace. */
export class HostAccessError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "HostAccessError";
    }
}

/**
 * The key types the program pins, most preferred first (what ssh-keyscan is asked for, and which
 * of a server's keys is recorded). Not RSA: see SSH_HOST_KEY in infra/validators.ts.
 */
export const PINNED_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"] as const;

/** "<type> <base64>" of a host key line (comment and spaces dropped), or undefined when it is no key the program pins. */
export function hostKeyOf(line: string): string | undefined {
    const t = line.trim();
    if (!matches(SSH_HOST_KEY, t)) return undefined;
    const [type, blob] = t.split(/\s+/);
    return `${type} ${blob}`;
}

/** The key's SHA-256 fingerprint as `ssh-keygen -l` and ssh's own messages print it: "SHA256:<base64, unpadded>". */
export function fingerprint(key: string): string {
    const blob = key.trim().split(/\s+/)[1] ?? "";
    return `SHA256:${crypto.createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** "ssh-ed25519 SHA256:..." for messages: what an operator compares with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`. */
export function describeKey(key: string): string {
    return `${key.trim().split(/\s+/)[0]} ${fingerprint(key)}`;
}

/**
 * The name ssh looks a host up by in known_hosts: the address on port 22, "[address]:port" on any
 * other (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT). The Docker CLI's `ssh -p <port> user@address` and
 * the gate's `-o Port=<port>` both look up exactly this.
 */
export function knownHostsName(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
}

/** The known_hosts file for one host pinned to `key`: one line. */
export function knownHostsText(address: string, port: number, key: string): string {
    const k = hostKeyOf(key);
    if (!k) throw new Error(`not a host key to pin: ${JSON.stringify(key.slice(0, 80))}`);
    return `${knownHostsName(address, port)} ${k}\n`;
}

/**
 * Writes the host's known_hosts file (`file` "~/..." or absolute) with the pinned key only, mode
 * 0600, atomically, and only when its content differs: the program does it on every run, like the
 * key file, so every machine that runs the program dials with the pin in the state.
 */
export function writeKnownHosts(file: string, address: string, port: number, key: string, home: string = os.homedir()): void {
    writePrivateFile(file, knownHostsText(address, port, key), home);
}

/** The preferred key (PINNED_KEY_TYPES order) among `keys`, or undefined when none is of a type the program pins. */
export function preferredHostKey(keys: readonly string[]): string | undefined {
    for (const type of PINNED_KEY_TYPES) {
        const k = keys.find((x) => x.startsWith(`${type} `));
        if (k) return k;
    }
    return undefined;
}

/**
 * The one line for a server that presents `now` and not the key the stack pinned (in config when
 * `pinnedInConfig`, else in the state). Kept short: `npm run up` prints the engine's first error as
 * one line of at most 400 characters.
 */
export function changedHostKeyMessage(name: string, at: string, now: string, pinnedInConfig: boolean, stack: string): string {
    const key = describeKey(now);
    return pinnedInConfig
        ? `${name}: ${at} presents SSH host key ${key}, not the one gpu-hosts:ssh pins (hostKey); if the server was reinstalled, ` +
            `set hostKey to its new /etc/ssh/ssh_host_ed25519_key.pub and run \`npm run recover -- --stack ${stack}\`; nothing was sent to it`
        : `${name}: ${at} presents a new SSH host key (${key}); if the server was reinstalled, run \`npm run recover -- --stack ${stack}\` ` +
            "(it takes a new key only with a new machine id), else SSH may be intercepted; nothing was sent to it";
}

/** Seconds ssh-keyscan waits for a host (its -T). */
export const KEYSCAN_TIMEOUT_SECONDS = 10;

/**
 * Every host key `address` presents on `port` ("<type> <base64>" each), read now with ssh-keyscan:
 * no login, nothing trusted. Throws a HostAccessError when the host does not answer, or offers no
 * key of a type the program pins.
 */
export function scanHostKeys(address: string, port: number, who: string): string[] {
    const r = spawnSync("ssh-keyscan", ["-T", String(KEYSCAN_TIMEOUT_SECONDS), "-p", String(port), "-t", "ed25519,ecdsa,rsa", "--", address],
        { encoding: "utf8", timeout: (KEYSCAN_TIMEOUT_SECONDS + 5) * 1000 });
    const lines = (r.stdout ?? "").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const offered = lines.map((l) => l.split(/\s+/).slice(1).join(" "));
    const keys = offered.map(hostKeyOf).filter((k): k is string => k !== undefined);
    if (keys.length > 0) return [...new Set(keys)];
    if (offered.length > 0) {
        throw new HostAccessError(`${who}: ${address} port ${port} offers only ${[...new Set(offered.map((k) => k.split(" ")[0]))].join(", ")} host keys; ` +
            "the program pins Ed25519 or ECDSA keys (every OpenSSH since 6.5 makes an Ed25519 one: ssh-keygen -A on the server)");
    }
    const why = (r.error?.message ?? (r.stderr ?? "").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).pop()) || "no answer";
    throw new HostAccessError(`${who}: no SSH answer from ${address} port ${port} within ${KEYSCAN_TIMEOUT_SECONDS} s (${why}); check that the server is up and its SSH port is reachable from this machine`);
}

/** What reading a machine id needs: where, as whom, with which key file, trusting which known_hosts. */
export interface MachineIdRead {
    /** The host's name, first in every message. */
    readonly who: string;
    /** user@address. */
    readonly target: string;
    readonly port: number;
    /** Client options without multiplexing (infra/hosts/ssh.ts), naming the key file and a known_hosts that pins the host. */
    readonly options: readonly string[];
    /**
     * How the login key came: the stack's generated key (its public half is the line to authorise)
     * or the operator's own (gpu-hosts:sshPrivateKey).
     */
    readonly key: { readonly generated: string } | { readonly own: true };
}

/**
 * Reads a server's /etc/machine-id over SSH now, verifying the host key against the options'
 * known_hosts. Throws a HostAccessError whose one line says what to do: authorise the key, or why
 * the host could not be reached.
 */
export function readMachineId(o: MachineIdRead): string {
    const r = spawnSync("ssh", ["-n", ...o.options, "-o", `Port=${o.port}`, "-o", "ConnectTimeout=15", "--", o.target, "cat /etc/machine-id"],
        { encoding: "utf8", timeout: 60_000 });
    const id = (r.stdout ?? "").trim();
    if (r.status === 0 && matches(MACHINE_ID, id)) return id;
    const at = `${o.target} port ${o.port}`;
    if (r.status === 0) throw new HostAccessError(`${o.who}: /etc/machine-id on ${at} holds ${JSON.stringify(id.slice(0, 40))}, not a machine id (32 hex digits)`);
    const stderr = (r.stderr ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
    const why = (r.error?.message ?? stderr[stderr.length - 1]) || `exit ${r.status}`;
    if (/Host key verification failed/.test(why)) {
        // ssh names the key the host sent in its warning banner.
        const sent = /SHA256:[A-Za-z0-9+/]+/.exec(stderr.join("\n"))?.[0];
        throw new HostAccessError(`${o.who}: ${at} presents an SSH host key${sent ? ` (${sent})` : ""} other than the one the stack pinned; nothing was sent to it`);
    }
    if (/Permission denied/.test(why)) throw new HostAccessError(refusedKeyMessage(o.who, o.target, o.port, o.key));
    throw new HostAccessError(`${o.who}: cannot read /etc/machine-id of ${at} over SSH (${why})`);
}

/**
 * The one line for a server that refuses the login key: the line to authorise when it is known (the
 * stack's generated key; the operator's own when the caller derived its public half), else how to get it.
 */
export function refusedKeyMessage(who: string, target: string, port: number, key: MachineIdRead["key"] | { readonly own: true; readonly publicKey: string }): string {
    const at = `${target} port ${port}`;
    const user = target.slice(0, target.lastIndexOf("@"));
    const where = `~${user}/.ssh/authorized_keys on the server`;
    if ("generated" in key) return `${who}: ${at} refuses the stack's SSH key; authorise it (one line, in ${where}), then run again: ${key.generated.trim()}`;
    if ("publicKey" in key) return `${who}: ${at} refuses the key in gpu-hosts:sshPrivateKey; authorise its public half (one line, in ${where}), then run again: ${key.publicKey.trim()}`;
    return `${who}: ${at} refuses the key in gpu-hosts:sshPrivateKey; add its public half (ssh-keygen -y -f <that key>) to ${where}, then run again`;
}

/** What probeServer found. */
export type ServerProbe =
    /** The pinned key and the recorded machine id: the same machine. */
    | { readonly state: "same" }
    /** A new machine id: a reinstall. `hostKey` is the key to pin from now on (the new one when it changed). */
    | { readonly state: "reinstalled"; readonly machineId: string; readonly hostKey: string; readonly keyChanged: boolean }
    /** A key other than the pinned one, with the recorded machine id (or, when not asked to read it, an unknown one). */
    | { readonly state: "key-changed"; readonly hostKey: string; readonly machineId?: string }
    /** No SSH answer. */
    | { readonly state: "gone"; readonly why: string }
    /** It answers, but the login failed (a key no longer authorised, a broken machine id...). */
    | { readonly state: "refused"; readonly why: string };

/** What probeServer needs of one server, from the state and the stack outputs. */
export interface ServerToProbe {
    /** The host's name (config's ssh.hosts[].name). */
    readonly name: string;
    readonly address: string;
    readonly port: number;
    readonly user: string;
    /** The key file the program writes on this machine ("~/..." or absolute). */
    readonly keyPath: string;
    /** The host key pinned in the state. */
    readonly pinnedKey: string;
    /** The machine id recorded in the state. */
    readonly machineId: string;
    /** The line to authorise when the stack generated the login key (the outputs' authorizedKey); absent with the operator's own. */
    readonly authorizedKey?: string;
}

/**
 * Where `s` stands now, over SSH from this machine: the recover and destroy scripts ask this before
 * they let anything dial the server. With `readWithNewKey` (recover only: the operator says the
 * machine changed) a server whose key changed is logged in to with its new key to read the machine
 * id: a new key is accepted only together with a new machine id. Without it (destroy), a server with
 * a changed key is never logged in to.
 */
export function probeServer(s: ServerToProbe, readWithNewKey: boolean): ServerProbe {
    const who = s.name;
    let keys: string[];
    try {
        keys = scanHostKeys(s.address, s.port, who);
    } catch (e) {
        return { state: "gone", why: (e as Error).message };
    }
    const pinned = hostKeyOf(s.pinnedKey);
    const current = pinned && keys.includes(pinned) ? pinned : preferredHostKey(keys)!;
    const changed = current !== pinned;
    if (changed && !readWithNewKey) return { state: "key-changed", hostKey: current };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-probe-"));
    try {
        const knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(knownHosts, knownHostsText(s.address, s.port, current), { mode: 0o600 });
        const machineId = readMachineId({
            who, target: `${s.user}@${s.address}`, port: s.port, options: sshClientOptions(s.keyPath, knownHosts, false),
            key: s.authorizedKey ? { generated: s.authorizedKey } : { own: true },
        });
        if (machineId !== s.machineId) return { state: "reinstalled", machineId, hostKey: current, keyChanged: changed };
        return changed ? { state: "key-changed", hostKey: current, machineId } : { state: "same" };
    } catch (e) {
        return { state: "refused", why: (e as Error).message };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
