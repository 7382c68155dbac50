// Renders the cloud-config that turns an Ubuntu GPU VM into a Docker host with the NVIDIA
// driver and container toolkit. Pure: the same options always give the same bytes, so the
// output is pinned by golden files in test/golden/.
import * as YAML from "yaml";
import { shellQuote } from "../infra/shell/quote";

/** Options for {@link renderCloudInit}. All values are validated before rendering. */
export interface CloudInitOptions {
    /** Login user the operator and Pulumi connect as over SSH; added to the `docker` group. Defaults to "ubuntu". */
    readonly sshUser?: string;
    /**
     * Whether cloud-init creates `sshUser` (with passwordless sudo and `sshAuthorizedKeys`).
     * Set false on Azure, where the VM resource creates the admin user. Defaults to true.
     */
    readonly createUser?: boolean;
    /**
     * OpenSSH public keys allowed to log in as `sshUser`. At least one is required when
     * `createUser` is true. Defaults to [].
     */
    readonly sshAuthorizedKeys?: readonly string[];
    /**
     * Ubuntu NVIDIA server driver branch; installs `nvidia-headless-<branch>` and
     * `nvidia-utils-<branch>`. Use a `-server-open` branch for GPUs that need the open kernel
     * modules. Defaults to "570-server".
     */
    readonly nvidiaDriverBranch?: string;
    /** Docker json-file log size before rotation (`log-opts.max-size`). Defaults to "10m". */
    readonly dockerLogMaxSize?: string;
    /** Rotated Docker log files kept per container (`log-opts.max-file`). Defaults to 3. */
    readonly dockerLogMaxFile?: number;
    /** Hostname to set. Defaults to unset (the cloud's own hostname). */
    readonly hostname?: string;
}

/** Options with every default applied and every value validated. */
export interface ResolvedCloudInitOptions {
    readonly sshUser: string;
    readonly createUser: boolean;
    readonly sshAuthorizedKeys: readonly string[];
    readonly nvidiaDriverBranch: string;
    readonly dockerLogMaxSize: string;
    readonly dockerLogMaxFile: number;
    readonly hostname?: string;
}

/** The one place cloud-init defaults live. */
export const CLOUD_INIT_DEFAULTS = {
    sshUser: "ubuntu",
    createUser: true,
    sshAuthorizedKeys: [] as readonly string[],
    nvidiaDriverBranch: "570-server",
    dockerLogMaxSize: "10m",
    dockerLogMaxFile: 3,
} as const;

// Paths shared with the readiness gate (infra/hosts/readiness.ts) and the tests.
export const STATE_DIR = "/var/lib/gpu-hosts";
export const SETUP_SCRIPT_PATH = "/usr/local/sbin/gpu-hosts-setup";
export const SETUP_DONE_MARKER = `${STATE_DIR}/setup-done`;
export const REBOOT_REQUIRED_MARKER = `${STATE_DIR}/reboot-required`;
export const DOCKER_DAEMON_JSON_PATH = "/etc/docker/daemon.json";
export const NVIDIA_DEV_CHAR_RULES_PATH = "/etc/udev/rules.d/71-nvidia-dev-char.rules";
/** sshd drop-in; Ubuntu's sshd_config includes sshd_config.d/*.conf first, and the first value wins. */
export const SSHD_DROP_IN_PATH = "/etc/ssh/sshd_config.d/10-gpu-hosts.conf";

/**
 * Every Docker API call over ssh:// is one SSH session (`ssh ... docker system dial-stdio`,
 * docker/cli connhelper), and about 15 resources per host run at once. The operator's side
 * multiplexes them over one connection (ControlMaster, infra/hosts/ssh.ts); these limits let
 * that connection carry them (MaxSessions, default 10) and let unmultiplexed clients in
 * (MaxStartups, default 10:30:100, drops connections at random past 10 unauthenticated ones:
 * kreuzwerker/terraform-provider-docker#262, docker/compose#10117).
 */
export const SSHD_LIMITS = { MaxStartups: "64:30:128", MaxSessions: 64 } as const;

