// Every value pattern, once, with the words that say what it allows. The config loader checks
// operators' values with them, and the renderers guard their own inputs with the same ones, so a
// value the config accepts is never refused by a renderer (or the other way round). A cloud's own
// formats (regions, zones, machine shapes) live with that cloud, in infra/clouds/<cloud>/.
import * as net from "net";
import * as ipaddr from "ipaddr.js";

/** A value pattern and what it allows, in words that fit "must be <allowed>". */
export interface Pattern {
    readonly re: RegExp;
    readonly allowed: string;
}

const p = (re: RegExp, allowed: string): Pattern => ({ re, allowed });

/** Whether `v` is a string that `pattern` accepts. */
export function matches(pattern: Pattern, v: unknown): v is string {
    return typeof v === "string" && pattern.re.test(v);
}

/** A login name useradd accepts, minus anything a shell would treat specially. */
export const LINUX_USER = p(/^[a-z_][a-z0-9_-]{0,31}$/, "a Linux user name, e.g. \"ubuntu\"");

/** One OpenSSH public key line, as authorized_keys takes it (security keys' sk- types included). */
export const SSH_PUBLIC_KEY = p(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/,
    "an OpenSSH public key line (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp*, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com)",
);

/**
 * An SSH host key to pin: its type and base64 blob, as `ssh-keyscan` and /etc/ssh/ssh_host_*_key.pub
 * give it (a trailing comment is allowed and dropped). Ed25519 or ECDSA only: pulumi-command pins a
 * key by offering the server that key's type alone (remote/connection.go at v1.2.1: HostKeyAlgorithms
 * = [publicKey.Type()]), and for an RSA key that type is "ssh-rsa", the SHA-1 signature OpenSSH 8.8
 * and later refuse by default, so an RSA pin could never connect.
 */
export const SSH_HOST_KEY = p(
    /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) AAAA[A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/,
    "an SSH host key line of type ssh-ed25519 or ecdsa-sha2-nistp256/384/521, e.g. the contents of /etc/ssh/ssh_host_ed25519_key.pub",
);

/** An unencrypted private key in OpenSSH or PEM form. */
export const SSH_PRIVATE_KEY = p(
    /^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----\r?\n[\s\S]+\r?\n-----END \1 PRIVATE KEY-----\s*$/,
    "an unencrypted OpenSSH or PEM private key (\"-----BEGIN OPENSSH PRIVATE KEY-----\" ...)",
);

/**
 * An Ubuntu NVIDIA server driver branch, as its package names carry it. An open branch ("-open", the
 * open kernel modules) is one the setup installs: Ubuntu publishes its headless metapackage, DKMS
 * package and signed precompiled modules (infra/shell/setup.ts nvidiaDriverPackages).
 */
export const DRIVER_BRANCH = p(/^\d{3}-server(-open)?$/, "an Ubuntu NVIDIA server driver branch such as \"580-server\" or \"580-server-open\"");

/** An image reference with an explicit version tag (never "latest"), optionally a digest. */
export const IMAGE_PIN = p(
    /^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:(?!latest(?:@|$))[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(?:@sha256:[a-f0-9]{64})?$/,
    "an image with an explicit version tag other than \"latest\", e.g. \"redis:7.4.2-alpine\"",
);

/** An Ollama model name, optionally with a namespace and a tag. */
export const MODEL = p(/^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)*(?::[A-Za-z0-9][A-Za-z0-9._-]*)?$/, "an Ollama model name, e.g. \"llama3.2:3b\"");

/** A slot release: "workdir" or a git ref safe to pass to git and to put in an image tag. */
export const RELEASE = p(/^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/, "\"workdir\" or a git ref (letters, digits, \".\", \"_\", \"-\", \"/\"; at most 100 characters)");

/** A full git object id: SHA-1 (40 hex digits) or SHA-256 (64). */
export const COMMIT = p(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "the full id of a git commit (40 or 64 hex digits)");

/** A relative path that stays inside its base. */
export const RELATIVE_PATH = p(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+$/, "a relative path inside the project, e.g. \"app\"");

/** An absolute URL path. */
export const URL_PATH = p(/^\/[A-Za-z0-9._~/-]*$/, "an absolute URL path, e.g. \"/health\"");

/** A Go duration as Ollama's keep-alive takes it, or 0 / -1. */
export const DURATION = p(/^(-1|0|\d+(s|m|h))$/, "a duration such as \"24h\", \"30m\", \"0\" or \"-1\"");

/** A Docker engine URL, or "" for the docker CLI's own engine. */
export const DOCKER_HOST = p(/^(|unix:\/\/\/[^\s]+|tcp:\/\/[^\s]+|ssh:\/\/[^\s]+|npipe:\/\/[^\s]+)$/,
    "\"\" (the docker CLI's own engine) or a Docker host URL such as \"unix:///var/run/docker.sock\"");

/** A host's name: its resources, containers and outputs are named after it. */
export const HOST_NAME = p(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/,
    "a host name of lowercase letters, digits and '-', starting with a letter (at most 32 characters), e.g. \"gpu-box-1\"");

