// Where the hosts pull Docker Hub images from: gpu-hosts:registry (pull-through mirrors and the
// Docker Hub user) and gpu-hosts:registryPassword (that user's password or access token, a secret of
// its own: Pulumi encrypts config per key, so a secret field inside the registry object cannot be).
// Docker Hub counts anonymous pulls per address (https://docs.docker.com/docker-hub/usage/pulls/):
// a host's first deploy pulls 6-8 images, so a retry or a recover from the same address within the
// window is refused with `toomanyrequests`. A mirror, a login, or both lift that. The rule that ties
// the user to the password is checkRegistryLogin below, which ../rules.ts runs with the cross-field rules.
import { NAMESPACE } from "../../vocabulary";
import { DOCKER_HUB_USER, REGISTRY_MIRROR, REGISTRY_PASSWORD, matches } from "../../validators";
import type { Reader } from "../reader";
import { defineKey } from "../schema";

/** gpu-hosts:registry. */
export interface RegistrySettings {
    /**
     * Pull-through caches of Docker Hub, tried in order before Docker Hub itself: dockerd's
     * `registry-mirrors` on every host the setup script manages (cloud VMs and the operator's
     * servers). The local engine is the operator's own and keeps its own settings. Empty for none.
     */
    readonly mirrors: readonly string[];
    /** The Docker Hub user every pull on every host logs in as; "" pulls anonymously. */
    readonly username: string;
}

/** The registry section of the stack config. */
export interface RegistryConfig {
    readonly registry: RegistrySettings;
    /**
     * The Docker Hub user's password or access token (a config secret); "" with no user. Plain here,
     * as Pulumi hands config to the program; the hosts wrap it in a secret at once.
     */
    readonly registryPassword: string;
}

const DEFAULT: RegistrySettings = { mirrors: [], username: "" };

export const registry = defineKey<RegistrySettings>({
    key: "registry",
    schema: {
        description: "Docker Hub for every pull on every host {mirrors, username}: pull-through mirrors of Docker Hub (http(s) URLs of a registry's root, e.g. \"https://mirror.gcr.io\"; dockerd's registry-mirrors on cloud VMs and your servers, not on the local engine), and the Docker Hub user to log in as (its password or token in registryPassword). Anonymous pulls are rate-limited per address.",
        default: DEFAULT,
    },
    read: (r, raw, _ctx, fb) => r.object("registry", raw, fb, {
        mirrors: (k, v, mfb) => readMirrors(r, k, v, mfb),
        username: (k, v, ufb) => (v === "" ? "" : r.pattern(k, v, ufb, DOCKER_HUB_USER, `${DOCKER_HUB_USER.allowed}, or "" to pull anonymously`)),
    }),
});

function readMirrors(r: Reader, key: string, v: unknown, fb: readonly string[]): readonly string[] {
    const mirrors = r.list(key, v, fb, (x): x is string => matches(REGISTRY_MIRROR, x), `mirrors, each ${REGISTRY_MIRROR.allowed}`, false);
    // dockerd compares them with a trailing "/" (ValidateMirror appends one): "a" and "a/" are one mirror.
    const normal = mirrors.map((m) => m.replace(/\/$/, ""));
    if (new Set(normal).size !== normal.length) {
        r.fail(key, "a list without repeats", mirrors);
        return fb;
    }
    return mirrors;
}

/** The Docker Hub password: a secret, one printable line; never echoed. */
export const registryPassword = defineKey<string>({
    key: "registryPassword",
    schema: {
        type: "string",
        description: "The password or personal access token of registry.username on Docker Hub; set it with --secret. \"\" with no user.",
        default: "",
    },
    read: (r, raw) => {
        if (typeof raw !== "string" || raw === "") return "";
        const problems: string[] = [];
        if (!r.isSecret("registryPassword")) problems.push(`${NAMESPACE}:registryPassword must be set as a secret (pulumi config set --secret ${NAMESPACE}:registryPassword ...), got a plain-text value (not shown)`);
        if (!REGISTRY_PASSWORD.re.test(raw)) problems.push(`${NAMESPACE}:registryPassword must be ${REGISTRY_PASSWORD.allowed}, got something else (not shown: it is a secret)`);
        r.problems.push(...problems);
        return problems.length ? "" : raw;
    },
});

/**
 * A user needs its password and a password its user. Checked on the raw values, so a user or a
 * password the readers refused (reported there) is not reported again as missing.
 */
export function checkRegistryLogin(r: Reader): void {
    const raw = r.value("registry");
    const user = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>).username : undefined;
    const userGiven = user !== undefined && user !== "";
    const passwordGiven = (r.text("registryPassword") ?? "") !== "";
    if (userGiven && !passwordGiven) {
        r.problems.push(`${NAMESPACE}:registryPassword must be set, as a secret, when ${NAMESPACE}:registry.username is set (pulumi config set --secret ${NAMESPACE}:registryPassword <password or access token>), got nothing`);
    }
    if (passwordGiven && !userGiven) {
        r.fail("registry.username", `the Docker Hub user whose password ${NAMESPACE}:registryPassword holds, when that is set`, user ?? "");
    }
}
