// Pulumi serialises a secret input as { [SECRET_SIG]: SECRET_VALUE, value }; the strict mocks record
// inputs in that form, so tests can tell what stayed secret.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretInput(v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

/** A secret input's value (or the value itself when not secret). */
export function unsecret(v: unknown): any {
    return isSecretInput(v) ? (v as { value: unknown }).value : v;
}

/** `v` with every secret wrapper, at any depth, replaced by its value. */
export function plain(v: unknown): any {
    if (isSecretInput(v)) return plain(unsecret(v));
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
}

/** Every string anywhere in `v` that is not inside a secret. */
export function plainStrings(v: unknown, out: string[] = []): string[] {
    if (isSecretInput(v)) return out;
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => plainStrings(x, out));
    else if (v && typeof v === "object") Object.values(v).forEach((x) => plainStrings(x, out));
    return out;
}