/** The sshd drop-in's text. */
export function sshdDropIn(): string {
    return [
        "# gpu-hosts: room for the Docker provider's parallel SSH sessions (see cloud-init/render.ts).",
        ...Object.entries(SSHD_LIMITS).map(([k, v]) => `${k} ${v}`),
        "",
    ].join("\n");
}

/** An apt repository the setup script adds: its signing key is fetched first, then the source. */
export interface AptRepo {
    readonly name: string;
    /** HTTPS URL of the repository's signing key. */
    readonly keyUrl: string;
    /** Absolute path of the keyring; the source line's `signed-by` points here. */
    readonly keyPath: string;
    /** The key is ASCII-armoured and apt needs it binary (NVIDIA's); Docker's .asc is used as is. */
    readonly dearmor: boolean;
    readonly listPath: string;
    readonly uri: string;
    /**
     * `distro` = `<uri>/<os id>` with the release codename, the key at `<uri>/<os id>/gpg` (Docker's
     * repositories for Ubuntu and Debian); `flat` = a flat repo under `<uri>/<arch>`.
     */
    readonly layout: "distro" | "flat";
    readonly components: string;
}

// Docker's own repository rather than the distribution's docker.io: a current Engine plus the
// buildx plugin (the Pulumi Docker provider builds the app image on the host with BuildKit), the
// same version on every host, and the setup NVIDIA documents the toolkit against.
// https://docs.docker.com/engine/install/ubuntu/ and https://docs.docker.com/engine/install/debian/
export const DOCKER_REPO: AptRepo = {
    name: "docker",
    keyUrl: "https://download.docker.com/linux",
    keyPath: "/etc/apt/keyrings/docker.asc",
    dearmor: false,
    listPath: "/etc/apt/sources.list.d/docker.list",
    uri: "https://download.docker.com/linux",
    layout: "distro",
    components: "stable",
};

// https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html
export const NVIDIA_CONTAINER_TOOLKIT_REPO: AptRepo = {
    name: "nvidia-container-toolkit",
    keyUrl: "https://nvidia.github.io/libnvidia-container/gpgkey",
    keyPath: "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg",
    dearmor: true,
    listPath: "/etc/apt/sources.list.d/nvidia-container-toolkit.list",
    uri: "https://nvidia.github.io/libnvidia-container/stable/deb",
    layout: "flat",
    components: "/",
};

export const DOCKER_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin"] as const;

const DRIVER_BRANCH_RE = /^[0-9]{3}-server(-open)?$/;
// useradd's portable name rule, minus anything a shell would treat specially.
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const SSH_KEY_RE =
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
const LOG_SIZE_RE = /^[1-9][0-9]*[kmg]$/;
const HOSTNAME_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Every problem with `opts`, each naming the option, the bad value and what is allowed. */
export function validateCloudInitOptions(opts: CloudInitOptions): string[] {
    const r = withDefaults(opts);
    const problems: string[] = [];
    const bad = (key: string, allowed: string, value: unknown) =>
        problems.push(`cloud-init option ${key} must be ${allowed}, got ${JSON.stringify(value)}`);

    if (!USER_RE.test(r.sshUser)) {
        bad("sshUser", "a Linux user name matching /^[a-z_][a-z0-9_-]{0,31}$/", r.sshUser);
    }
    r.sshAuthorizedKeys.forEach((key, i) => {
        if (!SSH_KEY_RE.test(key)) {
            bad(`sshAuthorizedKeys[${i}]`, "a one-line OpenSSH public key (\"ssh-ed25519 AAAA... comment\")", key);
        }
    });
    if (r.createUser && r.sshAuthorizedKeys.length === 0) {
        bad("sshAuthorizedKeys", "at least one key when createUser is true", r.sshAuthorizedKeys);
    }
    if (!DRIVER_BRANCH_RE.test(r.nvidiaDriverBranch)) {
        bad(
            "nvidiaDriverBranch",
            'an Ubuntu NVIDIA server driver branch matching /^[0-9]{3}-server(-open)?$/, e.g. "570-server" or "570-server-open"',
            r.nvidiaDriverBranch,
        );
    }
    if (!LOG_SIZE_RE.test(r.dockerLogMaxSize)) {
        bad("dockerLogMaxSize", 'a size like "10m" (a positive integer followed by k, m or g)', r.dockerLogMaxSize);
    }
    if (!Number.isInteger(r.dockerLogMaxFile) || r.dockerLogMaxFile < 1 || r.dockerLogMaxFile > 100) {
        bad("dockerLogMaxFile", "an integer from 1 to 100", r.dockerLogMaxFile);
    }
    if (r.hostname !== undefined && !HOSTNAME_RE.test(r.hostname)) {
        bad("hostname", "a lowercase DNS label (a-z, 0-9, '-', at most 63 characters)", r.hostname);
    }
    return problems;
}

