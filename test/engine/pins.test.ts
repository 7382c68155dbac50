// Plain `pulumi up` and `pulumi preview` on the real engine, in fresh clones of a repository the test
// makes (a bare origin, a shared file backend as a team's state would be), with the real program's
// pinning and build sources (test/engine/pins: infra/contract/pins.ts pinStack, infra/service/
// release.ts resolveSlots; each slot a real command that follows its build). A new stack is pinned by
// the program and keeps its pins: nothing on disk and no later commit moves a slot, a release name set
// with `pulumi config set` moves exactly that slot, and a second clone builds a workdir snapshot made in
// the first one (fetched from origin) or is told the one command that makes it fetchable. And the real
// program itself (index.ts) in a fresh clone of this repository: plain `pulumi preview` of a new stack.
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { pinnerFor } from "../../scripts/lib/pin";
import { CliResult, Engine, engineEnv, REPO, report, requireEngine, runCli, tempEngineDir } from "./engine";

const PROGRAM = path.join(__dirname, "pins");

describe("plain pulumi up and preview pin a new stack, and keep its pins (real engine, fresh clones)", function () {
    // Each of the first two tests runs the CLI about a dozen times: 510 s each under a load average of
    // 20 on 2 cores (other suites running); the timeout leaves room for that.
    this.timeout(1_200_000);
    let engine: Engine;
    let tmp: string;
    let origin: string;
    let n = 0;
    const env = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_")));
    const git = (cwd: string, ...args: string[]) =>
        execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, encoding: "utf8", env: env(), stdio: "pipe" }).trim();

    before(function () {
        engine = requireEngine(this);
        tmp = tempEngineDir("gpu-hosts-engine-pins-");
        // The repository a team works in: the app, and the program's project file at the root.
        const seed = path.join(tmp, "seed");
        fs.mkdirSync(path.join(seed, "app"), { recursive: true });
        fs.copyFileSync(path.join(PROGRAM, "Pulumi.yaml"), path.join(seed, "Pulumi.yaml"));
        fs.writeFileSync(path.join(seed, "index.js"), `module.exports = require(${JSON.stringify(path.join(PROGRAM, "index.js"))});\n`);
        fs.writeFileSync(path.join(seed, ".gitignore"), "node_modules\n.pulumi/\n");
        fs.writeFileSync(path.join(seed, "app", "Dockerfile"), "FROM scratch\nCOPY main.js /\n");
        fs.writeFileSync(path.join(seed, "app", "main.js"), "v1\n");
        git(seed, "init", "-q", "-b", "main");
        git(seed, "add", "-A");
        git(seed, "commit", "-qm", "v1");
        origin = path.join(tmp, "origin.git");
        git(tmp, "clone", "-q", "--bare", seed, origin);
    });
    after(() => {
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** A fresh clone of origin, its dependencies installed (a symlink, as `npm ci` would give). */
    function clone(): string {
        const dir = path.join(tmp, `clone-${++n}`);
        // Over git's transport (file://), as from a server: only what origin's refs reach comes along
        // (a plain local clone would copy origin's whole object store).
        git(tmp, "clone", "-q", `file://${origin}`, dir);
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
        return dir;
    }
    const cli = (dir: string, ...args: string[]): Promise<CliResult> =>
        runCli(engine, [...args, "--non-interactive"], { cwd: dir, env: { ...engineEnv(engine, tmp, { plugins: true }), GIT_TERMINAL_PROMPT: "0" } });
    const ok = async (dir: string, ...args: string[]): Promise<CliResult> => {
        const r = await cli(dir, ...args);
        assert.equal(r.code, 0, report(r));
        return r;
    };
    const outputs = async (dir: string, stack: string) => JSON.parse((await ok(dir, "stack", "output", "--json", "--stack", stack)).output);
    /** The steps an up or preview took, from its JSON summary ("same", "create", "replace"...). */
    const changes = async (dir: string, stack: string, cmd: "up" | "preview") => {
        const r = await ok(dir, cmd, "--stack", stack, "--json", ...(cmd === "up" ? ["--yes", "--skip-preview"] : []));
        // preview --json prints one document; up --json streams engine events, one per line, the summary last.
        let summary: Record<string, number> | undefined;
        try {
            summary = cmd === "preview"
                ? JSON.parse(r.stdout).changeSummary
                : r.stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).find((e) => e.summaryEvent)?.summaryEvent.resourceChanges;
        } catch (e) {
            assert.fail(`${cmd} --json: ${(e as Error).message}; ${report(r)}`);
        }
        assert.ok(summary, `${cmd} --json: no change summary; ${report(r)}`);
        // "read": the self StackReference (infra/contract/pins.ts), read again on every run; it changes nothing.
        return Object.fromEntries(Object.entries(summary).filter(([op]) => op !== "same" && op !== "read"));
    };
    const write = (dir: string, rel: string, text: string) => fs.writeFileSync(path.join(dir, rel), text);

    it("a fresh clone: preview, then up, pin both slots; nothing on disk, no later commit, no second up moves them; a release name set with config set moves its slot only", async () => {
        const a = clone();
        const stack = "fresh";
        await ok(a, "stack", "init", stack, "--secrets-provider", "passphrase");
        write(a, "app/main.js", "edited on disk\n");

        // A preview before the first up works, and keeps nothing.
        assert.deepEqual(await changes(a, stack, "preview"), { create: 3 }, "the stack and the 2 slots (the self reference is a read)");
        assert.equal(git(a, "for-each-ref", "refs/gpu-hosts"), "", "a preview keeps no snapshot");

        const first = await ok(a, "up", "--yes", "--stack", stack);
        const o1 = await outputs(a, stack);
        const snap = o1.pins.blue.commit;
        assert.match(snap, /^[0-9a-f]{40}$/);
        assert.deepEqual(o1.pins, { blue: { release: "workdir", commit: snap, configCommit: "" }, green: { release: "workdir", commit: snap, configCommit: "" } });
        assert.equal(git(a, "show", `${snap}:app/main.js`), "edited on disk");
        assert.equal(git(a, "rev-parse", `refs/gpu-hosts/snapshots/${snap}`), snap, "kept from git gc");
        assert.match(first.output, /only this clone has; let other machines build this stack: git push origin refs\/gpu-hosts\/snapshots\//);
        assert.ok(!fs.existsSync(path.join(a, `Pulumi.${stack}.yaml`)) || !/commit/.test(fs.readFileSync(path.join(a, `Pulumi.${stack}.yaml`), "utf8")), "the program writes no config");

        // Nothing on disk, no later commit, no second up moves a slot.
        assert.deepEqual(await changes(a, stack, "up"), {}, "a second up changes nothing");
        write(a, "app/main.js", "v2\n");
        git(a, "commit", "-qam", "v2");
        git(a, "tag", "v1.2.0");
        write(a, "app/main.js", "v3\n");
        git(a, "commit", "-qam", "v3");
        write(a, "app/main.js", "edited again\n");
        assert.deepEqual(await changes(a, stack, "up"), {}, "new commits and an edit on disk change nothing");
        assert.deepEqual((await outputs(a, stack)).pins, o1.pins);

        // A release by config alone: green moves to the tag's commit, blue stays.
        await ok(a, "config", "set", "--path", "gpu-hosts:slots.green.release", "v1.2.0", "--stack", stack);
        assert.deepEqual(await changes(a, stack, "up"), { replace: 1 });
        const o2 = await outputs(a, stack);
        const tagged = git(a, "rev-parse", "v1.2.0^{commit}");
        assert.deepEqual(o2.pins.green, { release: "v1.2.0", commit: tagged, configCommit: "" });
        assert.equal(o2.slots.green.label, `v1.2.0@${tagged.slice(0, 12)}`);
        assert.deepEqual(o2.pins.blue, o1.pins.blue);

        // A branch release stays where it was pinned when the branch moves on.
        await ok(a, "config", "set", "--path", "gpu-hosts:slots.blue.release", "main", "--stack", stack);
        assert.deepEqual(await changes(a, stack, "up"), { replace: 1 });
        const main = git(a, "rev-parse", "main");
        assert.equal((await outputs(a, stack)).pins.blue.commit, main);
        write(a, "app/main.js", "v4\n");
        git(a, "commit", "-qam", "v4");
        assert.deepEqual(await changes(a, stack, "up"), {}, "the branch moved on; the slot did not");
        assert.equal((await outputs(a, stack)).pins.blue.commit, main);
        assert.deepEqual(await changes(a, stack, "preview"), {});
    });

    it("a second clone previews 0 changes for a stack whose slot is a workdir snapshot made in the first; an unpushed one names the push that fixes it", async () => {
        const a = clone();
        const stack = "shared";
        await ok(a, "stack", "init", stack, "--secrets-provider", "passphrase");
        // `npm run release --workdir` on a shared stack: pin and push (scripts/lib/pin.ts), then the config.
        write(a, "app/main.js", "released from clone a\n");
        const released = pinnerFor(stack, () => undefined)(path.join(a, "app"), "workdir");
        const stackFile = { config: { "gpu-hosts:slots": { blue: { release: "workdir", commit: "" }, green: released } } };
        write(a, `Pulumi.${stack}.yaml`, YAML.stringify(stackFile));
        write(a, "app/main.js", "on clone a's disk at the up\n");
        await ok(a, "up", "--yes", "--stack", stack);
        // And blue, pinned by the program itself from clone a's disk: a snapshot nobody pushed.
        const o = await outputs(a, stack);
        const unpushed = o.pins.blue.commit;
        assert.notEqual(unpushed, released.commit);
        assert.equal(o.pins.green.commit, released.commit);

        // A teammate's clone, with the stack's file as a team commits it.
        const b = clone();
        write(b, `Pulumi.${stack}.yaml`, YAML.stringify(stackFile));
        const refused = await cli(b, "preview", "--stack", stack);
        assert.notEqual(refused.code, 0, report(refused));
        const fix = `git push origin ${unpushed}:refs/gpu-hosts/snapshots/${unpushed}`;
        assert.ok(refused.output.includes(`slot blue is pinned to commit ${unpushed} (release "workdir"), which ${fs.realpathSync(b)} does not have and could not fetch`), report(refused));
        assert.ok(refused.output.includes(`In the clone that made the release, make it fetchable: ${fix}`), report(refused));

        // The one command, in the clone that made it; then the teammate's preview plans nothing.
        const [cmd, ...args] = fix.split(" ");
        execFileSync(cmd, args, { cwd: a, stdio: "pipe", env: env() });
        assert.deepEqual(await changes(b, stack, "preview"), {});
        assert.equal(git(b, "for-each-ref", "--format=%(refname)", "refs/gpu-hosts/pinned").split("\n").sort().join("\n"),
            [released.commit, unpushed].map((c) => `refs/gpu-hosts/pinned/${c}`).sort().join("\n"), "both fetched from origin, kept from git gc");
        assert.deepEqual(await changes(b, stack, "up"), {}, "and an up from the teammate's clone changes nothing");
    });

    it("the real program (index.ts) in a fresh clone of this repository: plain `pulumi preview` of a new local stack pins both slots to HEAD and runs to its end", async () => {
        // The committed project as a teammate or a CI runner checks it out, and its stack files as they are.
        const dir = path.join(tmp, "project");
        git(tmp, "clone", "-q", REPO, dir);
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
        fs.symlinkSync(path.join(REPO, "app", "node_modules"), path.join(dir, "app", "node_modules"));
        const head = git(dir, "rev-parse", "HEAD");
        await ok(dir, "stack", "init", "local", "--secrets-provider", "passphrase");
        // No Docker engine: a socket nobody serves. The docker plugin's Configure dials the engine even
        // in a preview (pulumi/pulumi-docker configureDockerClient pings it, else "failed to connect to any docker
        // daemon"), so the preview stops at the first docker resource, after the program has run.
        const r = await runCli(engine, ["preview", "--stack", "local", "--non-interactive", "--color", "never"], {
            cwd: dir, env: { ...engineEnv(engine, tmp, { plugins: true }), DOCKER_HOST: `unix://${path.join(tmp, "no-dockerd.sock")}`, GIT_TERMINAL_PROMPT: "0" },
        });
        // main refused here, before any resource: gpu-hosts:slots.blue.commit must be the full id ...
        assert.doesNotMatch(r.output, /gpu-hosts:slots\.\w+\.commit|ConfigError|unhandled exception/, report(r));
        assert.ok(r.output.includes(`slots blue and green: release workdir pinned to commit ${head} (a preview: the up pins it again)`), report(r));
        assert.match(r.output, new RegExp(`pins\\s*:\\s*\\{\\s*blue\\s*:\\s*\\{\\s*commit\\s*:\\s*"${head}"`), report(r));
        assert.match(r.output, /failed to connect to any docker daemon/, report(r));
        assert.equal(git(dir, "status", "--porcelain"), "", "no tracked file written, no config");
        assert.equal(git(dir, "for-each-ref", "refs/gpu-hosts"), "", "a preview keeps nothing");
    });
});
