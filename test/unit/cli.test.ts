// The operator scripts' command line (scripts/lib/cli.ts) and how Automation API failures become
// one-line errors (scripts/lib/stackOps.ts mapStackError).
import * as assert from "node:assert/strict";
import { errorText, exitCode, parseArgs, usage } from "../../scripts/lib/cli";
import { OpsError } from "../../scripts/lib/errors";
import { mapStackError, registryLimitHint } from "../../scripts/lib/engineErrors";

describe("operator script arguments", () => {
    const release = { name: "release", releaseFlag: true, switches: ["workdir"] as const };
    const base = { release: undefined, workdir: false, json: false, watch: false, cheapest: false };

    it("parses --stack and --release in both spellings", () => {
        assert.deepEqual(parseArgs(["--stack", "dev", "--release=v1.2"], release), { ...base, stack: "dev", release: "v1.2" });
        assert.deepEqual(parseArgs(["--stack=prod", "--workdir"], release), { ...base, stack: "prod", workdir: true });
        assert.equal(parseArgs(["--help"], release), "help");
    });

    it("gives a usage error for a missing --stack, an unknown flag, or both --release and --workdir", () => {
        for (const [argv, why] of [[[], "--stack is required"], [["--stack", "dev", "--force"], "unknown argument \"--force\""], [["--stack", "dev", "--release", "x", "--workdir"], "give --release or --workdir, not both"], [["--stack"], "--stack needs a value"]] as const) {
            assert.throws(() => parseArgs(argv, release), (e: unknown) => e instanceof OpsError && e.kind === "usage" && e.message === `${why}\nusage: npm run release -- --stack S [--release R | --workdir]`);
        }
        assert.throws(() => parseArgs(["--stack", "dev", "--release", "x"], { name: "promote" }), /unknown argument "--release"/);
        assert.throws(() => parseArgs(["--stack", "dev", "--json"], { name: "promote" }), /unknown argument "--json"/);
    });

    it("defaults the stack where the command has a default, and says so in the usage", () => {
        const up = { name: "up", defaultStack: "local" };
        assert.deepEqual(parseArgs([], up), { ...base, stack: "local" });
        assert.deepEqual(parseArgs(["--stack", "dev"], up), { ...base, stack: "dev" });
        assert.equal(usage({ name: "status", defaultStack: "local", switches: ["json", "watch"] }), "usage: npm run status -- [--stack S] [--json] [--watch] (the stack defaults to local)");
    });

    it("refuses a stack name that is not one", () => {
        assert.throws(() => parseArgs(["--stack", "dev; rm -rf /"], { name: "up" }), /--stack must be a stack name, got "dev; rm -rf \/"/);
    });

    it("exit codes and one-line errors", () => {
        const e = new OpsError("rolled-back", "promote failed: x; rolled back");
        assert.equal(exitCode(e), 1);
        assert.equal(exitCode(new OpsError("usage", "bad")), 2);
        assert.equal(errorText({ name: "promote" }, e), "promote failed: promote failed: x; rolled back");
        assert.match(errorText({ name: "promote" }, new TypeError("boom")), /^promote failed unexpectedly \(a bug; please report\):\nTypeError: boom/);
    });
});

describe("stack error mapping", () => {
    const cmdError = (stderr: string) => Object.assign(new Error(`code: 255\n stdout: \n stderr: ${stderr}`), { commandResult: { stderr } });

    it("no such stack", () => {
        const e = mapStackError(cmdError("error: no stack named 'prod' found"), "prod", "selecting the stack");
        assert.equal(e.kind, "no-stack");
        assert.equal(e.message, "no such stack \"prod\": create it with `pulumi stack init prod` or check --stack (`pulumi stack ls`)");
    });

    it("a locked DIY-backend stack is a concurrent update", () => {
        const e = mapStackError(cmdError("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`."), "dev", "pulumi up");
        assert.equal(e.kind, "concurrent-update");
    });

    it("other up failures keep the CLI's error line", () => {
        const e = mapStackError(cmdError("Updating (dev)\nerror: update failed\n"), "dev", "pulumi up");
        assert.equal(e.kind, "up-failed");
        assert.equal(e.message, "pulumi up on stack dev failed: error: update failed");
    });
});

describe("Docker Hub's rate limit (toomanyrequests)", () => {
    // Real texts: dockerd's (a RemoteImage or a container's pull through the Docker provider, the
    // readiness gate's `docker pull`), https://github.com/docker/hub-feedback/issues/2464; BuildKit's
    // (a build's FROM), https://github.com/ScribeMD/docker-cache/issues/829.
    const DOCKERD = "Unable to read Docker image into resource: unable to pull image redis:7.4.2-alpine: error pulling image redis:7.4.2-alpine: Error response from daemon: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";
    const BUILDKIT = "failed to solve: node:20-bookworm-slim: failed to resolve source metadata for docker.io/library/node:20-bookworm-slim: failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/node/manifests/sha256:0b1e: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit";
    const FIX = "the fix is gpu-hosts:registry: a Docker Hub login (`pulumi config set --stack dev --path gpu-hosts:registry.username <user>` and `pulumi config set --stack dev --secret gpu-hosts:registryPassword <access token>`) " +
        "or a pull-through mirror (`pulumi config set --stack dev --path 'gpu-hosts:registry.mirrors[0]' https://mirror.gcr.io`; the local engine takes one in its own daemon.json), then run this again (or wait for Docker Hub's limit to reset)";

    it("says what Docker Hub said and names gpu-hosts:registry as the fix, on one line", () => {
        assert.equal(registryLimitHint([DOCKERD], "dev"), `Docker Hub refused a pull (toomanyrequests: You have reached your unauthenticated pull rate limit); ${FIX}`);
        assert.equal(registryLimitHint(["other", BUILDKIT], "dev"), `Docker Hub refused a pull (toomanyrequests: You have reached your pull rate limit); ${FIX}`);
        assert.ok(!registryLimitHint([`${DOCKERD}\nmore`], "dev")!.includes("\n"));
    });

    it("is silent for every other failure, a 429 from elsewhere included", () => {
        assert.equal(registryLimitHint(["Error response from daemon: manifest for redis:9 not found: manifest unknown", "exit status 3: the GPU is on fire"], "dev"), undefined);
        assert.equal(registryLimitHint(["googleapi: Error 429: Quota exceeded for quota metric 'Queries', rateLimitExceeded"], "dev"), undefined);
    });

    it("replaces the engine's headline of a failed command with it", () => {
        const stderr = `Updating (dev)\nerror: ${DOCKERD}\n`;
        const e = mapStackError(Object.assign(new Error(stderr), { commandResult: { stderr } }), "dev", "pulumi up");
        assert.equal(e.kind, "up-failed");
        assert.equal(e.message, `pulumi up on stack dev failed: Docker Hub refused a pull (toomanyrequests: You have reached your unauthenticated pull rate limit); ${FIX}`);
    });
});
