// A real SSH host on the loopback address for the end-to-end runs of the ssh host kind: Debian's
// sshd on 127.0.0.1 on a port of its own, a dedicated non-root user with passwordless sudo that is
// NOT in the docker group (the setup must add it: the stale-group case is real), and this machine's
// dockerd as the host's engine, so ssh:// -> `docker system dial-stdio` is the real path.
//
// Several of them can run at once (the fleet e2e: a hub and two worker hosts), each one "a machine"
// of its own as far as the stack can tell, although all are this one machine: one kernel, one
// dockerd, one /etc. What a host's setup script (infra/shell/setup.sh) and gates read and write is
// made per server, the rest is shared on purpose; every decision below says why.
//
// Per server, through bind mounts in sshd's private mount namespace (`unshare -m`; everything a login
// runs, the setup script under sudo included, inherits it, and this machine's own files are never
// touched):
//   /etc/machine-id         the host's identity: "reinstalling" it is writing a new one.
//   /run/sshd.pid           sshd's PidFile. The setup reloads sshd with `kill -HUP $(cat /run/sshd.pid)`
//                           (there is no systemd here), so each server's setup must find ITS sshd
//                           there: with one shared file, three setups would all signal whichever sshd
//                           wrote it last, and the other two would never read the drop-in. It also
//                           leaves a real sshd's pid file on this machine alone (the run used to refuse
//                           to start while one ran).
//   /etc/ssh/sshd_config.d  where the setup writes its drop-in (MaxStartups, MaxSessions). The setup
//                           writes it and reloads sshd only when the file changes ("put" in setup.sh):
//                           shared, the first of three concurrent setups would write it and reload its
//                           own sshd, and the other two would find it unchanged and never reload, so
//                           their sshds would keep the default MaxSessions 10 that the Docker provider's
//                           multiplexed connection outgrows. Per server, each setup writes, tests
//                           (`sshd -t`) and reloads its own, as on separate machines, and every run
//                           exercises the reload again (a shared drop-in left by an earlier run made the
//                           reload dead code after the first run on a machine). sshd_config includes it
//                           first, as Ubuntu's does, so the drop-in's values win.
//   /var/lib/gpu-hosts      the setup's state (STATE_DIR): it removes setup-done as it starts and
//                           writes it as it ends, and each host's readiness gate fails at once when it
//                           is missing (readiness/done-marker.sh). Shared, one host's setup starting
//                           while another's gate runs fails that gate for nothing.
//   ~/.ssh                  the user's authorized_keys, so a server can refuse the operator's key while
//                           another accepts it (authorize()). A fleet's servers share one operator key
//                           (the stack has one gpu-hosts:sshPrivateKey): pass it to each (operatorKey).
// Shared, on purpose or because it cannot be otherwise:
//   the user and /etc/group   one user on every server (useradd, once, serially: start() servers one
//                             after another). The setup's `usermod -aG docker` then runs up to three
//                             times at once; usermod takes shadow's lock on /etc/group and a
//                             concurrent one waits for it (lckpwdf, up to 15 s), so they serialise.
//                             The sudoers rule goes when the last server stops.
//   dockerd and daemon.json   the engine is the machine's (the e2e needs one engine it can inspect).
//                             The setup writes /etc/docker/daemon.json only when it is missing, the
//                             same text from every host, and restarts Docker only for a GPU host whose
//                             nvidia runtime it had to add (these hosts have gpu: false), so no setup
//                             restarts the engine the other hosts' containers run on. Docker is
//                             installed already, so the setup runs no apt at all (apt_prepare is only
//                             reached to install Docker or the NVIDIA driver).
//   iptables                  one kernel, one filter table. The firewall chain GPU-HOSTS
//                             (infra/shell/firewall.ts) is one per server by design; three servers that
//                             each installed it would flush each other's rules, and one uninstalling
//                             it (destroy, or a recover's delete-before-replace) would drop it for all.
//                             Only a host that publishes a port has anything to guard: in a fleet, the
//                             hub alone (the fleet e2e checks that the chain holds the hub's ports).
//                             A private network namespace per server would hide the conflict, but the
//                             hub's rules would then guard nothing, since Docker's published ports are
//                             in this machine's namespace.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export const E2E_USER = "gpuhosts-e2e";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function must(cmd: string, args: string[], input?: string): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", input });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
}

const sbin = (name: string) => ["/usr/sbin", "/sbin", "/usr/bin"].map((d) => path.join(d, name)).find((p) => fs.existsSync(p)) ?? name;
const userHome = () => must("getent", ["passwd", E2E_USER]).split(":")[5];

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

/** `n` distinct free ports (freePort alone may hand out the same one twice before anything listens). */
export async function freePorts(n: number): Promise<number[]> {
    const ports = new Set<number>();
    while (ports.size < n) ports.add(await freePort());
    return [...ports];
}

