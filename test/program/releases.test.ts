// Releases under the strict mocks, through the real index.ts of a throwaway copy of this project
// (its own git repository, so the test may edit files and commit): an edit on disk reaches no slot,
// on any stack; a key-service edit rebuilds the key service and nothing else; a new pin of the idle
// slot changes that slot alone; and an unpinned slot is refused before anything exists.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ProgramRun, ROOT, changedInputs, runProgramFresh } from "../helpers/stack";

/** A copy of the project's files in a new git repository with one commit, sharing node_modules. */
function projectCopy(): { dir: string; git: (...args: string[]) => string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-program-copy-"));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_")));
    // What a fresh clone of this working tree would hold: tracked and untracked files, not ignored ones.
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8", env })
        .split("\0").filter((f) => f && fs.existsSync(path.join(ROOT, f)));
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8", env }).trim();
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "copy");
    return { dir, git };
}

describe("releases in the program (a throwaway copy of the project)", function () {
    this.timeout(120_000);
    let copy: { dir: string; git: (...args: string[]) => string };
    let head: string;
    const pinned = (blue: string, green: string) => ({ slots: { blue: { release: "workdir", commit: blue }, green: { release: "workdir", commit: green } } });
    const run = (stack: string, blue = head, green = head) => runProgramFresh(stack, pinned(blue, green), {}, copy.dir);
    const names = (a: ProgramRun, b: ProgramRun) => changedInputs(a, b).map((k) => k.split("::")[1]);

    before(() => {
        copy = projectCopy();
        head = copy.git("rev-parse", "HEAD");
    });
    after(() => fs.rmSync(copy.dir, { recursive: true, force: true }));

    for (const stack of ["local", "dev", "prod"]) {
        it(`${stack}: an edit of the app on disk, even a committed one, changes nothing`, async () => {
            const before = await run(stack);
            fs.appendFileSync(path.join(copy.dir, "app", "src", "api.ts"), "\n// edited\n");
            fs.writeFileSync(path.join(copy.dir, "app", "src", "new.ts"), "export {};\n");
            const edited = await run(stack);
            copy.git("commit", "-qam", "an app change");
            const committed = await run(stack);
            assert.deepStrictEqual(changedInputs(before, edited), []);
            assert.deepStrictEqual(changedInputs(before, committed), []);
            copy.git("reset", "-q", "--hard", head);
            copy.git("clean", "-qfd", "app");
        });
    }

    it("a new pin of the idle slot changes that slot's image and containers, and nothing else", async () => {
        fs.appendFileSync(path.join(copy.dir, "app", "src", "api.ts"), "\n// v2\n");
        copy.git("commit", "-qam", "v2");
        const v2 = copy.git("rev-parse", "HEAD");
        try {
            for (const stack of ["local", "dev"]) {
                const base = await run(stack);
                const next = await run(stack, head, v2);
                const hosts = stack === "local" ? ["local"] : ["aws", "gcp", "azure"];
                assert.deepStrictEqual(names(base, next).sort(), hosts.flatMap((h) => ["api", "image", "image-id", "image-prune", "worker"].map((x) => `${h}-app-green-${x}`)).sort(), stack);
                assert.strictEqual(next.outputs.slots.value.green.commit, v2);
                assert.strictEqual(next.outputs.slots.value.green.label, `workdir@${v2.slice(0, 12)}`);
                assert.strictEqual(next.outputs.slots.value.blue.image, base.outputs.slots.value.blue.image);
                assert.strictEqual(next.outputs.image.value, base.outputs.image.value, "the live image is untouched");
            }
        } finally {
            copy.git("reset", "-q", "--hard", head);
        }
    });

    it("an edit of the key service rebuilds exactly the key service", async () => {
        const base = await run("local");
        fs.appendFileSync(path.join(copy.dir, "auth", "server.js"), "\n// edited\n");
        try {
            const next = await run("local");
            assert.deepStrictEqual(names(base, next).sort(), [
                "local-app-proxy-api-keys", "local-app-proxy-auth", "local-app-proxy-auth-image", "local-app-proxy-auth-image-id", "local-app-proxy-auth-image-prune",
            ]);
        } finally {
            copy.git("checkout", "-q", "--", "auth");
        }
    });

    it("refuses an unpinned slot, and a commit the repository does not have, before anything exists", async () => {
        // The copy's own ConfigError class: compare by name.
        await assert.rejects(runProgramFresh("local", pinned("", head), {}, copy.dir), (e: any) => e?.name === "ConfigError" &&
            e.problems.length === 1 && /^gpu-hosts:slots\.blue\.commit must be the full id of the git commit the slot is pinned to \(40 or 64 hex digits\); `npm run up` pins a new stack's slots, `npm run release` pins a new release, got ""$/.test(e.problems[0]));
        await assert.rejects(runProgramFresh("local", pinned(head, "e".repeat(40)), {}, copy.dir), /gpu-hosts:slots\.green\.commit is e{40} \(release "workdir"\), which is not a commit of/);
    });
});
