// Reusable checks for rendered user data: cloud-init's own schema validation and shellcheck
// over every shell snippet in it. Call requireTool("cloud-init"/"shellcheck", this) first.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import * as YAML from "yaml";
import { shellQuote } from "../../infra/shell/quote";
import { findTool } from "./tools";

/** A piece of shell found in a cloud-config, and the shell that will run it. */
export interface ShellSnippet {
    /** Where it came from, e.g. `write_files[/usr/local/sbin/gpu-hosts-setup]` or `runcmd[0]`. */
    readonly name: string;
    readonly shell: "bash" | "sh";
    readonly script: string;
}

/**
 * Every shell snippet in a cloud-config: write_files entries with a sh/bash shebang, each
 * bootcmd and runcmd entry and the power_state condition. cloud-init runs the last three with
 * /bin/sh, so they are checked as sh; list entries are joined the way cloud-init quotes them.
 */
export function extractShellSnippets(cloudConfig: string): ShellSnippet[] {
    const config = parseCloudConfig(cloudConfig);
    const snippets: ShellSnippet[] = [];

    const files = (config.write_files ?? []) as Array<Record<string, unknown>>;
    for (const file of files) {
        const content = decodeContent(file.content ?? "", String(file.encoding ?? "text/plain"));
        const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(content);
        if (!shebang) continue;
        const interpreter = path.basename(shebang[1]) === "env" ? shebang[2] ?? "" : path.basename(shebang[1]);
        if (interpreter === "bash" || interpreter === "sh") {
            snippets.push({ name: `write_files[${String(file.path)}]`, shell: interpreter, script: content });
        }
    }
    for (const module of ["bootcmd", "runcmd"]) {
        const entries = (config[module] ?? []) as unknown[];
        entries.forEach((entry, i) => {
            if (entry === null) return;
            snippets.push({ name: `${module}[${i}]`, shell: "sh", script: commandText(entry) + "\n" });
        });
    }
    const condition = (config.power_state as Record<string, unknown> | undefined)?.condition;
    if (typeof condition === "string" || Array.isArray(condition)) {
        snippets.push({ name: "power_state.condition", shell: "sh", script: commandText(condition) + "\n" });
    }
    return snippets;
}

/** Asserts `cloud-init schema -c` accepts the text and every top-level key is one cloud-init knows. */
export function assertValidCloudConfig(cloudConfig: string): void {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-cloud-init-"));
    try {
        const file = path.join(dir, "user-data.yaml");
        fs.writeFileSync(file, cloudConfig);
        // cloud-init 22.4 has no --annotate.
        const res = spawnSync("cloud-init", ["schema", "-c", file], { encoding: "utf8" });
        if (res.error) throw res.error;
        if (res.status !== 0) {
            throw new Error(`cloud-init schema -c exited ${res.status}:\n${res.stdout}${res.stderr}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    // The 22.4 schema allows unknown top-level keys, so a misspelt module would pass above.
    const known = knownTopLevelKeys();
    const unknown = Object.keys(parseCloudConfig(cloudConfig)).filter((k) => !known.has(k));
    if (unknown.length > 0) {
        throw new Error(`unknown cloud-config keys (cloud-init would ignore them): ${unknown.join(", ")}`);
    }
}

/** shellcheck's findings for one script, or "" when clean. */
export function shellcheckFindings(script: string, shell: "bash" | "sh" = "bash"): string {
    const res = spawnSync("shellcheck", ["-s", shell, "-f", "gcc", "-"], { input: script, encoding: "utf8" });
    if (res.error) throw res.error;
    const output = `${res.stdout}${res.stderr}`.trim();
    return res.status === 0 && output === "" ? "" : output || `shellcheck exited ${res.status}`;
}

/** Asserts shellcheck has no findings for `script`. */
export function assertScriptShellcheckClean(script: string, name = "script", shell: "bash" | "sh" = "bash"): void {
    const findings = shellcheckFindings(script, shell);
    if (findings !== "") {
        throw new Error(`shellcheck -s ${shell} found problems in ${name}:\n${findings}`);
    }
}

/** Asserts every shell snippet in the cloud-config is shellcheck-clean; returns the snippets checked. */
export function assertShellcheckClean(cloudConfig: string): ShellSnippet[] {
    const snippets = extractShellSnippets(cloudConfig);
    const problems = snippets
        .map((s) => ({ s, findings: shellcheckFindings(s.script, s.shell) }))
        .filter((r) => r.findings !== "")
        .map((r) => `${r.s.name} (shellcheck -s ${r.s.shell}):\n${r.findings}`);
    if (problems.length > 0) {
        throw new Error(`shellcheck found problems:\n${problems.join("\n\n")}`);
    }
    return snippets;
}

function parseCloudConfig(text: string): Record<string, unknown> {
    if (!text.startsWith("#cloud-config\n")) {
        throw new Error("cloud-config must start with a #cloud-config line");
    }
    const parsed: unknown = YAML.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error("cloud-config must be a YAML mapping");
    }
    return parsed as Record<string, unknown>;
}

function commandText(entry: unknown): string {
    return Array.isArray(entry) ? entry.map((a) => shellQuote(String(a))).join(" ") : String(entry);
}

function decodeContent(content: unknown, encoding: string): string {
    // A !!binary scalar parses to bytes.
    const raw = content instanceof Uint8Array ? Buffer.from(content) : Buffer.from(String(content), "utf8");
    switch (encoding) {
        case "text/plain":
            return raw.toString("utf8");
        case "b64":
        case "base64":
            return Buffer.from(raw.toString("utf8"), "base64").toString("utf8");
        case "gz":
        case "gzip":
            return zlib.gunzipSync(raw).toString("utf8");
        case "gz+base64":
        case "gzip+base64":
        case "gz+b64":
        case "gzip+b64":
            return zlib.gunzipSync(Buffer.from(raw.toString("utf8"), "base64")).toString("utf8");
        default:
            throw new Error(`unknown write_files encoding ${JSON.stringify(encoding)}`);
    }
}

let knownKeys: Set<string> | undefined;

// Read from the installed cloud-init's schema, with the Python interpreter cloud-init runs on.
function knownTopLevelKeys(): Set<string> {
    if (knownKeys) return knownKeys;
    const cloudInit = findTool("cloud-init");
    if (!cloudInit) throw new Error("cloud-init is not on PATH");
    const shebang = /^#!\s*(\S+)/.exec(fs.readFileSync(cloudInit, "utf8").split("\n", 1)[0]);
    const python = shebang ? shebang[1] : "python3";
    const program = [
        "import json",
        "from cloudinit.config.schema import get_schema",
        "s = get_schema()",
        "keys = set((s.get('properties') or {}).keys())",
        "for d in s.get('$defs', {}).values():",
        "    keys.update((d.get('properties') or {}).keys())",
        "print(json.dumps(sorted(keys)))",
    ].join("\n");
    const res = spawnSync(python, ["-c", program], { encoding: "utf8" });
    if (res.error) throw res.error;
    if (res.status !== 0) {
        throw new Error(`could not read cloud-init's schema with ${python}:\n${res.stderr}`);
    }
    knownKeys = new Set(JSON.parse(res.stdout) as string[]);
    return knownKeys;
}
