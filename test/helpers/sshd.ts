// A real OpenSSH server on the loopback address for the tests of host keys and machine ids
// (test/tools/ssh.test.ts): Debian's sshd on a port of its own, its own host key and authorized_keys
// in a temporary directory, and, in a private mount namespace, an /etc/machine-id of the test's own,
// so a test can "reinstall" the machine (a new machine id, new host keys) without touching this one's.
// It logs in as root (key only): the tests run nothing but `cat /etc/machine-id` and `true`. Needs
// root (unshare, mount); the caller skips otherwise.
import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { STUB_BIN } from "./setup";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function must(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
}

/** PATH without the stub ssh and ssh-keyscan of test/helpers/setup.ts: the real clients. */
export function realClientsPath(): string {
    return (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== STUB_BIN).join(path.delimiter);
}

/** Whether this machine can run LoopbackSshd (root, sshd, unshare). */
export function loopbackSshdUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) return "needs root (unshare and mount for its own /etc/machine-id)";
    for (const t of ["/usr/sbin/sshd", "/usr/bin/unshare", "/usr/bin/ssh-keygen"]) if (!fs.existsSync(t)) return `needs ${t}`;
    return undefined;
}

export class LoopbackSshd {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-sshd-"));
    /** The client key the server authorises. */
    readonly clientKey = path.join(this.dir, "client_key");
    readonly machineIdFile = path.join(this.dir, "machine-id");
    private child?: ChildProcess;
    port = 0;

    async start(): Promise<void> {
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", this.clientKey]);
        fs.copyFileSync(`${this.clientKey}.pub`, path.join(this.dir, "authorized_keys"));
        this.newHostKey(false);
        this.newMachineId();
        this.port = await freePort();
        fs.writeFileSync(path.join(this.dir, "sshd_config"), [
            `Port ${this.port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${path.join(this.dir, "host_key")}`,
            `PidFile ${path.join(this.dir, "sshd.pid")}`,
            `AuthorizedKeysFile ${path.join(this.dir, "authorized_keys")}`,
            // The files sit under /tmp, which is world-writable: sshd's path check would refuse them.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "AllowUsers root",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "",
        ].join("\n"));
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        await this.launch();
    }

    private async launch(): Promise<void> {
        const log = fs.openSync(path.join(this.dir, "sshd.log"), "a");
        this.child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c",
            `mount --bind ${this.machineIdFile} /etc/machine-id && exec /usr/sbin/sshd -D -e -f ${path.join(this.dir, "sshd_config")}`],
        { stdio: ["ignore", log, log] });
        for (let i = 0; i < 100; i++) {
            if (await answers(this.port)) return;
            if (this.child.exitCode !== null) break;
            await sleep(100);
        }
        throw new Error(`sshd did not start on 127.0.0.1:${this.port}: ${fs.readFileSync(path.join(this.dir, "sshd.log"), "utf8").slice(-1000)}`);
    }

    /** The server's host key, "ssh-ed25519 <base64>". */
    hostKey(): string {
        return fs.readFileSync(path.join(this.dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    }

    /** Makes a new host key, as a reinstall does; the running server takes it on its next start (restart()). */
    newHostKey(restart = true): Promise<void> | void {
        fs.rmSync(path.join(this.dir, "host_key"), { force: true });
        fs.rmSync(path.join(this.dir, "host_key.pub"), { force: true });
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path.join(this.dir, "host_key")]);
        return restart ? this.restart() : undefined;
    }

    /** Writes a new machine id in place (the bind mount follows the file). */
    newMachineId(): string {
        const id = randomBytes(16).toString("hex");
        fs.writeFileSync(this.machineIdFile, `${id}\n`);
        return id;
    }

    machineId(): string {
        return fs.readFileSync(this.machineIdFile, "utf8").trim();
    }

    /** Whether the client key may log in. */
    authorize(yes: boolean): void {
        fs.writeFileSync(path.join(this.dir, "authorized_keys"), yes ? fs.readFileSync(`${this.clientKey}.pub`) : "");
    }

    async restart(): Promise<void> {
        await this.halt();
        await this.launch();
    }

    private async halt(): Promise<void> {
        this.child?.kill("SIGTERM");
        for (let i = 0; i < 50 && this.child && this.child.exitCode === null; i++) await sleep(100);
        for (let i = 0; i < 50 && (await answers(this.port)); i++) await sleep(100);
    }

    /** Stops the server (the machine is "gone") without removing its files. */
    async pause(): Promise<void> {
        await this.halt();
    }

    async stop(): Promise<void> {
        await this.halt();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** A port on 127.0.0.1 that nothing listens on now. */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
        s.on("error", reject);
    });
}

function answers(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => {
            s.once("data", (d) => {
                s.destroy();
                resolve(d.toString().startsWith("SSH-2.0"));
            });
        });
        s.on("error", () => resolve(false));
    });
}
