// npm run gen: writes the text generated from the config keys' one definition (infra/config):
// Pulumi.yaml's config block and docs/configuration.md. test/unit/schema.test.ts fails until they
// are current.
import * as fs from "fs";
import * as path from "path";
import { renderConfigReference, renderProjectFile } from "../infra/config/generate";

const root = path.resolve(__dirname, "..");
const write = (file: string, text: string) => {
    const p = path.join(root, file);
    const before = fs.existsSync(p) ? fs.readFileSync(p, "utf8") : "";
    if (before === text) return console.log(`${file}: up to date`);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    console.log(`${file}: written`);
};
write("Pulumi.yaml", renderProjectFile(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")));
write("docs/configuration.md", renderConfigReference());