/** An operator key pair in `dir` (operator_key, operator_key.pub), for servers that share one. */
export function operatorKey(dir: string): string {
    const file = path.join(dir, "operator_key");
    if (!fs.existsSync(file)) must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gpu-hosts-e2e-operator", "-f", file]);
    return file;
}

/** The machine paths each server has a private copy of: machine path -> the server's file or directory, relative to its dir. */
const PRIVATE = {
    "/etc/machine-id": "machine-id",
    "/run/sshd.pid": "sshd.pid",
    "/etc/ssh/sshd_config.d": "sshd_config.d",
    "/var/lib/gpu-hosts": "state",
} as const;

/** The servers running now (the sudoers rule and the mount points they share go with the last). */
const running = new Set<SshServer>();
/** Mount points this process had to create on the machine, removed when the last server stops. */
const madeMountPoints: string[] = [];

export interface SshServerOptions {
    /**
     * The operator's private key file (its `.pub` beside it), shared by several servers; operatorKey()
     * makes one. Defaults to a key of this server's own, in its dir.
     */
    readonly operatorKeyFile?: string;
}

export class SshServer {
    private child?: ChildProcess;
    /** The private key the operator gives the stack (gpu-hosts:sshPrivateKey). */
    privateKey = "";
    /** The file that is the host's /etc/machine-id. */
    readonly machineIdFile: string;
    /** The directory that is the user's ~/.ssh on this host. */
    private readonly sshDir: string;
    private readonly keyFile: string;

    constructor(readonly dir: string, readonly port: number, o: SshServerOptions = {}) {
        this.machineIdFile = path.join(dir, PRIVATE["/etc/machine-id"]);
        this.sshDir = path.join(dir, "home-ssh");
        this.keyFile = o.operatorKeyFile ?? path.join(dir, "operator_key");
    }

    /**
     * Where the test finds a file as this host sees it: under one of its private paths (PRIVATE), the
     * server's own copy; elsewhere, the machine's file itself.
     */
    hostPath(p: string): string {
        for (const [at, own] of Object.entries(PRIVATE)) {
            if (p === at || p.startsWith(`${at}/`)) return path.join(this.dir, own, p.slice(at.length));
        }
        return p;
    }