/** Applies defaults and validates; throws one Error listing every problem. */
export function resolveCloudInitOptions(opts: CloudInitOptions = {}): ResolvedCloudInitOptions {
    const problems = validateCloudInitOptions(opts);
    if (problems.length > 0) {
        throw new Error(problems.join("\n"));
    }
    return withDefaults(opts);
}

function withDefaults(opts: CloudInitOptions): ResolvedCloudInitOptions {
    const d = CLOUD_INIT_DEFAULTS;
    return {
        sshUser: opts.sshUser ?? d.sshUser,
        createUser: opts.createUser ?? d.createUser,
        // tls.PrivateKey.publicKeyOpenssh ends in a newline.
        sshAuthorizedKeys: (opts.sshAuthorizedKeys ?? d.sshAuthorizedKeys).map((k) => k.trim()),
        nvidiaDriverBranch: opts.nvidiaDriverBranch ?? d.nvidiaDriverBranch,
        dockerLogMaxSize: opts.dockerLogMaxSize ?? d.dockerLogMaxSize,
        dockerLogMaxFile: opts.dockerLogMaxFile ?? d.dockerLogMaxFile,
        ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    };
}

/** The packages for a driver branch: the headless (no X/desktop) driver and nvidia-smi. */
export function nvidiaDriverPackages(branch: string): string[] {
    return [`nvidia-headless-${branch}`, `nvidia-utils-${branch}`];
}

/** The daemon.json written before Docker first starts; `nvidia-ctk runtime configure` merges into it. */
export function dockerDaemonConfig(opts: Pick<ResolvedCloudInitOptions, "dockerLogMaxSize" | "dockerLogMaxFile">): object {
    return {
        "log-driver": "json-file",
        // Docker requires both log-opts values as strings.
        "log-opts": { "max-size": opts.dockerLogMaxSize, "max-file": String(opts.dockerLogMaxFile) },
    };
}

/** Renders the `#cloud-config` user data. Throws on invalid options (see {@link resolveCloudInitOptions}). */
export function renderCloudInit(opts: CloudInitOptions): string {
    const o = resolveCloudInitOptions(opts);

    const config: Record<string, unknown> = {};
    if (o.hostname !== undefined) {
        config.hostname = o.hostname;
    }
    if (o.createUser) {
        // The docker group is joined in the setup script, after docker-ce creates it as a system
        // group: a group made here first would be a regular group and docker-ce's postinst
        // `addgroup --system docker` would fail on it.
        config.users = [
            {
                name: o.sshUser,
                shell: "/bin/bash",
                sudo: "ALL=(ALL) NOPASSWD:ALL",
                lock_passwd: true,
                ssh_authorized_keys: [...o.sshAuthorizedKeys],
            },
        ];
    } else if (o.sshAuthorizedKeys.length > 0) {
        // Added to the image's default user, which on Azure is the VM resource's admin user.
        config.ssh_authorized_keys = [...o.sshAuthorizedKeys];
    }
    config.ssh_pwauth = false;
    config.package_update = false;
    config.package_upgrade = false;
    config.package_reboot_if_required = false;
    config.write_files = [
        {
            path: SETUP_SCRIPT_PATH,
            permissions: "0755",
            content: setupScript({ ...o, gpu: true }),
        },
    ];
    config.runcmd = [[SETUP_SCRIPT_PATH]];
    // power_state runs once per instance, after runcmd, so this cannot reboot-loop.
    config.power_state = {
        mode: "reboot",
        message: "gpu-hosts: rebooting to load the NVIDIA driver",
        timeout: 30,
        condition: `test -f ${REBOOT_REQUIRED_MARKER}`,
    };

    const doc = new YAML.Document(config);
    doc.commentBefore = " Generated by gpu-hosts cloud-init/render.ts; do not edit by hand.";
    comment(doc, "package_upgrade", [
        " No upgrade at first boot: it can install a new kernel, and the NVIDIA module is built",
        " (DKMS) for the running one only.",
    ]);
    comment(doc, "write_files", [" The same setup script an operator's own server gets over SSH; it writes the Docker, udev and", " sshd files itself."]);
    comment(doc, "power_state", [" Reboots only if the setup script could not load the NVIDIA module."]);
    return "#cloud-config\n" + doc.toString({ lineWidth: 0 });
}

