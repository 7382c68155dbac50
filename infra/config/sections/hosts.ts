// Where the service runs: gpu-hosts:clouds (the host kinds), the operator's own servers (ssh,
// sshPrivateKey) and the local Docker engine (local). Each cloud's own section is in
// infra/clouds/<cloud>/section.ts.
import { LOCAL, NAMESPACE, SSH } from "../../vocabulary";
import { ADDRESS_ALLOWED, DOCKER_HOST, HOST_NAME, LINUX_USER, SSH_HOST_KEY, SSH_PRIVATE_KEY, isAddress, isIp } from "../../validators";
import { Reader, show } from "../reader";
import { ConfigKey, defineKey } from "../schema";

/** One of the operator's own servers (host kind "ssh"), reached over SSH. */
export interface SshHostConfig {
    /** The host's name: its resources, containers and outputs are named after it. */
    readonly name: string;
    /** IP address or DNS name that SSH and the API clients use. */
    readonly address: string;
    /** SSH port. */
    readonly port: number;
    /** Login user; not root, it gets sudo for the setup. */
    readonly user: string;
    /** Whether the server has an NVIDIA GPU to set up, prove and hand to Ollama. */
    readonly gpu: boolean;
    /**
     * The SSH host key every connection requires ("ssh-ed25519 AAAA..."), or "" to take the one the
     * server presents the first time (kept in the state).
     */
    readonly hostKey: string;
}

export interface LocalConfig {
    /** The engine's URL; "" is the engine the operator's docker CLI uses (DOCKER_HOST, else the current context). */
    readonly dockerHost: string;
    /** Whether the engine can hand containers a GPU (NVIDIA container toolkit installed). */
    readonly gpu: boolean;
    /** Host IP the published ports bind to. */
    readonly bindAddress: string;
}

/** Where the service runs (gpu-hosts:clouds is typed by the loader, which knows the kinds). */
export interface HostsConfig {
    /** The operator's own servers, when "ssh" is in clouds. */
    readonly ssh: { readonly hosts: readonly SshHostConfig[] };
    /**
     * The operator's own SSH private key for the "ssh" hosts (a config secret), or "" to use the
     * stack's generated key, whose public half the stack outputs for the servers to authorise.
     * Plain here, as Pulumi hands config to the program; the hosts wrap it in a secret at once.
     */
    readonly sshPrivateKey: string;
    readonly local: LocalConfig;
}

/** gpu-hosts:clouds: which host kinds the stack has, from every kind there is. */
export function cloudsKey(kinds: readonly string[]): ConfigKey<readonly string[]> {
    return defineKey<readonly string[]>({
        key: "clouds",
        schema: {
            type: "array", items: { type: "string" },
            description: `Hosts to run the service on, any of ${kinds.map(show).join(", ")}. One host per entry; "${SSH}" is every server in ${NAMESPACE}:ssh.`,
            default: [LOCAL],
        },
        read: (r, raw, _ctx, fb) => {
            const clouds = r.list("clouds", raw, fb, (x): x is string => kinds.includes(x as string), kinds.map(show).join(", "), true);
            if (new Set(clouds).size !== clouds.length) r.fail("clouds", "a list without repeats", clouds);
            return clouds;
        },
    });
}

const SSH_HOST_FIELDS = ["name", "address", "port", "user", "gpu", "hostKey"] as const;
/** An ssh host's defaults: the fields an entry may leave out. */
export const SSH_HOST_DEFAULTS = { port: 22, user: "ubuntu", gpu: true, hostKey: "" } as const;

