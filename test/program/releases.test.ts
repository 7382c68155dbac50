// Releases under the strict mocks, through the real index.ts of a throwaway copy of this project
// (its own git repository, so the test may edit files and commit): an edit on disk reaches no slot,
// on any stack; a key-service edit rebuilds the key service and nothing else; a new pin of the idle
// slot changes that slot alone; a new stack's slots are pinned by the program and kept in the stack's
// own outputs, which win over the disk, a moved branch and a commit left behind by an older release.
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

    it("a new stack: both slots pinned to one snapshot of the context on disk, kept by a ref, and recorded in the pins output", async () => {
        fs.appendFileSync(path.join(copy.dir, "app", "src", "api.ts"), "\n// on disk only\n");
        try {
            const unpinned = { release: "workdir", commit: "" };
            const r = await runProgramFresh("local", { slots: { blue: unpinned, green: unpinned } }, {}, copy.dir);
            const pins = r.outputs.pins.value;
            const snap = pins.blue.commit;
            assert.match(snap, /^[0-9a-f]{40}$/);
            assert.notEqual(snap, head, "the edit on disk is in it");
            assert.deepStrictEqual(pins, { blue: { release: "workdir", commit: snap, configCommit: "" }, green: { release: "workdir", commit: snap, configCommit: "" } });
            assert.strictEqual(copy.git("rev-parse", `refs/gpu-hosts/snapshots/${snap}`), snap);
            assert.strictEqual(r.outputs.slots.value.green.label, `workdir@${snap.slice(0, 12)}`);
            assert.strictEqual(copy.git("show", `${snap}:app/src/api.ts`).endsWith("// on disk only"), true);
        } finally {
            copy.git("checkout", "-q", "--", "app");
        }
    });

    it("what the stack kept wins over the disk, a moved branch and a commit left behind; a new release name is pinned anew", async () => {
        fs.appendFileSync(path.join(copy.dir, "app", "src", "api.ts"), "\n// v2\n");
        copy.git("commit", "-qam", "v2");
        const v2 = copy.git("rev-parse", "HEAD");
        copy.git("tag", "v2");
        try {
            // Deployed by plain `pulumi up`: nothing in the config, both pins in the stack.
            const kept = { blue: { release: "workdir", commit: head, configCommit: "" }, green: { release: "main", commit: head, configCommit: "" } };
            const unpinned = { blue: { release: "workdir", commit: "" }, green: { release: "main", commit: "" } };
            const base = await runProgramFresh("local", { slots: { blue: { release: "workdir", commit: head }, green: { release: "main", commit: head } } }, {}, copy.dir);
            const same = await runProgramFresh("local", { slots: unpinned }, { previousOutputs: { pins: kept } }, copy.dir);
            assert.deepStrictEqual(names(base, same), [], "neither the commit on the branch nor the disk moves a slot");
            assert.deepStrictEqual(same.outputs.pins.value, kept);
            // `pulumi config set --path gpu-hosts:slots.green.release v2`, over a commit an earlier release left behind.
            const stale = { blue: unpinned.blue, green: { release: "v2", commit: head } };
            const keptStale = { ...kept, green: { release: "main", commit: head, configCommit: head } };
            const next = await runProgramFresh("local", { slots: stale }, { previousOutputs: { pins: keptStale } }, copy.dir);
            assert.deepStrictEqual(names(base, next).filter((n) => !n.startsWith("local-app-green-")), [], "only green changes");
            assert.ok(names(base, next).includes("local-app-green-image"));
            assert.deepStrictEqual(next.outputs.pins.value.green, { release: "v2", commit: v2, configCommit: head });
            assert.strictEqual(next.outputs.slots.value.green.label, `v2@${v2.slice(0, 12)}`);
        } finally {
            copy.git("tag", "-d", "v2");
            copy.git("reset", "-q", "--hard", head);
        }
    });

    it("a stack deployed before the pins output: its slots output stands for them, so its plan is unchanged", async () => {
        const base = await run("local");
        const slots = base.outputs.slots.value;
        const again = await runProgramFresh("local", pinned(head, head), { previousOutputs: { slots } }, copy.dir);
        assert.deepStrictEqual(changedInputs(base, again), []);
        assert.deepStrictEqual(again.outputs.pins.value.blue, { release: "workdir", commit: head, configCommit: head });
    });

    it("refuses a malformed commit before anything exists, and names the command that makes a missing one fetchable", async () => {
        // The copy's own ConfigError class: compare by name.
        await assert.rejects(runProgramFresh("local", pinned("3f2a9c1", head), {}, copy.dir), (e: any) => e?.name === "ConfigError" &&
            e.problems.length === 1 && e.problems[0] === 'gpu-hosts:slots.blue.commit must be the full id of a git commit (40 or 64 hex digits), or "" (the program then pins slots.blue.release itself), got "3f2a9c1"');
        const missing = "e".repeat(40);
        await assert.rejects(runProgramFresh("local", pinned(head, missing), {}, copy.dir),
            new RegExp(`slot green is pinned to commit ${missing} \\(release "workdir"\\), which .* does not have and could not fetch \\(.* has no remote "origin" to fetch it from\\)\\. ` +
                `In the clone that made the release, make it fetchable: git push origin ${missing}:refs/gpu-hosts/snapshots/${missing}$`));
    });
});
