// Who may use the API and how it is served: gpu-hosts:auth, apiKeys, tls.
import { NAMESPACE } from "../../vocabulary";
import { API_KEY, DOMAIN, EMAIL } from "../../validators";
import type { Reader } from "../reader";
import { MAX_HOSTS_PER_CLOUD } from "../placements";
import { parseCloudHostName } from "../../contract/names";
import { hostNamesText } from "./capacity";
import { ConfigKey, defineKey } from "../schema";

export type TlsMode = "internal" | "acme" | "off";
export const TLS_MODES: readonly TlsMode[] = ["internal", "acme", "off"];

export interface TlsConfig {
    /**
     * "internal": a certificate for the host's IP from the stack's own CA (zero configuration; the
     * root is the stack output caRootCert, for clients to pin). "acme": a publicly trusted
     * certificate for the cloud's domain in `domains` (needs DNS pointing at the host and port 80
     * open for the HTTP-01 challenge). "off": plain HTTP.
     */
    readonly mode: TlsMode;
    /** The operator's DNS name of each cloud host, by host name ("aws", "aws-2"), for "acme"; "" for none. */
    readonly domains: Readonly<Record<string, string>>;
    /** Contact address for the ACME account. "" for none. */
    readonly email: string;
}

/** The access section of the stack config. */
export interface AccessConfig {
    /** API keys: checked by the proxy on the live and idle port of every host. */
    readonly auth: { readonly enabled: boolean };
    /**
     * Operators' own API keys, beside the one the stack generates (config secret, comma-separated).
     * Plain here, as Pulumi hands config to the program; index.ts wraps them in a secret at once.
     */
    readonly apiKeys: readonly string[];
    /** HTTPS on cloud hosts and servers (the local stack serves plain HTTP on loopback). */
    readonly tls: TlsConfig;
}

export const auth = defineKey<{ readonly enabled: boolean }>({
    key: "auth",
    schema: {
        description: "API keys {enabled}: the proxy answers 401 to a request without a valid \"Authorization: Bearer <key>\" on the live and idle port (/health stays open). The stack generates one key (stack output apiKey, a secret).",
        default: { enabled: true },
    },
    read: (r, raw, _ctx, fb) => r.object("auth", raw, fb, { enabled: (k, v, efb) => r.bool(k, v, efb) }),
});

export const API_KEY_ALLOWED = `a comma-separated list of API keys, each ${API_KEY.allowed}`;

/** Operators' API keys from the config text; never echoes a value in a message. */
function readApiKeys(r: Reader, text: unknown): readonly string[] {
    if (typeof text !== "string" || text.trim() === "") return [];
    const keys = text.split(",").map((k) => k.trim()).filter((k) => k !== "");
    const problems: string[] = [];
    if (!r.isSecret("apiKeys")) problems.push(`${NAMESPACE}:apiKeys must be set as a secret (pulumi config set --secret ${NAMESPACE}:apiKeys ...), got a plain-text value (not shown)`);
    const bad = keys.filter((k) => !API_KEY.re.test(k)).length;
    if (bad > 0) problems.push(`${NAMESPACE}:apiKeys must be ${API_KEY_ALLOWED}, got ${bad} of ${keys.length} key${keys.length === 1 ? "" : "s"} that ${bad === 1 ? "is" : "are"} not (values not shown: they are secrets)`);
    if (new Set(keys).size !== keys.length) problems.push(`${NAMESPACE}:apiKeys must be a list without repeats (values not shown: they are secrets)`);
    r.problems.push(...problems);
    return problems.length > 0 ? [] : keys;
}

export const apiKeys = defineKey<readonly string[], string>({
    key: "apiKeys",
    schema: {
        type: "string",
        description: "Your own API keys beside the generated one, comma-separated; set it with --secret. Add a key, then remove the old one, to rotate without a failed request.",
        default: "",
    },
    fallback: [],
    read: (r, raw) => readApiKeys(r, raw),
});

/**
 * gpu-hosts:tls; its domains are per cloud host ("aws", and "aws-2" for the second of
 * gpu-hosts:aws.count), so the key follows the clouds the registry knows.
 */
export function tlsKey(clouds: readonly string[]): ConfigKey<TlsConfig> {
    const fallback: TlsConfig = { mode: "internal", domains: Object.fromEntries(clouds.map((c) => [c, ""])), email: "" };
    const orNone = (p: { re: RegExp; allowed: string }) => ({ re: new RegExp(`^$|${p.re.source}`), allowed: `${p.allowed}, or ""` });
    return defineKey<TlsConfig>({
        key: "tls",
        schema: {
            description: `HTTPS on cloud hosts {mode, domains: {${clouds.join(", ")}}, email}. mode "internal" (a certificate from the stack's own CA, kept in the state; the CA is the stack output caRootCert), "acme" (a public certificate for domains.<host>, e.g. domains.aws and domains.aws-2 with aws.count 2; opens port 80 for the challenge) or "off". The local stack serves plain HTTP on loopback.`,
            default: fallback,
        },
        read: (r, raw, _ctx, fb) => {
            const domain = (k: string, v: unknown, dfb: string) => r.pattern(k, v, dfb, orNone(DOMAIN));
            return r.object("tls", raw, fb, {
                mode: (k, v, mfb) => r.oneOf(k, v, mfb, TLS_MODES),
                domains: (k, v, dfb) => readDomains(r, k, v, dfb, clouds, domain),
                email: (k, v, efb) => r.pattern(k, v, efb, orNone(EMAIL)),
            });
        },
    });
}

/** tls.domains: {<cloud host>: domain}; the clouds' first hosts are always there ("" by default), others as given. */
function readDomains(r: Reader, key: string, v: unknown, fb: Readonly<Record<string, string>>, clouds: readonly string[],
    domain: (k: string, v: unknown, fb: string) => string): Readonly<Record<string, string>> {
    if (v === undefined) return fb;
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        r.fail(key, `an object {<host>: domain} whose hosts are ${clouds.map(hostNamesText).join(", ")}`, v);
        return fb;
    }
    const out: Record<string, string> = { ...fb };
    for (const [host, d] of Object.entries(v)) {
        const named = parseCloudHostName(host, clouds);
        if (!named || named.n > MAX_HOSTS_PER_CLOUD) {
            r.problems.push(`${NAMESPACE}:${key}.${host} is not a known field; known fields: ${clouds.map(hostNamesText).join(", ")}`);
            continue;
        }
        out[host] = domain(`${key}.${host}`, d, "");
    }
    return out;
}
