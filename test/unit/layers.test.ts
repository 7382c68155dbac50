// The house's shape, checked: every program file has a layer, every import runs down the layers
// (never up), no program file is much over 400 lines, each default and pattern is written once, and
// importing the cloud registry loads no cloud SDK.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { ROOT } from "../helpers/stack";

/**
 * The layers, lowest first. A file may import its own layer or a lower one. Order of the first match
 * wins, so specific paths come before their folder.
 */
const LAYERS: readonly (readonly [number, RegExp, string])[] = [
    [0, /^infra\/vocabulary\.ts$|^infra\/contract\/(names|details)\.ts$/, "the names everything shares (and the contract's resource names and host details)"],
    [1, /^infra\/validators\.ts$|^infra\/shell\//, "patterns, quoting and host scripts"],
    [2, /^infra\/config\/(reader|schema|placements|fixed)\.ts$|^infra\/config\/sections\//, "config sections: each key's declaration and reader"],
    [3, /^infra\/hosts\/|^infra\/service\/|^cloud-init\//, "host skeleton and service components"],
    [4, /^infra\/clouds\/(?!placement\.ts)/, "clouds: one driver per cloud, and the registry"],
    [5, /^infra\/config\/|^infra\/clouds\/placement\.ts$/, "loadConfig, its rules, and placements over the config"],
    [6, /^infra\/inventory\.ts$|^infra\/contract\//, "the stack's hosts, and the outputs contract"],
    [7, /^index\.ts$|^scripts\//, "the program and the operator scripts"],
];

const layerOf = (file: string) => LAYERS.find(([, re]) => re.test(file));

const sources = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "index.ts", "infra", "scripts", "cloud-init"], { cwd: ROOT, encoding: "utf8" })
    .split("\n").filter((f) => f.endsWith(".ts") && fs.existsSync(path.join(ROOT, f)));

/** The relative modules a file imports (import/export ... from, require, import type included). */
function importsOf(file: string): string[] {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    const out: string[] = [];
    for (const m of text.matchAll(/(?:from|require\(|import\()\s*["'](\.{1,2}\/[^"']*)["']/g)) {
        const base = path.normalize(path.join(path.dirname(file), m[1]));
        const hit = ["", ".ts", "/index.ts", ".json"].map((e) => base + e).find((p) => fs.existsSync(path.join(ROOT, p)) && fs.statSync(path.join(ROOT, p)).isFile());
        if (hit) out.push(hit);
    }
    return out;
}

describe("the house's shape", () => {
    it("puts every program file in a layer", () => {
        const unplaced = sources.filter((f) => !layerOf(f));
        assert.deepStrictEqual(unplaced, []);
    });

    it("never imports from a lower layer up (type-only imports included)", () => {
        const up: string[] = [];
        for (const f of sources) {
            const [from] = layerOf(f)!;
            for (const t of importsOf(f)) {
                const target = layerOf(t);
                if (target && target[0] > from) up.push(`${f} (layer ${from}) imports ${t} (layer ${target[0]}: ${target[2]})`);
            }
        }
        assert.deepStrictEqual(up, []);
    });

    it("keeps every program file under about 400 lines", () => {
        const long = sources.map((f) => [f, fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").length] as const).filter(([, n]) => n > 420);
        assert.deepStrictEqual(long, []);
    });

    /** Program files (not tests) where `re` matches, as git grep -E finds them. */
    const where = (re: string) => {
        try {
            return execFileSync("git", ["grep", "-l", "-E", re, "--", "index.ts", "infra", "cloud-init", "scripts"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
        } catch {
            return []; // git grep exits 1 when nothing matches
        }
    };

    it("writes each default once, where its key is declared (renderers and components hold none)", () => {
        // A default given as a value (after ':', '=', '(', ',' or '['), not a mention in a comment or an example.
        const given = (v: string) => `[:=(,\\[] *"${v.replace(/[.]/g, "\\.")}"`;
        assert.deepStrictEqual(where(given("580-server")), ["infra/config/sections/machines.ts"]);
        assert.deepStrictEqual(where(given("ubuntu:24.04")), ["infra/config/sections/service.ts"]);
        assert.deepStrictEqual(where(given("qwen2.5:0.5b")), ["infra/config/sections/service.ts"]);
        assert.deepStrictEqual(where(given("10m")), ["infra/config/fixed.ts"]);
        assert.deepStrictEqual(where("= 1800;"), ["infra/config/fixed.ts"]);
        assert.deepStrictEqual(where("~/\\.ssh/gpu-hosts\""), ["infra/config/fixed.ts"]);
    });

    it("loads no cloud SDK when the cloud registry is imported: each driver requires its host module on first use", function () {
        this.timeout(60_000);
        // A fresh Node.js: this process has loaded the SDKs through the host tests already.
        const probe = `require("./infra/clouds"); require("./infra/config"); ` +
            `console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\/]@pulumi[\\/](aws|gcp|azure-native)[\\/]/.test(k))))`;
        const loaded = JSON.parse(execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", probe], { cwd: ROOT, encoding: "utf8" })) as string[];
        assert.deepStrictEqual(loaded, []);
        // The probe itself can tell: a host module does load its SDK.
        const host = JSON.parse(execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", probe.replace('require("./infra/config");', 'require("./infra/clouds/gcp/host");')], { cwd: ROOT, encoding: "utf8" })) as string[];
        assert.ok(host.some((k) => /@pulumi[\\/]gcp[\\/]/.test(k)), "the probe sees a loaded SDK");
    });

    it("writes each value pattern once, in infra/validators.ts", () => {
        for (const source of ["\\^\\[a-z_\\]\\[a-z0-9_-\\]\\{0,31\\}", "sk-ssh-ed25519@openssh", "server\\(-open\\)\\?", "latest\\(\\?:@\\|\\$\\)", "\\[0-9a-f\\]\\{32\\}"]) {
            assert.deepStrictEqual(where(source), ["infra/validators.ts"], source);
        }
    });
});
