// API keys as the proxy's key service sees them (auth/server.js): a file of sha256 digests, one a
// line, so neither the file nor the command that writes it holds a key. Pure functions; the writer
// is a host command fed on stdin, never argv.
import * as crypto from "crypto";
import { API_KEY_CHARS, API_KEY_LENGTH, DOCKER_NAME, matches } from "../validators";

/** Where the key service reads the key file, on its volume (auth/Dockerfile's KEYS_FILE). */
export const KEYS_DIR = "/keys";
export const KEYS_FILE = `${KEYS_DIR}/api-keys`;
/** The key service's port on the host's private network. */
export const AUTH_PORT = 9000;

const KEY = new RegExp(`^[${API_KEY_CHARS}]+$`);
const { min: KEY_MIN_LENGTH, max: KEY_MAX_LENGTH } = API_KEY_LENGTH;

/**
 * Every problem with a key list, all at once. Messages name the key by position, never by value
 * (they end up in logs and CI output), e.g. `gpu-hosts:apiKeys[1] must be 16-256 characters ...`.
 */
export function apiKeyProblems(keys: readonly string[], label = "API key"): string[] {
    const problems: string[] = [];
    if (keys.length === 0) problems.push(`${label} list must hold at least one key, got none`);
    const seen = new Map<string, number>();
    keys.forEach((k, i) => {
        if (typeof k !== "string" || k.length < KEY_MIN_LENGTH || k.length > KEY_MAX_LENGTH || !KEY.test(k)) {
            const got = typeof k === "string" ? `${k.length} characters${k.length && !KEY.test(k) ? " with others" : ""}` : typeof k;
            problems.push(`${label}[${i}] must be ${KEY_MIN_LENGTH}-${KEY_MAX_LENGTH} characters from A-Z a-z 0-9 . _ ~ + / = -, got ${got}`);
            return;
        }
        const first = seen.get(k);
        if (first !== undefined) problems.push(`${label}[${i}] repeats ${label}[${first}]`);
        else seen.set(k, i);
    });
    return problems;
}

/** sha256 hex of a key: what the key file stores. */
export function keyDigest(key: string): string {
    return crypto.createHash("sha256").update(key, "utf8").digest("hex");
}

/** Non-secret id of a key (the key service's X-Api-Key-Id): the first 16 hex digits of its digest. */
export function keyId(key: string): string {
    return keyDigest(key).slice(0, 16);
}

/** The key file for `keys`: a comment, then one sha256 hex digest per line in the given order. Throws on bad keys. */
export function renderKeysFile(keys: readonly string[]): string {
    const problems = apiKeyProblems(keys);
    if (problems.length) throw new Error(problems.join("\n"));
    return ["# gpu-hosts API keys: sha256 (hex) of each key, one a line; written by `server.js write-keys`", ...keys.map(keyDigest), ""].join("\n");
}

/**
 * Host-side script that installs the key file read from its stdin into the key service's volume,
 * atomically (write, fsync, rename in server.js). The service picks it up on its next request: no
 * restart, no proxy reload.
 */
export function writeKeysScript(authContainer: string): string {
    if (!matches(DOCKER_NAME, authContainer)) throw new Error(`auth container name must be ${DOCKER_NAME.allowed}, got ${JSON.stringify(authContainer)}`);
    return ["set -euo pipefail", `docker exec -i ${authContainer} node /srv/server.js write-keys`, ""].join("\n");
}
