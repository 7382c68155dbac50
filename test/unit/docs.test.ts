// The documentation's links resolve: every relative link in the READMEs and docs/*.md names a file
// or folder that exists and, with a #fragment, a heading of that markdown file, as GitHub renders
// it. The README is the front door, so it must link every file in docs/.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");

/** The checked files, relative to the root: the READMEs and every markdown file in docs/. */
function documentationFiles(root: string): string[] {
    const docs = fs.existsSync(path.join(root, "docs"))
        ? fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)
        : [];
    return ["README.md", "app/README.md", "test/engine/README.md", ...docs];
}

/** The lines of `markdown` outside fenced code blocks (``` or ~~~), with their 1-based numbers. */
function proseLines(markdown: string): { text: string; line: number }[] {
    const out: { text: string; line: number }[] = [];
    let fence: string | undefined;
    markdown.split("\n").forEach((text, i) => {
        const m = /^\s{0,3}(`{3,}|~{3,})/.exec(text);
        if (m) {
            if (fence === undefined) fence = m[1][0].repeat(m[1].length);
            else if (m[1].startsWith(fence)) fence = undefined;
            return;
        }
        if (fence === undefined) out.push({ text, line: i + 1 });
    });
    return out;
}

/**
 * The anchor GitHub gives a heading: its text as rendered (code spans, emphasis and link syntax
 * gone), lower-cased, every character but letters, digits, marks, '_', '-' and spaces dropped, each
 * space a '-' (the rule of github-slugger, which github.com follows).
 */
export function githubSlug(heading: string): string {
    const text = heading
        .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
        .replace(/[`*]/g, "")
        .trim()
        .toLowerCase();
    return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Every anchor a markdown file's headings give, repeats numbered as GitHub numbers them (-1, -2...). */
export function headingAnchors(markdown: string): Set<string> {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    for (const { text } of proseLines(markdown)) {
        const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
        if (!m) continue;
        const slug = githubSlug(m[1]);
        const n = seen.get(slug) ?? 0;
        seen.set(slug, n + 1);
        anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    return anchors;
}

/** Every inline link or image target outside code, with its line. */
export function markdownLinks(markdown: string): { target: string; line: number }[] {
    const links: { target: string; line: number }[] = [];
    for (const { text, line } of proseLines(markdown)) {
        const prose = text.replace(/(`+)[^`]*?\1/g, "");
        for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line });
    }
    return links;
}

/** Each link of `file` (relative to `root`) that does not resolve, as "file:line: target: why". */
export function brokenLinks(root: string, file: string): string[] {
    const markdown = fs.readFileSync(path.join(root, file), "utf8");
    const problems: string[] = [];
    for (const { target, line } of markdownLinks(markdown)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not ours to check here
        const at = `${file}:${line}: ${target}`;
        const hash = target.indexOf("#");
        const filePart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
        const fragment = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
        if (filePart.startsWith("/")) {
            problems.push(`${at}: absolute path (GitHub resolves it from the site root, not the repository)`);
            continue;
        }
        const resolved = filePart === "" ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), filePart);
        if (path.relative(root, resolved).startsWith("..")) {
            problems.push(`${at}: points outside the repository`);
            continue;
        }
        if (!fs.existsSync(resolved)) {
            problems.push(`${at}: no such file`);
            continue;
        }
        if (fragment === undefined) continue;
        if (!resolved.endsWith(".md")) {
            problems.push(`${at}: a #fragment into a file that is not markdown`);
            continue;
        }
        if (!headingAnchors(fs.readFileSync(resolved, "utf8")).has(fragment)) {
            problems.push(`${at}: no heading with anchor #${fragment} in ${path.relative(root, resolved)}`);
        }
    }
    return problems;
}

describe("documentation links", () => {
    describe("the checker", () => {
        let dir: string;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-docs-"));
            fs.mkdirSync(path.join(dir, "docs"));
        });
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
        const write = (file: string, text: string) => fs.writeFileSync(path.join(dir, file), text);

        it("gives headings GitHub's anchors", () => {
            assert.strictEqual(githubSlug("Status: `npm run status`"), "status-npm-run-status");
            assert.strictEqual(githubSlug("Blue/green: a queue per slot"), "bluegreen-a-queue-per-slot");
            assert.strictEqual(githubSlug("Swaps under load: `npm run bench:swap`"), "swaps-under-load-npm-run-benchswap");
            assert.strictEqual(githubSlug("Your own servers (host kind `ssh`)"), "your-own-servers-host-kind-ssh");
            assert.strictEqual(githubSlug("snake_case and **bold** text"), "snake_case-and-bold-text");
            assert.deepStrictEqual([...headingAnchors("# A\n## A\n```\n# not a heading\n```\n### A\n")], ["a", "a-1", "a-2"]);
        });

        it("passes links that resolve, and ignores external links and code", () => {
            write("README.md", "# Top\n[t](docs/t.md#a-part) [self](#top) [dir](docs/) ![img](docs/t.md)\n" +
                "[web](https://example.com/x#y) `[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n");
            write("docs/t.md", "# T\n## A part\n[back](../README.md#top)\n");
            assert.deepStrictEqual(brokenLinks(dir, "README.md"), []);
            assert.deepStrictEqual(brokenLinks(dir, "docs/t.md"), []);
        });

        it("reports a missing file, a missing anchor, a fragment into code, an absolute path and a way out", () => {
            write("main.ts", "");
            write("docs/t.md", "# T\n");
            write("README.md", [
                "# Top",
                "[gone](docs/gone.md)",
                "[anchor](docs/t.md#no-such-part)",
                "[own](#nope)",
                "[code](main.ts#L1)",
                "[abs](/docs/t.md)",
                "[out](../elsewhere.md)",
                "",
            ].join("\n"));
            assert.deepStrictEqual(brokenLinks(dir, "README.md"), [
                "README.md:2: docs/gone.md: no such file",
                "README.md:3: docs/t.md#no-such-part: no heading with anchor #no-such-part in docs/t.md",
                "README.md:4: #nope: no heading with anchor #nope in README.md",
                "README.md:5: main.ts#L1: a #fragment into a file that is not markdown",
                "README.md:6: /docs/t.md: absolute path (GitHub resolves it from the site root, not the repository)",
                "README.md:7: ../elsewhere.md: points outside the repository",
            ]);
        });
    });

    describe("this repository", () => {
        const files = documentationFiles(ROOT);

        it("has topic files in docs/", () => {
            assert.ok(files.some((f) => f.startsWith("docs/")), `no markdown file in docs/: ${files.join(", ")}`);
        });

        for (const file of files) {
            it(`${file}: every relative link resolves`, () => {
                assert.deepStrictEqual(brokenLinks(ROOT, file), []);
            });
        }

        it("the README links every file in docs/", () => {
            const linked = new Set(markdownLinks(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"))
                .map(({ target }) => target.split("#")[0]));
            const missing = files.filter((f) => f.startsWith("docs/") && !linked.has(f));
            assert.deepStrictEqual(missing, [], "docs the README's map does not name");
        });
    });
});
