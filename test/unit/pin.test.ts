// Pinning a release (scripts/lib/pin.ts): "workdir" becomes a snapshot commit of the app context as
// it is on disk, a git ref becomes the commit it names now; neither moves afterwards.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { OpsError } from "../../scripts/lib/errors";
import { pinRelease, snapshotWorkdir, SNAPSHOT_REFS } from "../../scripts/lib/pin";
import { TempRepo, tempRepo } from "../helpers/gitRepo";

describe("pinning releases", () => {
    let repo: TempRepo;
    const app = () => path.join(repo.dir, "app");
    beforeEach(() => {
        repo = tempRepo();
        repo.write(".gitignore", "node_modules/\n");
        repo.write("app/Dockerfile", "FROM scratch\n");
        repo.write("app/main.js", "v1\n");
        repo.write("other/file.txt", "outside the context\n");
        repo.git("add", "-A");
        repo.git("commit", "-qm", "v1");
        repo.git("tag", "v1");
    });
    afterEach(() => repo.remove());

    it("snapshots the context as it is on disk: edits, new untracked files and deletions; not ignored files", () => {
        repo.write("app/main.js", "v2 uncommitted\n");
        repo.write("app/new.js", "untracked\n");
        repo.write("app/node_modules/dep.js", "ignored\n");
        fs.rmSync(path.join(app(), "Dockerfile"));
        repo.write("other/file.txt", "an edit outside the context\n");
        const commit = snapshotWorkdir(app());
        assert.match(commit, /^[0-9a-f]{40}$/);
        assert.equal(repo.git("show", `${commit}:app/main.js`), "v2 uncommitted");
        assert.equal(repo.git("show", `${commit}:app/new.js`), "untracked");
        assert.equal(repo.git("ls-tree", "-r", "--name-only", commit, "app"), "app/main.js\napp/new.js");
        assert.equal(repo.git("show", `${commit}:other/file.txt`), "outside the context", "the rest of the tree is HEAD's");
        assert.equal(repo.git("rev-parse", `${commit}^`), repo.git("rev-parse", "HEAD"));
        assert.equal(repo.git("rev-parse", `${SNAPSHOT_REFS}/${commit}`), commit, "kept from git gc by a ref");
        assert.equal(repo.git("diff", "--cached", "--name-only"), "", "the operator's index is untouched");
    });

    it("the same context on the same HEAD is the same snapshot; any edit is a new one", () => {
        const a = snapshotWorkdir(app());
        assert.equal(snapshotWorkdir(app()), a);
        repo.write("app/main.js", "v2\n");
        const b = snapshotWorkdir(app());
        assert.notEqual(b, a);
        repo.write("app/main.js", "v1\n");
        assert.equal(snapshotWorkdir(app()), a);
    });

    it("a snapshot does not depend on the operator's git identity", () => {
        const commit = snapshotWorkdir(app());
        assert.equal(repo.git("show", "-s", "--format=%an <%ae>", commit), "gpu-hosts <gpu-hosts@localhost>");
    });

    it("a git ref pins the commit it names now; moving the branch later does not move the pin", () => {
        repo.git("checkout", "-qb", "feature");
        const pinned = pinRelease(app(), "feature");
        assert.deepEqual(pinned, { release: "feature", commit: repo.git("rev-parse", "HEAD") });
        repo.write("app/main.js", "v2\n");
        repo.git("commit", "-qam", "v2");
        assert.notEqual(repo.git("rev-parse", "feature"), pinned.commit);
        assert.equal(pinRelease(app(), "v1").commit, pinned.commit);
    });

    it("refuses a ref that is not there, or a name the program would refuse, as usage errors", () => {
        assert.throws(() => pinRelease(app(), "v9"), (e: unknown) => e instanceof OpsError && e.kind === "usage" &&
            /^release "v9" is not a git ref of .* that holds app\/: use --workdir, or a commit, tag or branch that contains the app context$/.test(e.message));
        assert.throws(() => pinRelease(app(), "../etc"), (e: unknown) => e instanceof OpsError && e.kind === "usage" && /^release must be "workdir" or a git ref/.test(e.message));
    });

    it("outside a git repository, says how to make one", () => {
        const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "no-git-"));
        try {
            assert.throws(() => snapshotWorkdir(dir), (e: unknown) => e instanceof OpsError && e.kind === "git" && /is not in a git repository .*run `git init && git add -A && git commit -m init` first$/.test(e.message));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a repository without any commit yet still snapshots", () => {
        const fresh = tempRepo();
        try {
            fresh.write("app/main.js", "x\n");
            const commit = snapshotWorkdir(path.join(fresh.dir, "app"));
            assert.equal(fresh.git("show", `${commit}:app/main.js`), "x");
        } finally {
            fresh.remove();
        }
    });
});
