// SSH plumbing for remote hosts (the cloud VMs and an operator's own servers), as pure functions:
// the key file the ssh client reads, the client options, and the one-line script that deletes the
// files. The host keys they verify, the known_hosts file and the machine-id read are hostKeys.ts;
// the SSH gate that uses the options is infra/shell/gate.sh (gate.ts); the skeleton that wires them
// into resources is remote.ts.
//
// How the stack's key reaches the Docker provider's ssh client: for an ssh:// host the provider
// uses the docker CLI's connection helper, which runs the operator's OpenSSH client as
// `ssh <sshOpts...> -- user@host docker system dial-stdio`, each sshOpts entry one argv word
// (docker/cli cli/connhelper). It takes no key material, only a file. So the program itself writes
// the private key, mode 0600, to ~/.ssh/gpu-hosts/<project>-<stack>-<host> on whatever machine runs
// it, on every run (preview and up, a teammate's laptop or a CI runner), from a Pulumi secret in
// memory: never argv, never a log. The provider's sshOpts are derived from that write, so no
// connection is attempted before the file exists. A `local.Command` would not do: its create runs
// once, on the machine of the first `up`, and `--refresh` never re-runs it.
// The options:
//   -i <that file>                      the key...
//   -o IdentitiesOnly=yes               ...and only it (an agent's keys would be tried first and
//                                       can use up sshd's MaxAuthTries)
//   -o StrictHostKeyChecking=yes        verify the host key; never add one
//   -o UserKnownHostsFile=<file>.known_hosts   this host's own known_hosts, which the program writes
//                                       from the key pinned in the state on every run (hostKeys.ts),
//                                       so the operator's ~/.ssh/known_hosts is untouched
//   -o GlobalKnownHostsFile=/dev/null   ...and only it: a stale /etc/ssh/ssh_known_hosts entry for
//                                       the address has no say
//   -o UpdateHostKeys=no                never rewrite that file from what the server offers (ssh
//                                       enables it by default only for the default known_hosts,
//                                       ssh_config(5); stated, so it stays off)
//   -o BatchMode=yes                    fail instead of prompting: there is no terminal
//   -o ServerAliveInterval=15           notice a dead connection during a long image build
// and for the Docker provider only:
//   -o ControlMaster=auto, ControlPath, ControlPersist=120
//                                       every Docker API call is its own `ssh ... dial-stdio`;
//                                       about 15 resources per host run in parallel, more than
//                                       sshd's default MaxStartups 10:30:100 lets through, so
//                                       connections were dropped at random (kreuzwerker/
//                                       terraform-provider-docker#262, docker/compose#10117).
//                                       One multiplexed connection carries them all; the setup
//                                       script also raises MaxStartups and MaxSessions (infra/shell/setup.ts).
// Nothing else multiplexes, above all not the SSH gate: a master connection keeps the groups of
// its first login, so one opened while the setup was still adding the user to the docker group
// would carry every later `docker system dial-stdio` with stale groups ("permission denied" on
// /var/run/docker.sock) for as long as it persists. The first master is the Docker provider's own,
// opened after the readiness gate has proved the user can use Docker.
// ssh expands the "~" and %C in those paths itself (the provider runs no shell), so the values are
// the same on every operator's machine and do not churn the provider's config.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { shellPath } from "../shell/quote";

/** The stack's SSH key pair; index.ts creates one and passes both halves to every cloud host. */
export function createStackKey(name: string, opts?: pulumi.CustomResourceOptions): tls.PrivateKey {
    return new tls.PrivateKey(name, { algorithm: "ED25519" }, opts);
}

/**
 * File name for a host's key: "<project>-<stack>-<host>", deterministic, safe in a path. The program
 * takes its own project and stack; the operator scripts pass theirs (recover and destroy read the
 * servers with the same file).
 */
export function keyFileName(host: string, project: string = pulumi.getProject(), stack: string = pulumi.getStack()): string {
    return `${project}-${stack}-${host}`.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Seconds an idle multiplexed SSH connection stays open after its last Docker call. */
export const CONTROL_PERSIST_SECONDS = 120;

/**
 * OpenSSH client options (see the file comment for why each). `multiplex` adds the ControlMaster
 * options: the Docker provider's only.
 */
export function sshClientOptions(keyPath: string, knownHostsPath: string, multiplex: boolean): string[] {
    // %C is a hash of the connection (local host, remote host, port, user): short, so the socket path
    // stays under the 104-byte limit of a unix socket, and distinct per host.
    const controlPath = `${path.posix.dirname(keyPath)}/cm-%C`;
    return [
        "-i", keyPath,
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHostsPath}`,
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", "ServerAliveInterval=15",
        ...(multiplex ? ["-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", `ControlPersist=${CONTROL_PERSIST_SECONDS}`] : []),
    ];
}

/** A "~/..." path as this machine's absolute path. */
export function expandHome(p: string, home: string = os.homedir()): string {
    return p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/**
 * Writes `key` to `keyPath` ("~/..." or absolute) with mode 0600, in a 0700 directory, atomically
 * (a reader never sees half a key), and only when the content differs. Idempotent: safe on every run.
 */
export function writeKeyFile(keyPath: string, key: string, home: string = os.homedir()): void {
    writePrivateFile(keyPath, key.endsWith("\n") ? key : `${key}\n`, home);
}

/** Writes `content` to `file` ("~/..." or absolute) as writeKeyFile does: 0600 in a 0700 directory, atomically, only when it differs. */
export function writePrivateFile(file: string, content: string, home: string = os.homedir()): void {
    const target = expandHome(file, home);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    try {
        if (fs.readFileSync(target, "utf8") === content && (fs.statSync(target).mode & 0o777) === 0o600) return;
    } catch {
        // absent or unreadable: write it
    }
    const tmp = `${target}.${process.pid}.tmp`;
    try {
        fs.writeFileSync(tmp, content, { mode: 0o600 });
        fs.chmodSync(tmp, 0o600);
        fs.renameSync(tmp, target);
    } finally {
        fs.rmSync(tmp, { force: true });
    }
}

/** POSIX sh that removes the key and known_hosts files. */
export function keyFileDeleteScript(keyPath: string, knownHostsPath: string): string {
    return `rm -f ${shellPath(keyPath)} ${shellPath(knownHostsPath)}\n`;
}
