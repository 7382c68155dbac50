// Reads the host scripts (the .sh files beside this one) and binds their inputs. A script is a real
// shell file, shellchecked as it is; its inputs are UPPER_CASE shell variables, and rendering gives
// them values, shell-quoted, from a typed renderer's resolved options, in one of two ways:
//
// - a header: `readonly NAME=value` lines, inserted after the file's opening paragraph (the shebang,
//   its comments and `set` line, up to the first blank line). The script reads them at run time.
// - in place: `"${NAME}"`, `"${NAME[@]}"` or `${NAME}` in the file is replaced by the value, quoted
//   the way the shell would read that expansion: one word, the list's words, or (unquoted) a value
//   that is a plain word and so reads the same in any context. The rendered text therefore means
//   exactly what the file means with NAME set to the value. This exists for byte-identity: where the
//   scripts deployed before they became files carried a value inside their body, a header would
//   change the text, and a changed byte replaces a cloud VM (user data) or re-runs a command. A later
//   change that may alter the deployed text can move these into headers.
//
// A script whose parts depend on the options (the readiness gate) is a list of such files, each
// real shell, concatenated. Lines starting with `##` are notes for whoever reads the file (what binds
// its inputs, and why); they are dropped, so a note never reaches a host.
//
// The files are read from this directory (__dirname): the source tree under ts-node, which is how
// `pulumi up`, mocha and a fresh clone all run the program. infra/shell/.gitattributes keeps their
// line endings LF on every checkout, since each byte is part of a resource's inputs.
import * as fs from "fs";
import * as path from "path";
import { isPlainWord, shellQuote } from "./quote";

/** A value a script takes: a word, an integer, a flag, or a list of words. */
export type ShellValue = string | number | boolean | readonly string[];

/** Values by input name, in the order a header lists them. */
export type ShellValues = Readonly<Record<string, ShellValue>>;

const NAME = /^[A-Z][A-Z0-9_]*$/;
const NOTE = /^[ \t]*##(?: |$)/;

const files = new Map<string, string>();

/** The files of infra/shell/ read so far, relative to it (a test checks none is left unused). */
export function shellFilesRead(): string[] {
    return [...files.keys()].sort();
}

/** The text of infra/shell/<name> as a host receives it: its `##` note lines dropped. */
export function shellFile(name: string): string {
    let text = files.get(name);
    if (text === undefined) {
        const raw = fs.readFileSync(path.join(__dirname, name), "utf8");
        if (raw.includes("\r")) throw new Error(`infra/shell/${name} has CR line endings; the scripts must be LF (see infra/shell/.gitattributes)`);
        if (!raw.endsWith("\n")) throw new Error(`infra/shell/${name} must end with a newline`);
        text = raw.split("\n").filter((line) => !NOTE.test(line)).join("\n");
        files.set(name, text);
    }
    return text;
}

/** `value` as the right-hand side of an assignment: a quoted word, an integer, true/false, or a (list). */
function assigned(name: string, value: ShellValue): string {
    if (typeof value === "boolean") return value ? "true" : "false";
    if (typeof value === "number") {
        if (!Number.isSafeInteger(value)) throw new Error(`shell input ${name} must be an integer, got ${value}`);
        return String(value);
    }
    if (typeof value === "string") return shellQuote(value);
    return `(${value.map(shellQuote).join(" ")})`;
}

/** The header: one `readonly NAME=value` line per entry, in order. */
export function readonlyHeader(values: ShellValues): string {
    const names = Object.keys(values);
    if (names.length === 0) throw new Error("a header needs at least one value");
    return names.map((n) => {
        if (!NAME.test(n)) throw new Error(`shell input names are UPPER_CASE, got ${JSON.stringify(n)}`);
        return `readonly ${n}=${assigned(n, values[n])}\n`;
    }).join("");
}

/** `text` with `header` and a blank line after its opening paragraph (shebang, comments, `set` line). */
export function withHeader(text: string, header: string): string {
    const end = text.indexOf("\n\n");
    if (end < 0) throw new Error("a script with a header needs an opening paragraph ended by a blank line");
    return `${text.slice(0, end + 2)}${header}\n${text.slice(end + 2)}`;
}

/**
 * `text` with each `"${NAME}"`, `"${NAME[@]}"` and `${NAME}` of `values` replaced as the shell would
 * expand it (see the file comment). Every name must occur; an unquoted `${NAME}` takes only a plain word.
 */
export function bindInPlace(text: string, values: ShellValues): string {
    for (const [name, value] of Object.entries(values)) {
        if (!NAME.test(name)) throw new Error(`shell input names are UPPER_CASE, got ${JSON.stringify(name)}`);
        const list = `"\${${name}[@]}"`;
        const quoted = `"\${${name}}"`;
        const bare = `\${${name}}`;
        if (!text.includes(bare) && !text.includes(list)) throw new Error(`the script has no \${${name}} to bind`);
        if (Array.isArray(value)) {
            if (text.includes(bare)) throw new Error(`${name} is a list: write it "\${${name}[@]}"`);
            text = text.split(list).join((value as readonly string[]).map(shellQuote).join(" "));
            continue;
        }
        if (text.includes(list)) throw new Error(`${name} is not a list: write it "\${${name}}" or \${${name}}`);
        const word = typeof value === "boolean" ? (value ? "true" : "false") : String(value);
        if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error(`shell input ${name} must be an integer, got ${value}`);
        text = text.split(quoted).join(shellQuote(word));
        if (text.includes(bare)) {
            if (!isPlainWord(word)) throw new Error(`${name} is bound unquoted, which takes a plain word only; got ${JSON.stringify(word)}`);
            text = text.split(bare).join(word);
        }
    }
    return text;
}

/** How one file of a script is rendered. */
export interface ShellPart {
    /** The file, relative to infra/shell/. */
    readonly file: string;
    /** Values of its header, if it has one. */
    readonly header?: ShellValues;
    /** Values bound in place. */
    readonly inPlace?: ShellValues;
}

/** The script made of `parts`, in order: each file with its header and in-place values bound. */
export function renderShell(...parts: readonly ShellPart[]): string {
    return parts.map((p) => {
        let text = shellFile(p.file);
        if (p.inPlace) text = bindInPlace(text, p.inPlace);
        if (p.header) text = withHeader(text, readonlyHeader(p.header));
        return text;
    }).join("");
}
