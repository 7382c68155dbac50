// A real SSH host on the loopback address for the end-to-end run of the ssh host kind: Debian's
// sshd on 127.0.0.1 on a port of its own, a dedicated non-root user with passwordless sudo that is
// NOT in the docker group (the setup must add it: the stale-group case is real), and this machine's
// dockerd as the host's engine, so ssh:// -> `docker system dial-stdio` is the real path.
// sshd runs in a private mount namespace whose /etc/machine-id is a file of the test's own, so
// "reinstalling" the host (a new machine id and, as every real reinstall, new SSH host keys) never
// touches this machine's. It writes its pid to
// /run/sshd.pid and reads /etc/ssh/sshd_config.d/*.conf first, like Debian's own sshd, so the setup
// script's reload (SIGHUP through that pid file) and its drop-in are real too.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export const E2E_USER = "gpuhosts-e2e";
const PID_FILE = "/run/sshd.pid";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function must(cmd: string, args: string[], input?: string): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", input });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
}

const sbin = (name: string) => ["/usr/sbin", "/sbin", "/usr/bin"].map((d) => path.join(d, name)).find((p) => fs.existsSync(p)) ?? name;

/** A port on 127.0.0.1 that nothing listens on now. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
        s.on("error", reject);
    });
}

export class SshServer {
    private child?: ChildProcess;
    /** The private key the operator gives the stack (gpu-hosts:sshPrivateKey). */
    privateKey = "";
    /** The file that is the host's /etc/machine-id. */
    readonly machineIdFile: string;

    constructor(readonly dir: string, readonly port: number) {
        this.machineIdFile = path.join(dir, "machine-id");
    }

    /** Creates the user (not in the docker group), its key and sudo rule; starts sshd; waits until it answers. */
    async start(): Promise<void> {
        const existing = spawnSync("id", ["-u", E2E_USER]).status === 0;
        if (!existing) must(sbin("useradd"), ["--create-home", "--shell", "/bin/bash", E2E_USER]);
        // No password, but not locked: sshd (without PAM) refuses a locked account even with a key.
        must(sbin("usermod"), ["--password", "*", E2E_USER]);
        // Left over by an earlier run's setup: take it out, so the setup has to put it back.
        spawnSync("gpasswd", ["-d", E2E_USER, "docker"], { stdio: "ignore" });
        fs.writeFileSync(`/etc/sudoers.d/${E2E_USER}`, `${E2E_USER} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
        const home = must("getent", ["passwd", E2E_USER]).split(":")[5];
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gpu-hosts-e2e-operator", "-f", path.join(this.dir, "operator_key")]);
        this.privateKey = fs.readFileSync(path.join(this.dir, "operator_key"), "utf8");
        fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(home, ".ssh", "authorized_keys"), fs.readFileSync(path.join(this.dir, "operator_key.pub")), { mode: 0o600 });
        must("chown", ["-R", `${E2E_USER}:`, path.join(home, ".ssh")]);

        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(this.dir, "host_key")]);
        this.newMachineId();
        fs.writeFileSync(path.join(this.dir, "sshd_config"), [
            // First, so the setup script's drop-in (MaxStartups, MaxSessions) wins, as on Ubuntu.
            "Include /etc/ssh/sshd_config.d/*.conf",
            `Port ${this.port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${path.join(this.dir, "host_key")}`,
            `PidFile ${PID_FILE}`,
            `AllowUsers ${E2E_USER}`,
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "",
        ].join("\n"));
        const other = fs.existsSync(PID_FILE) ? Number(fs.readFileSync(PID_FILE, "utf8")) : 0;
        if (other && spawnSync("kill", ["-0", String(other)]).status === 0) {
            throw new Error(`another sshd (pid ${other}) owns ${PID_FILE}; the run needs it for the setup script's reload`);
        }
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        await this.launch();
    }

    /** Starts sshd in its mount namespace and waits until it answers. */
    private async launch(): Promise<void> {
        const log = fs.openSync(path.join(this.dir, "sshd.log"), "a");
        this.child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c",
            `mount --bind ${this.machineIdFile} /etc/machine-id && exec ${sbin("sshd")} -D -e -f ${path.join(this.dir, "sshd_config")}`],
        { stdio: ["ignore", log, log] });
        for (let i = 0; i < 100; i++) {
            if (await this.answers()) return;
            if (this.child.exitCode !== null) break;
            await sleep(100);
        }
        throw new Error(`sshd did not start on 127.0.0.1:${this.port}; see ${path.join(this.dir, "sshd.log")}`);
    }

    private answers(): Promise<boolean> {
        return new Promise((resolve) => {
            const s = net.connect(this.port, "127.0.0.1", () => {
                s.once("data", (d) => {
                    s.destroy();
                    resolve(d.toString().startsWith("SSH-2.0"));
                });
            });
            s.on("error", () => resolve(false));
        });
    }

    /** The host key sshd presents, "ssh-ed25519 <base64>". */
    hostKey(): string {
        return fs.readFileSync(path.join(this.dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    }

    /**
     * What a reinstall does to the host as SSH sees it: a new machine id, new host keys, and a reboot
     * that drops every connection (a multiplexed master of the old system must not carry over).
     * sshd is restarted to present the new key.
     */
    async reinstall(): Promise<{ machineId: string; hostKey: string }> {
        const machineId = this.newMachineId();
        for (const f of ["host_key", "host_key.pub"]) fs.rmSync(path.join(this.dir, f), { force: true });
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(this.dir, "host_key")]);
        // The per-connection sshd processes this sshd forked (by pid: only our own children).
        const connections = this.child?.pid ? spawnSync("pgrep", ["-P", String(this.child.pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean) : [];
        await this.halt();
        for (const pid of connections) spawnSync("kill", ["-TERM", pid]);
        await this.launch();
        return { machineId, hostKey: this.hostKey() };
    }

    /** Whether the operator's key may log in (its authorized_keys holds it, or nothing). */
    authorize(yes: boolean): void {
        const home = must("getent", ["passwd", E2E_USER]).split(":")[5];
        fs.writeFileSync(path.join(home, ".ssh", "authorized_keys"), yes ? fs.readFileSync(path.join(this.dir, "operator_key.pub")) : "", { mode: 0o600 });
    }

    /** Writes a new machine id in place (the bind mount follows the file, not a name). */
    newMachineId(): string {
        const id = randomBytes(16).toString("hex");
        fs.writeFileSync(this.machineIdFile, `${id}\n`);
        return id;
    }

    /** Whether the user is in the docker group now. */
    inDockerGroup(): boolean {
        return must("id", ["-nG", E2E_USER]).split(/\s+/).includes("docker");
    }

    private async halt(): Promise<void> {
        this.child?.kill("SIGTERM");
        for (let i = 0; i < 50 && this.child && this.child.exitCode === null; i++) await sleep(100);
        for (let i = 0; i < 50 && (await this.answers()); i++) await sleep(100);
        fs.rmSync(PID_FILE, { force: true });
    }

    async stop(): Promise<void> {
        await this.halt();
        fs.rmSync(`/etc/sudoers.d/${E2E_USER}`, { force: true });
    }
}
