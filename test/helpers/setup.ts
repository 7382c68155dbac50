// Loaded by mocha before any suite (.mocharc.json): the program writes the stack's SSH key files
// under ~ and asks the docker CLI for the local engine, so tests run with a throwaway HOME and a
// fixed DOCKER_HOST, never the operator's own.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const TEST_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-test-home-"));

// The program reads an operator's server's host keys (ssh-keyscan) and /etc/machine-id (ssh) while it
// runs (infra/hosts/server.ts). Under the mocks there is no server: a stub `ssh` first on PATH
// answers exactly that read with an id derived from the target and GPU_HOSTS_TEST_MACHINE_GENERATION
// (a test bumps it to model a reinstall), and hands anything else to the real ssh; a stub
// `ssh-keyscan` answers with an Ed25519 key derived from the address, the port and the same
// generation (a reinstall has new host keys), in ssh-keyscan's own line format.
const realSsh = ["/usr/bin/ssh", "/usr/local/bin/ssh", "/bin/ssh"].find((p) => fs.existsSync(p)) ?? "ssh-not-installed";
/** Where the stub ssh and ssh-keyscan live (first on PATH); the tests of the real clients take it off. */
export const STUB_BIN = path.join(TEST_HOME, "stub-bin");
const stubBin = STUB_BIN;
fs.mkdirSync(stubBin);
fs.writeFileSync(path.join(stubBin, "ssh"), [
    "#!/bin/sh",
    'last=""; target=""; for a in "$@"; do target="$last"; last="$a"; done',
    'if [ "$last" = "cat /etc/machine-id" ]; then',
    '  printf \'%s:%s\' "$target" "${GPU_HOSTS_TEST_MACHINE_GENERATION:-0}" | md5sum | cut -c1-32',
    "  exit 0",
    "fi",
    `exec ${realSsh} "$@"`,
    "",
].join("\n"), { mode: 0o755 });
fs.writeFileSync(path.join(stubBin, "ssh-keyscan"), [
    "#!/bin/sh",
    'port=22; last=""; prev=""; for a in "$@"; do [ "$prev" = "-p" ] && port="$a"; prev="$a"; last="$a"; done',
    'name="$last"; [ "$port" = 22 ] || name="[$last]:$port"',
    'blob=$(printf \'%s:%s:%s\' "$last" "$port" "${GPU_HOSTS_TEST_MACHINE_GENERATION:-0}" | sha256sum | cut -c1-43)',
    'echo "# $last:$port SSH-2.0-OpenSSH_9.6 stub" >&2',
    'echo "$name ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI$blob"',
    "",
].join("\n"), { mode: 0o755 });
process.env.PATH = `${stubBin}${path.delimiter}${process.env.PATH ?? ""}`;
process.env.HOME = TEST_HOME;
process.env.DOCKER_HOST = "unix:///var/run/docker.sock";
delete process.env.DOCKER_CONTEXT;
process.on("exit", () => fs.rmSync(TEST_HOME, { recursive: true, force: true }));

// Pulumi's SDK takes `new Error().stack` for every resource and every internal promise
// (runtime/debuggable.js, resource.js sourcePosition), and ts-node's source-map-support rewrites each
// of those stacks through the source maps: two thirds of a program run's time under the mocks
// (measured with --cpu-prof: a dev stack 3.7 s, 1.3 s without it). Stacks keep the transpiled line
// numbers instead, which transpile-only keeps close to the TypeScript ones.
(Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