function comment(doc: YAML.Document, key: string, lines: string[]): void {
    const pair = (doc.contents as YAML.YAMLMap).items.find((p) => YAML.isScalar(p.key) && p.key.value === key);
    if (pair && YAML.isScalar(pair.key)) {
        pair.key.commentBefore = lines.join("\n");
    }
}

// runc with systemd cgroups drops GPU device access from running containers whenever systemd
// reloads its units (apt hooks do this); the /dev/char symlinks are NVIDIA's workaround.
// https://github.com/NVIDIA/nvidia-docker/issues/1730
function nvidiaDevCharUdevRule(): string {
    return (
        'ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", ' +
        'RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"\n'
    );
}

/** The script that adds the apt repository `repo`: key first, then the source that trusts it. */
function aptRepoSteps(repo: AptRepo): string[] {
    for (const value of [repo.keyPath, repo.uri, repo.components, repo.listPath]) {
        // They go into a printf format inside single quotes.
        if (/[%'\\\s]/.test(value)) {
            throw new Error(`apt repo ${repo.name}: ${JSON.stringify(value)} must not contain %, ', \\ or spaces`);
        }
    }
    const key = shellQuote(repo.keyPath);
    const keyUrl = repo.layout === "distro" ? `${shellQuote(repo.keyUrl)}/"$(os_id)"/gpg` : shellQuote(repo.keyUrl);
    const fetch = repo.dearmor
        ? `curl -fsSL ${keyUrl} | gpg --batch --yes --dearmor -o "$tmp"`
        : `curl -fsSL ${keyUrl} -o "$tmp"`;
    const source =
        repo.layout === "distro"
            ? [
                  `printf ${shellQuote(`deb [arch=%s signed-by=${repo.keyPath}] ${repo.uri}/%s %s ${repo.components}\\n`)} "$arch" "$(os_id)" "$(os_codename)" \\`,
              ]
            : [`printf ${shellQuote(`deb [signed-by=${repo.keyPath}] ${repo.uri}/%s ${repo.components}\\n`)} "$arch" \\`];
    return [
        `log "adding the ${repo.name} apt repository"`,
        `install -d -m 0755 ${shellQuote(dirname(repo.keyPath))}`,
        `if [ ! -s ${key} ]; then`,
        `  tmp="$(mktemp)"`,
        `  ${fetch}`,
        `  install -m 0644 "$tmp" ${key}`,
        `  rm -f "$tmp"`,
        `fi`,
        `arch="$(dpkg --print-architecture)"`,
        ...source,
        `  >${shellQuote(repo.listPath)}`,
    ];
}

function dirname(path: string): string {
    return path.slice(0, path.lastIndexOf("/"));
}

/** What the setup script needs to know about the host. */
export interface SetupOptions {
    /** The login user, added to the docker group (unless it is root). */
    readonly sshUser: string;
    /** Whether to install the NVIDIA driver and container toolkit and give Docker the nvidia runtime. */
    readonly gpu: boolean;
    readonly nvidiaDriverBranch: string;
    readonly dockerLogMaxSize: string;
    readonly dockerLogMaxFile: number;
}

/**
 * The host setup script (bash), the same for every host kind: cloud-init runs it on a cloud VM's
 * first boot, and an operator's own server (kind ssh) gets it over SSH, as root through sudo, again
 * whenever it changes. Docker Engine (when missing), the NVIDIA driver and container toolkit (with a
 * GPU), the docker group for the login user, and sshd's limits. Every config value is validated and
 * lands in the `readonly` block at the top, shell-quoted; the body is fixed text. Idempotent, and
 * careful with a machine that is not ours alone: an existing daemon.json is kept, and Docker is
 * restarted only when the nvidia runtime had to be added.
 */
export function setupScript(o: SetupOptions): string {
    const q = shellQuote;
    /** A pipeline that writes `content` to `path` only when it differs (put); one line, quoted. */
    const write = (path: string, content: string) =>
        `printf '%s\\n' ${content.replace(/\n$/, "").split("\n").map(q).join(" ")} | put ${q(path)} 0644`;
    const lines: string[] = [
        "#!/bin/bash",
        "# gpu-hosts host setup: Docker Engine, the NVIDIA driver and container toolkit (GPU hosts), the",
        "# docker group and sshd's limits. Generated by cloud-init/render.ts. Safe to re-run.",
        "set -euo pipefail",
        "",
        `readonly SSH_USER=${q(o.sshUser)}`,
        `readonly GPU=${o.gpu ? "true" : "false"}`,
        `readonly DRIVER_PACKAGES=(${nvidiaDriverPackages(o.nvidiaDriverBranch).map(q).join(" ")})`,
        `readonly DOCKER_PACKAGES=(${DOCKER_PACKAGES.map(q).join(" ")})`,
        `readonly STATE_DIR=${q(STATE_DIR)}`,
        `readonly REBOOT_MARKER=${q(REBOOT_REQUIRED_MARKER)}`,
        `readonly DONE_MARKER=${q(SETUP_DONE_MARKER)}`,
        `readonly DAEMON_JSON=${q(DOCKER_DAEMON_JSON_PATH)}`,
        "",
        "export DEBIAN_FRONTEND=noninteractive",
        "# needrestart would otherwise restart services in the middle of the setup.",
        "export NEEDRESTART_MODE=l",
        "",
        'log() { echo "gpu-hosts-setup: $*"; }',
        "",
        "# Waits for the dpkg lock (unattended-upgrades runs at first boot) instead of failing.",
        "apt_get() {",
        "  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef \\",
        "    -o Dpkg::Options::=--force-confold -y -q \"$@\"",
        "}",
        "",
        "os_id() { sed -n 's/^ID=//p' /etc/os-release | tr -d '\"'; }",
        "os_codename() {",
        "  local codename",
        "  codename=\"$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)\"",
        '  [ -n "$codename" ] || { log "no VERSION_CODENAME in /etc/os-release" >&2; return 1; }',
        '  echo "$codename"',
        "}",
        "",
        "# apt's index and the tools to add a repository, once, and only when something is installed.",
        "apt_ready=\"\"",
        "apt_prepare() {",
        '  [ -z "$apt_ready" ] || return 0',
        "  apt_get update",
        "  apt_get install --no-install-recommends ca-certificates curl gnupg",
        "  apt_ready=1",
        "}",
        "",
        "# Writes stdin to a file when its content differs; succeeds only when it changed the file.",
        "put() {",
        "  local tmp",
        '  tmp="$(mktemp)"',
        '  cat >"$tmp"',
        '  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi',
        '  install -D -m "$2" "$tmp" "$1"',
        '  rm -f "$tmp"',
        "}",
        "",
        'install -d -m 0755 "$STATE_DIR"',
        'rm -f "$DONE_MARKER"',
        "",
        "# Log rotation, in place before the engine's first start. An engine its owner already",
        "# configured keeps its own daemon.json.",
        'if [ ! -e "$DAEMON_JSON" ]; then',
        `  ${write(DOCKER_DAEMON_JSON_PATH, JSON.stringify(dockerDaemonConfig(o)) + "\n")}`,
        "fi",
        "",
        "if command -v dockerd >/dev/null 2>&1; then",
        '  log "Docker Engine already installed; skipping"',
        "else",
        '  case "$(os_id)" in',
        "    ubuntu | debian) ;;",
        '    *) log "Docker Engine is installed here on Ubuntu and Debian only; install it yourself, then run this again" >&2; exit 1 ;;',
        "  esac",
        "  apt_prepare",
        ...aptRepoSteps(DOCKER_REPO).map(indent),
        "  apt_get update",
        '  apt_get install "${DOCKER_PACKAGES[@]}"',
        "fi",
        "",
        'if [ "$GPU" = true ]; then',
        "  # runc with systemd cgroups drops GPU device access from running containers whenever systemd",
        "  # reloads its units (apt hooks do); the /dev/char symlinks are NVIDIA's workaround.",
        "  # https://github.com/NVIDIA/nvidia-docker/issues/1730",
        `  ${write(NVIDIA_DEV_CHAR_RULES_PATH, nvidiaDevCharUdevRule())} || true`,
        "",
        "  # NVIDIA driver: headless server branch, built for the running kernel only.",
        "  if nvidia-smi >/dev/null 2>&1; then",
        '    log "NVIDIA driver already working; skipping"',
        '    rm -f "$REBOOT_MARKER"',
        "  else",
        '    if [ "$(os_id)" != ubuntu ]; then',
        "      log \"the NVIDIA driver is installed here on Ubuntu only: install it yourself (nvidia-smi must work), then run this again\" >&2",
        "      exit 1",
        "    fi",
        "    apt_prepare",
        '    apt_get install --no-install-recommends "linux-headers-$(uname -r)" "${DRIVER_PACKAGES[@]}"',
        "    if modprobe nvidia && nvidia-smi >/dev/null 2>&1; then",
        '      log "NVIDIA driver loaded"',
        "    else",
        '      log "NVIDIA driver installed but not loadable until a reboot"',
        "      # The boot id tells the readiness gate whether the reboot has happened yet.",
        '      cat /proc/sys/kernel/random/boot_id >"$REBOOT_MARKER"',
        "    fi",
        "  fi",
        "",
        "  # NVIDIA container toolkit.",
        "  if command -v nvidia-ctk >/dev/null 2>&1; then",
        '    log "NVIDIA container toolkit already installed; skipping"',
        "  else",
        "    apt_prepare",
        ...aptRepoSteps(NVIDIA_CONTAINER_TOOLKIT_REPO).map((l) => indent(indent(l))),
        "    apt_get update",
        "    apt_get install nvidia-container-toolkit",
        "  fi",
        "",
        "  # Adds the nvidia runtime to daemon.json, keeping its other settings. Docker restarts (and with",
        "  # it every container on the machine) only when that changed the file.",
        '  before="$(sha256sum "$DAEMON_JSON" 2>/dev/null || true)"',
        "  nvidia-ctk runtime configure --runtime=docker",
        '  if [ "$(sha256sum "$DAEMON_JSON")" != "$before" ]; then',
        "    systemctl restart docker",
        "  fi",
        "  if nvidia-smi >/dev/null 2>&1; then",
        "    nvidia-ctk system create-dev-char-symlinks --create-all",
        "  fi",
        "fi",
        "",
        "# The login user runs Docker without sudo (the Docker provider dials it over SSH as that user).",
        'if [ "$SSH_USER" != root ]; then',
        '  usermod -aG docker "$SSH_USER"',
        "fi",
        "",
        "# sshd's limits (see SSHD_LIMITS in cloud-init/render.ts), applied when they change.",
        `if ${write(SSHD_DROP_IN_PATH, sshdDropIn())}; then`,
        "  # Ubuntu 24.04 starts sshd through a socket, so /run/sshd (its privilege separation directory,",
        "  # which `sshd -t` checks) may not exist yet: make it, or the test below fails the setup.",
        "  install -d -m 0755 /run/sshd",
        "  sshd -t",
        "  if [ -d /run/systemd/system ]; then",
        "    # Reloads sshd if it runs; a socket-activated one that does not reads the drop-in when it starts.",
        "    systemctl try-reload-or-restart ssh.service",
        '  elif [ -s /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then',
        "    # No systemd: sshd's own reload signal, as Debian's init script sends it.",
        '    kill -HUP "$(cat /run/sshd.pid)"',
        "  else",
        '    log "sshd runs neither under systemd nor with /run/sshd.pid: the new limits apply when it next starts"',
        "  fi",
        "fi",
        "",
        'touch "$DONE_MARKER"',
        'log "done"',
    ];
    return lines.join("\n") + "\n";
}

function indent(line: string): string {
    return line === "" ? line : `  ${line}`;
}
