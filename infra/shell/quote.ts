// Quoting a value for the shell: the one place, for every script the program renders and every
// command line it builds.

/** Characters that never need quoting in a POSIX shell word. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Whether `s` stands for itself as one shell word, unquoted, wherever the shell expands it. */
export function isPlainWord(s: string): boolean {
    return PLAIN_WORD.test(s);
}

/** Quotes `s` as one POSIX shell word: as is when plain, otherwise in single quotes. */
export function shellQuote(s: string): string {
    return isPlainWord(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A path as a shell word: "~/x" becomes "$HOME"/x (the shell expands no ~ inside quotes), the rest is quoted. */
export function shellPath(p: string): string {
    return p.startsWith("~/") ? `"$HOME"/${shellQuote(p.slice(2))}` : shellQuote(p);
}
