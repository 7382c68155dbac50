// How a pinned slot becomes a build (infra/service/release.ts): the files Docker would send, by
// Docker's own .dockerignore rules; a digest of exactly those as the image tag; and the context
// exported from the pinned commit, whatever the work tree holds.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildSource, contextDigest, dockerContextFiles, releaseLabel } from "../../infra/service/release";
import { ROOT } from "../helpers/stack";
import { TempRepo, tempRepo } from "../helpers/gitRepo";

describe("the files Docker would send (.dockerignore, by Docker's rules)", () => {
    let repo: TempRepo;
    beforeEach(() => (repo = tempRepo()));
    afterEach(() => repo.remove());
    const files = (ignore: string, paths: string[]) => {
        for (const p of paths) repo.write(`ctx/${p}`, p);
        repo.write("ctx/.dockerignore", ignore);
        return dockerContextFiles(path.join(repo.dir, "ctx"));
    };

    it("re-includes with !, after a * that matched everything (the key service's own .dockerignore)", () => {
        assert.deepEqual(files("*\n!server.js\n", ["Dockerfile", "server.js", "README.md", "test/x.js"]), [".dockerignore", "Dockerfile", "server.js"]);
    });

    it("matches ** across directories, and a plain name only at the top", () => {
        assert.deepEqual(files("**/*.log\nnode_modules\n", ["Dockerfile", "a.log", "src/b.log", "src/c.ts", "node_modules/x/y.js", "src/node_modules/z.js"]),
            [".dockerignore", "Dockerfile", "src/c.ts", "src/node_modules/z.js"]);
    });

    it("reads a leading / as the context root, and a later ! wins over an earlier exclusion", () => {
        assert.deepEqual(files("/docs\n*.md\n!KEEP.md\n", ["Dockerfile", "docs/a.txt", "src/docs/b.txt", "README.md", "KEEP.md"]),
            [".dockerignore", "Dockerfile", "KEEP.md", "src/docs/b.txt"]);
    });

    it("always sends the Dockerfile and .dockerignore, even when ignored (as the docker CLI does)", () => {
        assert.deepEqual(files("Dockerfile\n.dockerignore\nsrc\n", ["Dockerfile", "src/a.ts", "main.ts"]), [".dockerignore", "Dockerfile", "main.ts"]);
    });

    it("the key service: editing server.js, its Dockerfile or .dockerignore changes the tag; anything else does not", () => {
        const auth = path.join(repo.dir, "auth");
        for (const f of ["server.js", "Dockerfile", ".dockerignore", "server.d.ts"]) fs.mkdirSync(auth, { recursive: true }), fs.copyFileSync(path.join(ROOT, "auth", f), path.join(auth, f));
        const before = contextDigest(auth);
        fs.writeFileSync(path.join(auth, "notes.md"), "not sent");
        fs.appendFileSync(path.join(auth, "server.d.ts"), "// not sent either\n");
        assert.equal(contextDigest(auth), before, "files the .dockerignore excludes do not change the tag");
        for (const f of ["server.js", "Dockerfile", ".dockerignore"]) {
            const saved = fs.readFileSync(path.join(auth, f));
            fs.appendFileSync(path.join(auth, f), "\n# edit\n");
            assert.notEqual(contextDigest(auth), before, `an edit of ${f} changes the tag`);
            fs.writeFileSync(path.join(auth, f), saved);
        }
        assert.equal(contextDigest(auth), before);
    });

    it("the bundled app: every file Docker sends changes the tag, ignored ones do not", () => {
        const app = path.join(repo.dir, "app");
        const sent = ["Dockerfile", ".dockerignore", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "src/api.ts"];
        const ignored = ["README.md", "node_modules/x/index.js", "dist/api.js", "test/api.test.ts", ".env", "debug.log"];
        for (const f of [...sent, ...ignored]) repo.write(`app/${f}`, `${f}\n`);
        fs.copyFileSync(path.join(ROOT, "app", ".dockerignore"), path.join(app, ".dockerignore"));
        assert.deepEqual(dockerContextFiles(app), [...sent].sort());
        const before = contextDigest(app);
        for (const f of ignored) fs.appendFileSync(path.join(app, f), "edit\n");
        assert.equal(contextDigest(app), before);
        for (const f of sent) {
            fs.appendFileSync(path.join(app, f), "edit\n");
            const after = contextDigest(app);
            assert.notEqual(after, before, `an edit of ${f} must change the tag`);
        }
    });

    it("counts the executable bit, which Docker sends as the file's mode", () => {
        const ctx = path.join(repo.dir, "ctx");
        repo.write("ctx/Dockerfile", "FROM scratch\n");
        repo.write("ctx/run.sh", "echo\n", 0o644);
        const before = contextDigest(ctx);
        fs.chmodSync(path.join(ctx, "run.sh"), 0o755);
        assert.notEqual(contextDigest(ctx), before);
    });
});

