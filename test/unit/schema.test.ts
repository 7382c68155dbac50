// The config keys have one definition (infra/config): Pulumi.yaml's config block and the reference
// in docs/configuration.md are generated from it (`npm run gen`), and these tests fail when either
// file was edited by hand or not regenerated after a key changed.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_GROUPS, CONFIG_KEYS, DEFAULTS, loadConfig } from "../../infra/config";
import { renderConfigReference, renderProjectFile } from "../../infra/config/generate";
import { ROOT } from "../helpers/stack";

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8");

describe("one definition per config key", () => {
    it("Pulumi.yaml's config block is the keys' declarations, byte for byte (npm run gen)", () => {
        const current = read("Pulumi.yaml");
        assert.strictEqual(current, renderProjectFile(current), "Pulumi.yaml is not what `npm run gen` writes: run it");
        const declared = YAML.parse(current).config;
        assert.deepStrictEqual(Object.keys(declared), CONFIG_KEYS.map((k) => k.key));
    });

    it("docs/configuration.md is the generated reference (npm run gen), with every key once", () => {
        assert.strictEqual(read("docs/configuration.md"), renderConfigReference(), "docs/configuration.md is not what `npm run gen` writes: run it");
        const grouped = CONFIG_GROUPS.flatMap((g) => g.keys.map((k) => k.key)).sort();
        assert.deepStrictEqual(grouped, CONFIG_KEYS.map((k) => k.key).sort(), "every key in exactly one section of the reference");
    });

    it("a stack that sets nothing reads exactly the declared defaults", () => {
        const cfg = loadConfig("empty", {}, () => false);
        for (const k of CONFIG_KEYS) {
            assert.deepStrictEqual((cfg as unknown as Record<string, unknown>)[k.key], (DEFAULTS as unknown as Record<string, unknown>)[k.key], k.key);
        }
        // apiKeys is the one key whose text is parsed: "" is no key.
        assert.deepStrictEqual(cfg.apiKeys, []);
    });
});