/** gpu-hosts:ssh: {hosts: [{name, address, port?, user?, gpu?, hostKey?}]}, every entry checked, every problem named. */
function readSshHosts(r: Reader, given: unknown, enabled: boolean, kinds: readonly string[]): { readonly hosts: readonly SshHostConfig[] } {
    const key = "ssh.hosts";
    const none = { hosts: [] };
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
        r.fail("ssh", "an object with field hosts", given);
        return none;
    }
    for (const k of Object.keys(given)) if (k !== "hosts") r.problems.push(`${NAMESPACE}:ssh.${k} is not a known field; known fields: hosts`);
    const list = (given as { hosts?: unknown }).hosts ?? [];
    if (!Array.isArray(list)) {
        r.fail(key, "a list of {name, address, port?, user?, gpu?, hostKey?}", list);
        return none;
    }
    if (enabled && list.length === 0) r.fail(key, `a non-empty list of {name, address, port?, user?, gpu?, hostKey?} when "${SSH}" is in ${NAMESPACE}:clouds`, list);
    const hosts: SshHostConfig[] = [];
    list.forEach((h, i) => {
        const at = `${key}[${i}]`;
        if (typeof h !== "object" || h === null || Array.isArray(h)) {
            r.fail(at, "an object {name, address, port?, user?, gpu?, hostKey?}", h);
            return;
        }
        const e = h as Record<string, unknown>;
        for (const k of Object.keys(e)) {
            if (!(SSH_HOST_FIELDS as readonly string[]).includes(k)) r.problems.push(`${NAMESPACE}:${at}.${k} is not a known field; known fields: ${SSH_HOST_FIELDS.join(", ")}`);
        }
        for (const k of ["name", "address"]) if (e[k] === undefined) r.problems.push(`${NAMESPACE}:${at}.${k} is required`);
        const name = e.name === undefined ? "" : r.pattern(`${at}.name`, e.name, "", HOST_NAME);
        if (name && kinds.includes(name)) r.fail(`${at}.name`, `a name other than ${kinds.map(show).join(", ")} (the other hosts' names)`, name);
        let address = "";
        if (e.address !== undefined) {
            if (isAddress(e.address)) address = e.address;
            else r.fail(`${at}.address`, ADDRESS_ALLOWED, e.address);
        }
        hosts.push({
            name,
            address,
            port: r.int(`${at}.port`, e.port, SSH_HOST_DEFAULTS.port, 1, 65535),
            user: r.pattern(`${at}.user`, e.user, SSH_HOST_DEFAULTS.user, LINUX_USER),
            gpu: r.bool(`${at}.gpu`, e.gpu, SSH_HOST_DEFAULTS.gpu),
            hostKey: e.hostKey === undefined || e.hostKey === SSH_HOST_DEFAULTS.hostKey ? SSH_HOST_DEFAULTS.hostKey
                : r.pattern(`${at}.hostKey`, typeof e.hostKey === "string" ? e.hostKey.trim() : e.hostKey, SSH_HOST_DEFAULTS.hostKey, SSH_HOST_KEY),
        });
    });
    const names = hosts.map((h) => h.name).filter(Boolean);
    const repeated = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    if (repeated.length) r.fail(key, "a list whose names are all different", repeated.length === 1 ? repeated[0] : repeated);
    return { hosts };
}

export const ssh = defineKey<{ readonly hosts: readonly SshHostConfig[] }>({
    key: "ssh",
    schema: {
        description: `Your own servers, when "${SSH}" is in clouds: {hosts: [{name, address, port, user, gpu, hostKey}]}; port defaults to ${SSH_HOST_DEFAULTS.port}, user to "${SSH_HOST_DEFAULTS.user}", gpu to ${SSH_HOST_DEFAULTS.gpu}; hostKey (the server's /etc/ssh/ssh_host_ed25519_key.pub) pins its SSH host key, "" takes the one it presents first. Each is set up over SSH with sudo.`,
        default: { hosts: [] },
    },
    read: (r, raw, ctx) => readSshHosts(r, raw, ctx.enabled(SSH), ctx.hostKinds),
});

/** The operators' own SSH private key: a secret, in OpenSSH or PEM form; never echoed. */
export const sshPrivateKey = defineKey<string>({
    key: "sshPrivateKey",
    schema: {
        type: "string",
        description: "Your own SSH private key for the ssh hosts; set it with --secret. \"\" uses the stack's generated key, whose public half is the output hosts.<name>.authorizedKey.",
        default: "",
    },
    read: (r, raw) => {
        if (typeof raw !== "string" || raw.trim() === "") return "";
        const problems: string[] = [];
        if (!r.isSecret("sshPrivateKey")) problems.push(`${NAMESPACE}:sshPrivateKey must be set as a secret (pulumi config set --secret ${NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519), got a plain-text value (not shown)`);
        if (!SSH_PRIVATE_KEY.re.test(raw)) problems.push(`${NAMESPACE}:sshPrivateKey must be ${SSH_PRIVATE_KEY.allowed}, got something else (not shown: it is a secret)`);
        r.problems.push(...problems);
        return problems.length ? "" : raw;
    },
});

export const local = defineKey<LocalConfig>({
    key: "local",
    schema: {
        description: "The local Docker engine {dockerHost, gpu, bindAddress}; dockerHost \"\" is the engine your docker CLI uses (DOCKER_HOST, else the current context).",
        default: { dockerHost: "", gpu: false, bindAddress: "127.0.0.1" },
    },
    read: (r, raw, _ctx, fb) => r.object("local", raw, fb, {
        dockerHost: (k, v, dfb) => r.pattern(k, v, dfb, DOCKER_HOST),
        gpu: (k, v, gfb) => r.bool(k, v, gfb),
        bindAddress: (k, v, bfb) => {
            if (v === undefined) return bfb;
            if (isIp(v)) return v;
            r.fail(k, "an IP address of this machine, e.g. \"127.0.0.1\"", v);
            return bfb;
        },
    }),
});