describe("a pinned commit -> the build source", () => {
    let repo: TempRepo;
    let cache: string;
    beforeEach(() => {
        repo = tempRepo();
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-cache-"));
        repo.write("svc/Dockerfile", "FROM scratch\n");
        repo.write("svc/main.js", "console.log(1)\n");
        repo.write("svc/.dockerignore", "*.md\n");
        repo.write("svc/README.md", "v1\n");
        repo.git("add", "-A");
        repo.git("commit", "-qm", "v1");
    });
    afterEach(() => {
        repo.remove();
        fs.rmSync(cache, { recursive: true, force: true });
    });
    const svc = () => path.join(repo.dir, "svc");

    it("exports the commit's context and tags it by what Docker would send, whatever the work tree holds", () => {
        const head = repo.git("rev-parse", "HEAD");
        const tree = repo.git("rev-parse", "HEAD:svc");
        fs.writeFileSync(path.join(svc(), "main.js"), "console.log('uncommitted')\n");
        const src = buildSource(svc(), "blue", { release: "v1", commit: head }, cache);
        assert.equal(src.tree, tree);
        assert.equal(src.context, path.join(cache, tree));
        assert.equal(fs.readFileSync(path.join(src.context, "main.js"), "utf8"), "console.log(1)\n");
        assert.match(src.tag, /^[0-9a-f]{16}$/);
        const exported = fs.mkdtempSync(path.join(os.tmpdir(), "x-"));
        for (const f of ["Dockerfile", "main.js", ".dockerignore", "README.md"]) fs.copyFileSync(path.join(src.context, f), path.join(exported, f));
        assert.equal(src.tag, contextDigest(exported).slice(0, 16), "the tag is the digest of the exported context");
        assert.deepEqual(buildSource(svc(), "blue", { release: "v1", commit: head }, cache), src, "resolving again reuses the export");
        fs.rmSync(exported, { recursive: true });
    });

    it("a commit that changes only files Docker never sends builds the same tag", () => {
        const v1 = buildSource(svc(), "blue", { release: "v1", commit: repo.git("rev-parse", "HEAD") }, cache);
        repo.write("svc/README.md", "v2\n");
        repo.git("commit", "-qam", "docs");
        const v2 = buildSource(svc(), "blue", { release: "v2", commit: repo.git("rev-parse", "HEAD") }, cache);
        assert.notEqual(v2.tree, v1.tree);
        assert.equal(v2.tag, v1.tag);
        repo.write("svc/main.js", "console.log(2)\n");
        repo.git("commit", "-qam", "code");
        assert.notEqual(buildSource(svc(), "blue", { release: "v3", commit: repo.git("rev-parse", "HEAD") }, cache).tag, v1.tag);
    });

    it("names the slot and the one command that makes a commit fetchable when the repository cannot get it", () => {
        const missing = "f".repeat(40);
        assert.throws(() => buildSource(svc(), "green", { release: "workdir", commit: missing }, cache),
            new RegExp(`^Error: slot green is pinned to commit ${missing} \\(release "workdir"\\), which .* does not have and could not fetch \\(.* has no remote "origin" to fetch it from\\)\\. ` +
                `In the clone that made the release, make it fetchable: git push origin ${missing}:refs/gpu-hosts/snapshots/${missing}$`));
        // A commit that is here but does not hold the context.
        const other = repo.git("commit-tree", repo.git("mktree"), "-m", "no svc");
        assert.throws(() => buildSource(svc(), "green", { release: "x", commit: other }, cache), new RegExp(`^Error: slot green is pinned to commit ${other} \\(release "x"\\), which does not hold the app context svc/ of `));
    });

    it("labels a release by its name and short commit", () => {
        assert.equal(releaseLabel({ release: "workdir", commit: "3f2a9c1b0d4e".padEnd(40, "0") }), "workdir@3f2a9c1b0d4e");
        const c = "ab".repeat(20);
        assert.equal(releaseLabel({ release: c, commit: c }), "abababababab");
    });
});
