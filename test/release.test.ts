// Releases map to reproducible builds: content-derived tags, git refs exported as trees, and a new
// release of the idle slot touches only that slot.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { contextDigest, resolveRelease } from "../components/app/release";
import { changedInputs, runProgram } from "./helpers/stack";

function tmpRepo(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-release-"));
    const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, stdio: "pipe" });
    git("init", "-q");
    git("config", "user.email", "test@example.com");
    git("config", "user.name", "test");
    fs.mkdirSync(path.join(dir, "svc", "node_modules"), { recursive: true });
    fs.writeFileSync(path.join(dir, "svc", "Dockerfile"), "FROM scratch\n");
    fs.writeFileSync(path.join(dir, "svc", "main.js"), "console.log(1)\n");
    fs.writeFileSync(path.join(dir, "svc", ".dockerignore"), "node_modules\n*.log\n");
    git("add", "svc/Dockerfile", "svc/main.js", "svc/.dockerignore");
    git("commit", "-qm", "v1");
    git("tag", "v1");
    return dir;
}

describe("release -> build source", () => {
    let repo: string;
    let cache: string;
    beforeEach(() => {
        repo = tmpRepo();
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-cache-"));
    });
    afterEach(() => {
        fs.rmSync(repo, { recursive: true, force: true });
        fs.rmSync(cache, { recursive: true, force: true });
    });

    it("tags a workdir release by the content Docker would see, ignoring .dockerignore'd files", () => {
        const svc = path.join(repo, "svc");
        const before = contextDigest(svc);
        fs.writeFileSync(path.join(svc, "node_modules", "dep.js"), "x");
        fs.writeFileSync(path.join(svc, "debug.log"), "noise");
        assert.strictEqual(contextDigest(svc), before, "ignored files do not change the tag");
        assert.strictEqual(resolveRelease(svc, "workdir", cache).tag, `wd-${before.slice(0, 16)}`);
        fs.writeFileSync(path.join(svc, "main.js"), "console.log(2)\n");
        assert.notStrictEqual(contextDigest(svc), before, "a source change changes the tag");
    });

    it("the bundled app's tag covers its Dockerfile, so a Dockerfile change is rebuilt", () => {
        const ignore = fs.readFileSync(path.join(__dirname, "..", "app", ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
        assert.ok(!ignore.includes("Dockerfile") && !ignore.includes(".dockerignore"));
        const svc = path.join(repo, "svc");
        const before = contextDigest(svc);
        fs.appendFileSync(path.join(svc, "Dockerfile"), "USER nobody\n");
        assert.notStrictEqual(contextDigest(svc), before);
    });

    it("builds a git ref from its exported tree, tagged by the tree id, whatever the work tree holds", () => {
        const svc = path.join(repo, "svc");
        const tree = execFileSync("git", ["rev-parse", "v1:svc"], { cwd: repo, encoding: "utf8" }).trim();
        fs.writeFileSync(path.join(svc, "main.js"), "console.log('uncommitted')\n");
        const src = resolveRelease(svc, "v1", cache);
        assert.strictEqual(src.tag, `v1-${tree.slice(0, 12)}`);
        assert.strictEqual(src.context, path.join(cache, tree));
        assert.strictEqual(fs.readFileSync(path.join(src.context, "main.js"), "utf8"), "console.log(1)\n");
        assert.deepStrictEqual(resolveRelease(svc, "v1", cache), src, "resolving again reuses the export");
    });

    it("names a ref that does not exist", () => {
        assert.throws(() => resolveRelease(path.join(repo, "svc"), "v9", cache),
            { message: `release "v9" is not a git ref of ${path.join(repo, "svc")}: use "workdir" or a commit, tag or branch that contains the app context` });
    });
});

describe("releases in the local stack", () => {
    const CHANGED_IN_GREEN = [
        // The new image's id, and the clean-up of the slot's previous image once the new one runs.
        "command:local:Command::local-app-green-image-id",
        "command:local:Command::local-app-green-image-prune",
        "docker:index/container:Container::local-app-green-api",
        "docker:index/container:Container::local-app-green-worker",
        "docker:index/image:Image::local-app-green-image",
    ];

    it("a new release of the idle slot changes only that slot's resources", async () => {
        const base = await runProgram("local", { slots: { blue: { release: "workdir" }, green: { release: "workdir" } } });
        const next = await runProgram("local", { slots: { blue: { release: "workdir" }, green: { release: "HEAD" } } });
        assert.deepStrictEqual(changedInputs(base, next), CHANGED_IN_GREEN);
        assert.strictEqual(next.outputs.slots.value.green.release, "HEAD");
        assert.match(next.outputs.slots.value.green.image, /^local-app-green:HEAD-[0-9a-f]{12}$/);
        assert.strictEqual(next.outputs.slots.value.blue.image, base.outputs.slots.value.blue.image);
        assert.strictEqual(next.outputs.image.value, base.outputs.image.value, "the live image is untouched");
    });
});