/** A DNS name: one or more labels (RFC 1123), at most 253 characters. */
export const DNS_NAME = p(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, "a DNS name, e.g. \"gpu1.example.com\"");

/** A fully qualified domain name with a top-level domain: what a public CA issues for. */
export const DOMAIN = p(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, "a DNS name such as \"api.example.com\"");

/** A contact address. */
export const EMAIL = p(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an email address");

/** Characters an API key may hold: base64url/base64 and a few unreserved ones, so it fits an HTTP header as is. */
export const API_KEY_CHARS = "A-Za-z0-9._~+/=-";
/** The shortest API key that cannot be guessed, and the longest a header carries comfortably. */
export const API_KEY_LENGTH = { min: 32, max: 256 } as const;
export const API_KEY = p(new RegExp(`^[${API_KEY_CHARS}]{${API_KEY_LENGTH.min},${API_KEY_LENGTH.max}}$`),
    `${API_KEY_LENGTH.min} to ${API_KEY_LENGTH.max} characters of letters, digits and "._~+/=-"`);

/** A Docker object name (container, volume, network) as the host scripts name them. */
export const DOCKER_NAME = p(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a Docker name of letters, digits, '_', '.' and '-'");

/**
 * A registry mirror as dockerd's `registry-mirrors` takes it: an http(s) URL of a registry's root,
 * with no user, path, query or fragment. dockerd refuses to start on a mirror it cannot parse
 * (moby registry/config.go ValidateMirror: scheme http or https, no query, fragment or user info),
 * and a pull-through cache serves only from its root ("The URL of a pull-through registry mirror must
 * be the root of a domain": https://distribution.github.io/distribution/recipes/mirror/); older
 * engines refused a path too, so none is accepted.
 */
export const REGISTRY_MIRROR = p(/^https?:\/\/(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[1-9][0-9]{0,4})?\/?$/,
    "an http(s) URL of a registry mirror's root, e.g. \"https://mirror.gcr.io\" (no user, path, query or fragment)");

/**
 * A Docker Hub user (Docker ID) or organization, as `docker login` takes it: 4 to 30 lowercase letters
 * and digits (https://docs.docker.com/accounts/create-account/); an organization's name may hold '-'
 * and '_' as well (an organization access token logs in with it).
 */
export const DOCKER_HUB_USER = p(/^[a-z0-9][a-z0-9_-]{2,28}[a-z0-9]$/, "a Docker Hub user or organization name (4 to 30 lowercase letters, digits, '-' and '_')");

/** A Docker Hub password or access token: one line of printable characters. Never echoed. */
export const REGISTRY_PASSWORD = p(/^[\x21-\x7e][\x20-\x7e]{0,4094}$/, "a Docker Hub password or personal access token (one line of printable characters, at most 4095)");

/** A machine id as systemd writes /etc/machine-id: 32 lowercase hex digits. */
export const MACHINE_ID = p(/^[0-9a-f]{32}$/, "a machine id (32 hex digits)");

/** Whether `v` is an IPv4 or IPv6 address. */
export function isIp(v: unknown): v is string {
    return typeof v === "string" && net.isIP(v) !== 0;
}

/** An address clients and SSH can reach: an IP address, or a DNS name that is not all digits and dots. */
export const ADDRESS_ALLOWED = "an IPv4 or IPv6 address or a DNS name, e.g. \"203.0.113.10\" or \"gpu1.example.com\"";
export function isAddress(v: unknown): v is string {
    return isIp(v) || (matches(DNS_NAME, v) && !/^[0-9.]+$/.test(v));
}

/** A CIDR block in canonical notation: a valid address (no octal-looking parts) and a plain prefix length. */
export function isCidr(v: unknown): v is string {
    if (typeof v !== "string") return false;
    const m = /^([^/]+)\/(0|[1-9]\d{0,2})$/.exec(v);
    if (!m) return false;
    const bits = Number(m[2]);
    if (net.isIPv4(m[1])) return bits <= 32;
    if (net.isIPv6(m[1])) return bits <= 128;
    return false;
}

/** The block's network address when `cidr` has host bits set ("10.0.0.1/8" -> "10.0.0.0/8"), else undefined. */
export function withoutHostBits(cidr: string): string | undefined {
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    const network = addr.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    return network.toString() === addr.toString() ? undefined : `${network.toString()}/${bits}`;
}

/**
 * The widest blocks a production stack may open SSH and the idle slot to: an IPv4 /16 (65,536
 * addresses) and an IPv6 /32. Anything wider counts as open to the world, however it is spelled
 * ("0.0.0.0/1" + "128.0.0.0/1", "0::/0", an IPv4-mapped ::ffff:0:0/96).
 */
export const WIDEST_PRODUCTION_PREFIX = { ipv4: 16, ipv6: 32 } as const;

/** Whether a CIDR covers more addresses than a production stack allows for SSH. */
export function isWorldOpen(cidr: string): boolean {
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return bits - 96 < WIDEST_PRODUCTION_PREFIX.ipv4;
    return bits < (addr.kind() === "ipv4" ? WIDEST_PRODUCTION_PREFIX.ipv4 : WIDEST_PRODUCTION_PREFIX.ipv6);
}
