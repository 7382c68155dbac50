// Pinning a release (infra/service/pin.ts, through scripts/lib/pin.ts's errors): "workdir" becomes the
// app context as it is on disk (HEAD when unchanged, else a snapshot commit), a git ref becomes the
// commit it names now; neither moves afterwards. And which pin each slot keeps from one update to the
// next (decidePin, pinSlots): the program's own record wins over the disk, a moved branch and a
// commit an older release name left in the config.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { OpsError } from "../../scripts/lib/errors";
import { pinRelease, snapshotWorkdir, SNAPSHOT_REFS } from "../../scripts/lib/pin";
import { PinRecord, configFor, decidePin, pinSlots } from "../../infra/service/pin";
import * as infraPin from "../../infra/service/pin";
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

    it("a context as committed pins HEAD itself, a commit other clones can fetch; a preview keeps no ref", () => {
        repo.write("other/file.txt", "edits outside the context do not count\n");
        const head = repo.git("rev-parse", "HEAD");
        assert.equal(infraPin.snapshotWorkdir(app(), false), head);
        repo.write("app/main.js", "v2\n");
        const snap = infraPin.snapshotWorkdir(app(), false);
        assert.notEqual(snap, head);
        assert.equal(repo.git("for-each-ref", SNAPSHOT_REFS), "", "nothing kept");
        assert.equal(infraPin.snapshotWorkdir(app(), true), snap);
        assert.equal(repo.git("for-each-ref", "--format=%(refname)", SNAPSHOT_REFS), `${SNAPSHOT_REFS}/${snap}`);
    });

    it("a snapshot does not depend on the operator's git identity", () => {
        repo.write("app/main.js", "v2\n");
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
        repo.git("tag", "empty", repo.git("commit-tree", repo.git("mktree"), "-m", "no app"));
        assert.throws(() => pinRelease(app(), "empty"), /^OpsError: release "empty" is not a git ref of .* that holds app\//);
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

describe("which pin a slot keeps (decidePin)", () => {
    const c = (x: string) => x.repeat(40).slice(0, 40);
    const kept = (release: string, commit: string, configCommit: string): PinRecord => ({ release, commit, configCommit });

    it("a new stack: the config's commit if it has one, else the release is pinned now", () => {
        assert.deepEqual(decidePin({ release: "workdir", commit: "" }, undefined), { kind: "new" });
        assert.deepEqual(decidePin({ release: "v1", commit: c("a1") }, undefined), { kind: "config", commit: c("a1") });
    });

    it("an unchanged config keeps the pin, whatever the ref or the disk say now", () => {
        assert.deepEqual(decidePin({ release: "main", commit: "" }, kept("main", c("a1"), "")), { kind: "kept", commit: c("a1") });
        assert.deepEqual(decidePin({ release: "v1", commit: c("a1") }, kept("v1", c("a1"), c("a1"))), { kind: "kept", commit: c("a1") });
    });

    it("a new commit in the config (npm run release, --workdir twice) is that commit", () => {
        assert.deepEqual(decidePin({ release: "workdir", commit: c("b2") }, kept("workdir", c("a1"), c("a1"))), { kind: "config", commit: c("b2") });
        assert.deepEqual(decidePin({ release: "v2", commit: c("b2") }, kept("main", c("a1"), "")), { kind: "config", commit: c("b2") });
    });

    it("a release name set by hand over an old commit: that commit is stale, the name is pinned now; and stays pinned after", () => {
        assert.deepEqual(decidePin({ release: "v2", commit: c("a1") }, kept("v1", c("a1"), c("a1"))), { kind: "new" });
        // The next update, config unchanged: the pin made for v2 is kept, the stale commit still ignored.
        assert.deepEqual(decidePin({ release: "v2", commit: c("a1") }, kept("v2", c("b2"), c("a1"))), { kind: "kept", commit: c("b2") });
        assert.deepEqual(decidePin({ release: "v1", commit: "" }, kept("v1", c("a1"), c("a1"))), { kind: "new" }, "a commit removed from the config re-pins the name");
    });

    it("configFor: what the scripts write so the program builds their pin, even the config's set-aside commit", () => {
        const pin = { release: "v2", commit: c("b2") };
        assert.deepEqual(configFor(pin, undefined), pin);
        assert.deepEqual(configFor(pin, kept("v1", c("a1"), c("a1"))), pin);
        // The config still says {v2, a1}, a1 set aside when v2 was named; v2 now resolves to a1 again.
        const back = { release: "v2", commit: c("a1") };
        assert.deepEqual(configFor(back, kept("v2", c("b2"), c("a1"))), { release: "v2", commit: "" });
        assert.deepEqual(decidePin(configFor(back, kept("v2", c("b2"), c("a1"))), kept("v2", c("b2"), c("a1"))), { kind: "new" });
    });
});

describe("both slots' pins for an update (pinSlots)", () => {
    let repo: TempRepo;
    let head: string;
    const cfg = (blue: { release: string; commit: string }, green: { release: string; commit: string }) => ({ app: { context: "app" }, slots: { blue, green } });
    beforeEach(() => {
        repo = tempRepo();
        repo.write("app/main.js", "v1\n");
        repo.git("add", "-A");
        repo.git("commit", "-qm", "v1");
        head = repo.git("rev-parse", "HEAD");
    });
    afterEach(() => repo.remove());

    it("a new stack: one snapshot for both slots, recorded with the config it came from; one warning that only this clone has it", () => {
        repo.write("app/main.js", "edited\n");
        const warnings: string[] = [];
        const info: string[] = [];
        const p = pinSlots(repo.dir, cfg({ release: "workdir", commit: "" }, { release: "workdir", commit: "" }), {}, { keep: true, warn: (m) => warnings.push(m), info: (m) => info.push(m) });
        const snap = p.slots.blue.commit;
        assert.notEqual(snap, head);
        assert.deepEqual(p.slots, { blue: { release: "workdir", commit: snap }, green: { release: "workdir", commit: snap } });
        assert.deepEqual(p.records.green, { release: "workdir", commit: snap, configCommit: "" });
        assert.deepEqual(info, [`slots blue and green: release workdir pinned to commit ${snap}, kept in the stack until the release changes`]);
        assert.deepEqual(warnings, [`slots blue and green run a snapshot of the app context on disk (commit ${snap}) that only this clone has; let other machines build this stack: git push origin ${SNAPSHOT_REFS}/${snap}`]);
    });

    it("a clean checkout (a CI runner) pins HEAD and warns of nothing; a preview keeps no ref", () => {
        const warnings: string[] = [];
        const p = pinSlots(repo.dir, cfg({ release: "workdir", commit: "" }, { release: "HEAD", commit: "" }), {}, { keep: false, warn: (m) => warnings.push(m) });
        assert.deepEqual([p.slots.blue.commit, p.slots.green.commit], [head, head]);
        assert.deepEqual(warnings, []);
        assert.equal(repo.git("for-each-ref", SNAPSHOT_REFS), "");
    });

    it("kept pins win over the disk and a moved branch; only a new release name is pinned", () => {
        repo.git("branch", "stable");
        repo.write("app/main.js", "v2\n");
        repo.git("commit", "-qam", "v2");
        repo.git("tag", "v2");
        repo.git("branch", "-f", "stable", "HEAD");
        repo.write("app/main.js", "on disk\n");
        const kept = { blue: { release: "workdir", commit: head, configCommit: "" }, green: { release: "stable", commit: head, configCommit: "" } };
        const same = pinSlots(repo.dir, cfg({ release: "workdir", commit: "" }, { release: "stable", commit: "" }), kept, { keep: true });
        assert.deepEqual(same.slots, { blue: { release: "workdir", commit: head }, green: { release: "stable", commit: head } });
        assert.deepEqual(same.decisions, { blue: { kind: "kept", commit: head }, green: { kind: "kept", commit: head } });
        const moved = pinSlots(repo.dir, cfg({ release: "workdir", commit: "" }, { release: "v2", commit: "" }), kept, { keep: true });
        assert.deepEqual(moved.slots.green, { release: "v2", commit: repo.git("rev-parse", "v2") });
        assert.deepEqual(moved.slots.blue, same.slots.blue);
    });

    it("names the slot's key when its release cannot be pinned", () => {
        assert.throws(() => pinSlots(repo.dir, cfg({ release: "v1", commit: head }, { release: "v9", commit: "" }), {}, { keep: false }),
            (e: unknown) => e instanceof Error && /^gpu-hosts:slots\.green\.release: cannot pin it: "v9" is not a git ref of .* that holds app\/$/.test(e.message));
        assert.throws(() => pinSlots(repo.dir, { app: { context: "nope" }, slots: cfg({ release: "workdir", commit: "" }, { release: "workdir", commit: "" }).slots }, {}, { keep: false }),
            /^Error: gpu-hosts:app\.context: .*nope does not exist$/);
    });
});