    /**
     * Creates the user (not in the docker group) and its sudo rule if no other server of this process
     * runs, authorises the operator's key, starts sshd, and waits until it answers. Start servers one
     * after another, not at once: the user is made once.
     */
    async start(): Promise<void> {
        if (running.size === 0) {
            const existing = spawnSync("id", ["-u", E2E_USER]).status === 0;
            if (!existing) must(sbin("useradd"), ["--create-home", "--shell", "/bin/bash", E2E_USER]);
            // No password, but not locked: sshd (without PAM) refuses a locked account even with a key.
            must(sbin("usermod"), ["--password", "*", E2E_USER]);
            // Left over by an earlier run's setup: take it out, so the setup has to put it back.
            spawnSync("gpasswd", ["-d", E2E_USER, "docker"], { stdio: "ignore" });
            fs.writeFileSync(`/etc/sudoers.d/${E2E_USER}`, `${E2E_USER} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
        }
        running.add(this);
        if (!fs.existsSync(this.keyFile)) must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gpu-hosts-e2e-operator", "-f", this.keyFile]);
        this.privateKey = fs.readFileSync(this.keyFile, "utf8");
        // This host's ~/.ssh, owned by the user (sshd's StrictModes checks it and authorized_keys).
        fs.mkdirSync(this.sshDir, { recursive: true, mode: 0o700 });
        this.authorize(true);
        must("chown", ["-R", `${E2E_USER}:`, this.sshDir]);

        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(this.dir, "host_key")]);
        this.newMachineId();
        for (const d of ["sshd_config.d", "state"]) fs.mkdirSync(path.join(this.dir, d), { recursive: true, mode: 0o755 });
        fs.writeFileSync(path.join(this.dir, PRIVATE["/run/sshd.pid"]), "");
        fs.writeFileSync(path.join(this.dir, "sshd_config"), [
            // First, so the setup script's drop-in (MaxStartups, MaxSessions) wins, as on Ubuntu.
            "Include /etc/ssh/sshd_config.d/*.conf",
            `Port ${this.port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${path.join(this.dir, "host_key")}`,
            // The path the setup script reads; in this server's namespace, its own file (see above).
            "PidFile /run/sshd.pid",
            `AllowUsers ${E2E_USER}`,
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "",
        ].join("\n"));
        // The mount points: a bind mount needs its target to exist on the machine. Made empty where
        // missing (and removed again by the last stop); an existing one (a real sshd's pid file) is
        // only covered, in the namespace, never written.
        const home = userHome();
        for (const [at, isDir] of [["/run/sshd.pid", false], ["/etc/ssh/sshd_config.d", true], ["/var/lib/gpu-hosts", true], [path.join(home, ".ssh"), true]] as const) {
            if (fs.existsSync(at)) continue;
            if (isDir) fs.mkdirSync(at, { recursive: true, mode: 0o700 });
            else fs.writeFileSync(at, "");
            madeMountPoints.push(at);
        }
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        await this.launch();
    }

    /** Starts sshd in its mount namespace, with this host's private paths bound in, and waits until it answers. */
    private async launch(): Promise<void> {
        const log = fs.openSync(path.join(this.dir, "sshd.log"), "a");
        const binds = [...Object.entries(PRIVATE).map(([at, own]) => [path.join(this.dir, own), at]), [this.sshDir, path.join(userHome(), ".ssh")]]
            .map(([from, to]) => `mount --bind ${from} ${to}`);
        this.child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c",
            `${binds.join(" && ")} && exec ${sbin("sshd")} -D -e -f ${path.join(this.dir, "sshd_config")}`],
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

    /** The pid of this server's sshd (the listener), as its /run/sshd.pid holds it; 0 when it has none. */
    pid(): number {
        return Number(fs.readFileSync(path.join(this.dir, PRIVATE["/run/sshd.pid"]), "utf8").trim() || 0);
    }

    /** The host key sshd presents, "ssh-ed25519 <base64>". */
    hostKey(): string {
        return fs.readFileSync(path.join(this.dir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    }

    /**
     * What a reinstall does to the host as SSH sees it: a new machine id, new host keys, a fresh
     * /etc/ssh/sshd_config.d and /var/lib/gpu-hosts (the new system's: empty), and a reboot that drops
     * every connection (a multiplexed master of the old system must not carry over). sshd is
     * restarted to present the new key. The user's docker group and the Docker objects stay: the
     * caller removes what it wants gone (a real reinstall loses both).
     */
    async reinstall(): Promise<{ machineId: string; hostKey: string }> {
        const machineId = this.newMachineId();
        for (const f of ["host_key", "host_key.pub"]) fs.rmSync(path.join(this.dir, f), { force: true });
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(this.dir, "host_key")]);
        for (const d of ["sshd_config.d", "state"]) {
            fs.rmSync(path.join(this.dir, d), { recursive: true, force: true });
            fs.mkdirSync(path.join(this.dir, d), { mode: 0o755 });
        }
        // The per-connection sshd processes this sshd forked (by pid: only our own children).
        const connections = this.child?.pid ? spawnSync("pgrep", ["-P", String(this.child.pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean) : [];
        await this.halt();
        for (const pid of connections) spawnSync("kill", ["-TERM", pid]);
        await this.launch();
        return { machineId, hostKey: this.hostKey() };
    }

    /** Whether the operator's key may log in to this host (its authorized_keys holds it, or nothing). */
    authorize(yes: boolean): void {
        const file = path.join(this.sshDir, "authorized_keys");
        fs.writeFileSync(file, yes ? fs.readFileSync(`${this.keyFile}.pub`) : "", { mode: 0o600 });
        must("chown", [`${E2E_USER}:`, file]);
    }

    /** Writes a new machine id in place (the bind mount follows the file, not a name). */
    newMachineId(): string {
        const id = randomBytes(16).toString("hex");
        fs.writeFileSync(this.machineIdFile, `${id}\n`);
        return id;
    }

    /** Whether the user is in the docker group now (one user, so the same on every server). */
    inDockerGroup(): boolean {
        return must("id", ["-nG", E2E_USER]).split(/\s+/).includes("docker");
    }

    private async halt(): Promise<void> {
        // SIGTERM to `unshare`'s child: unshare execs sh, which execs sshd, so the child is sshd itself.
        this.child?.kill("SIGTERM");
        for (let i = 0; i < 50 && this.child && this.child.exitCode === null; i++) await sleep(100);
        for (let i = 0; i < 50 && (await this.answers()); i++) await sleep(100);
        fs.writeFileSync(path.join(this.dir, PRIVATE["/run/sshd.pid"]), "");
    }

    async stop(): Promise<void> {
        await this.halt();
        running.delete(this);
        if (running.size > 0) return;
        fs.rmSync(`/etc/sudoers.d/${E2E_USER}`, { force: true });
        // Only what this process made, and only while still empty (a real sshd may have started since).
        for (const at of madeMountPoints.splice(0).reverse()) {
            try {
                if (fs.statSync(at).isDirectory()) fs.rmdirSync(at);
                else if (fs.statSync(at).size === 0) fs.rmSync(at);
            } catch {
                // not empty, or gone: left as it is
            }
        }
    }
}
