// Deterministic ids and addresses for mocked resources.
import * as crypto from "crypto";

/** Deterministic hex derived from a name, so ids are stable between runs. */
export function hex(seed: string, len: number): string {
    return crypto.createHash("sha256").update(seed).digest("hex").slice(0, len);
}

/** A documentation-range address (RFC 5737) derived from a name. */
export function docIp(seed: string): string {
    return `198.51.100.${(parseInt(hex(seed, 2), 16) % 250) + 2}`;
}
