// A pin made in one clone, built in another (real git: a bare origin and two clones of it): a
// release of a shared stack pushes its workdir snapshot to origin (scripts/lib/pin.ts sharePin), the
// program of any other clone fetches a pinned commit it lacks before it builds
// (infra/service/release.ts buildSource, git.ts fetchCommit), and when nobody pushed it, the error
// names the one command, run in the clone that made it, after which the build works.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { OpsError } from "../../scripts/lib/errors";
import { pinRelease, pinnerFor, sharePin, SNAPSHOT_REFS } from "../../scripts/lib/pin";
import { buildSource } from "../../infra/service/release";
import { TempRepo, tempRepo } from "../helpers/gitRepo";

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_")));
const run = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: cleanEnv() }).trim();

describe("a pin made in one clone, built in another (bare origin, two clones)", function () {
    this.timeout(60_000);
    let a: TempRepo;
    let origin: string;
    let b: string;
    let cache: string;
    const refsOf = (dir: string, prefix: string) => run(dir, "for-each-ref", "--format=%(refname)", prefix);

    beforeEach(() => {
        a = tempRepo("gpu-hosts-clone-a-");
        a.write("app/Dockerfile", "FROM scratch\n");
        a.write("app/main.js", "v1\n");
        a.git("add", "-A");
        a.git("commit", "-qm", "v1");
        origin = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-origin-"));
        run(origin, "init", "-q", "--bare");
        run(origin, "symbolic-ref", "HEAD", "refs/heads/main");
        a.git("remote", "add", "origin", origin);
        a.git("push", "-q", "origin", "HEAD:refs/heads/main");
        b = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-clone-b-"));
        run(b, "clone", "-q", origin, ".");
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-cache-"));
    });
    afterEach(() => {
        a.remove();
        for (const d of [origin, b, cache]) fs.rmSync(d, { recursive: true, force: true });
    });

    it("a shared stack's workdir release is pushed to origin, and the other clone fetches and builds it", () => {
        a.write("app/main.js", "edited in clone a\n");
        const lines: string[] = [];
        const pinned = pinnerFor("dev", (l) => lines.push(l))(path.join(a.dir, "app"), "workdir");
        assert.deepEqual(lines, []);
        assert.equal(refsOf(origin, SNAPSHOT_REFS), `${SNAPSHOT_REFS}/${pinned.commit}`, "pushed under its snapshot ref");
        assert.throws(() => run(b, "cat-file", "-e", pinned.commit), "clone b does not have it yet");
        const src = buildSource(path.join(b, "app"), "green", pinned, cache);
        assert.equal(fs.readFileSync(path.join(src.context, "main.js"), "utf8"), "edited in clone a\n");
        assert.equal(refsOf(b, "refs/gpu-hosts/pinned"), `refs/gpu-hosts/pinned/${pinned.commit}`, "kept from git gc in clone b");
        assert.equal(src.tag, buildSource(path.join(a.dir, "app"), "green", pinned, fs.mkdtempSync(path.join(cache, "a-"))).tag, "the same build as in clone a");
    });

    it("a ref's commit is fetched by its id, from the branch it is on, even after the branch moved on", () => {
        a.write("app/main.js", "v2\n");
        a.git("commit", "-qam", "v2");
        const v2 = a.git("rev-parse", "HEAD");
        a.write("app/main.js", "v3\n");
        a.git("commit", "-qam", "v3");
        a.git("push", "-q", "origin", "HEAD:refs/heads/main");
        const src = buildSource(path.join(b, "app"), "blue", { release: "v2", commit: v2 }, cache);
        assert.equal(fs.readFileSync(path.join(src.context, "main.js"), "utf8"), "v2\n");
    });

    it("a snapshot nobody pushed: the error names the one command; run in the clone that made it, the build works", () => {
        a.write("app/main.js", "never pushed\n");
        const pinned = pinRelease(path.join(a.dir, "app"), "workdir");
        let message = "";
        assert.throws(() => buildSource(path.join(b, "app"), "green", pinned, cache), (e: unknown) => {
            message = (e as Error).message;
            return true;
        });
        const m = /^slot green is pinned to commit ([0-9a-f]{40}) \(release "workdir"\), which .* does not have and could not fetch \(git fetch origin \1: .*\)\. In the clone that made the release, make it fetchable: (git push origin \S+)$/.exec(message);
        assert.ok(m, message);
        assert.equal(m[1], pinned.commit);
        const [git, ...args] = m[2].split(" ");
        execFileSync(git, args, { cwd: a.dir, stdio: "pipe", env: cleanEnv() });
        assert.equal(fs.readFileSync(path.join(buildSource(path.join(b, "app"), "green", pinned, cache).context, "main.js"), "utf8"), "never pushed\n");
    });

    it("shares nothing for the local stack (its state lives in this clone) or a ref's pin; without origin, says only this clone can update the stack", () => {
        a.write("app/main.js", "edited\n");
        const app = path.join(a.dir, "app");
        const snap = pinRelease(app, "workdir");
        assert.equal(sharePin(app, snap, "local"), undefined);
        assert.equal(sharePin(app, { release: "main", commit: a.git("rev-parse", "HEAD") }, "dev"), undefined);
        assert.equal(refsOf(origin, "refs/gpu-hosts"), "", "nothing pushed");
        a.git("remote", "remove", "origin");
        const lines: string[] = [];
        assert.deepEqual(pinnerFor("dev", (l) => lines.push(l))(app, "workdir"), snap);
        assert.deepEqual(lines, [`note: ${fs.realpathSync(a.dir)} has no remote "origin": the snapshot ${snap.commit} exists only in this clone, so only this clone can update stack dev`]);
    });

    it("a refused push fails the pin with git's reason and the ways forward; origin gets nothing", () => {
        const hook = path.join(origin, "hooks", "pre-receive");
        fs.writeFileSync(hook, "#!/bin/sh\necho 'refs/gpu-hosts/* are read-only here' >&2\nexit 1\n", { mode: 0o755 });
        a.write("app/main.js", "edited\n");
        assert.throws(() => pinnerFor("dev", () => undefined)(path.join(a.dir, "app"), "workdir"), (e: unknown) => e instanceof OpsError && e.kind === "git" &&
            /^cannot push the snapshot to origin \(git push origin [0-9a-f]{40}:refs\/gpu-hosts\/snapshots\/[0-9a-f]{40}: remote: refs\/gpu-hosts\/\* are read-only here\): other clones and CI could not build stack dev, so nothing was released; fix the access to origin and release again, or commit and push the change and release that commit \(--release <ref>\)$/.test(e.message));
        assert.equal(refsOf(origin, "refs/gpu-hosts"), "");
    });
});
