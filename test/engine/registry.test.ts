// Docker Hub pulls on the real engine and the real Docker provider plugin (pulumi-docker 5.2.0,
// which bridges kreuzwerker/terraform-provider-docker), against a stand-in Docker Engine API on a
// unix socket that holds images, records every pull with the login it carries, and answers a pull
// the way dockerd does when Docker Hub refuses it for its rate limit. What it pins:
// - A RemoteImage the host already has is never pulled, whether the state knows it or not (a retry,
//   or recover, which drops from the state what lived on a gone machine and runs up): the provider's
//   create looks the image up locally first and pulls only when it is missing (internal/provider/
//   resource_docker_image_funcs.go findImage: fetchLocalImages + searchLocalImages, i.e. GET
//   /images/json and /images/<name>/json, before pullImage). keepLocally: true keeps a delete or a
//   replacement from removing it (removeImage returns at once), so nothing is pulled back later.
// - A pull carries the Docker Hub login (X-Registry-Auth) from the provider's registryAuth.
// - Docker Hub's refusal reaches the operator as one line naming gpu-hosts:registry
//   (scripts/lib/stackOps.ts registryLimitHint), not the engine's error dump.
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as YAML from "yaml";
import { openStack } from "../../scripts/lib/stackOps";
import { UpFailedError } from "../../scripts/lib/engineErrors";
import { Engine, engineEnv, linkRepoProgram, report, requireEngine, runCli, setProcessEnv, tempEngineDir } from "./engine";

const PROGRAM = path.join(__dirname, "registry");
const PASSWORD = "dckr_pat_engine-test-Secret_42";

/**
 * dockerd's answer to a pull Docker Hub refused: the registry's TOOMANYREQUESTS error code gives the
 * HTTP status 429 (moby api/server/httpstatus/status.go statusCodeFromDistributionError: the errcode's
 * HTTPStatusCode) and the message Docker Hub wrote (https://github.com/docker/hub-feedback/issues/2464).
 */
const RATE_LIMITED = { status: 429, message: "toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit" };

interface Pull {
    readonly image: string;
    /** The decoded X-Registry-Auth the provider sent. */
    readonly auth: { username?: string; password?: string };
}

/** A Docker Engine API that knows images by tag, pulls on request, and refuses anything else it is asked. */
class StandInEngine {
    readonly tags = new Set<string>();
    readonly pulls: Pull[] = [];
    readonly unexpected: string[] = [];
    refusePulls = false;
    private readonly server = http.createServer((req, res) => this.answer(req, res));

    constructor(readonly socket: string) {}

    listen(): Promise<void> {
        return new Promise((resolve) => this.server.listen(this.socket, resolve));
    }

    close(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    private static id(tag: string): string {
        return `sha256:${crypto.createHash("sha256").update(tag).digest("hex")}`;
    }

    /** The tag an image name or id means here ("redis" is "redis:latest", as dockerd reads it). */
    private find(name: string): string | undefined {
        return [name, `${name}:latest`].find((t) => this.tags.has(t)) ?? [...this.tags].find((t) => StandInEngine.id(t) === name || StandInEngine.id(t).slice(7, 19) === name);
    }

    private summary(tag: string) {
        return { Id: StandInEngine.id(tag), ParentId: "", RepoTags: [tag], RepoDigests: [], Created: 1733500000, Size: 1000, SharedSize: -1, VirtualSize: 1000, Labels: {}, Containers: -1 };
    }

    private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", "http://docker");
        const route = url.pathname.replace(/^\/v\d+\.\d+/, "");
        const json = (status: number, body: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json", "Api-Version": "1.47" });
            res.end(JSON.stringify(body));
        };
        if (route === "/_ping") {
            res.writeHead(200, { "Api-Version": "1.47", "Ostype": "linux", "Content-Type": "text/plain" });
            res.end(req.method === "HEAD" ? undefined : "OK");
            return;
        }
        if (req.method === "GET" && route === "/version") return json(200, { Version: "27.5.1", ApiVersion: "1.47", MinAPIVersion: "1.24", Os: "linux", Arch: "amd64" });
        if (req.method === "GET" && route === "/images/json") return json(200, [...this.tags].map((t) => this.summary(t)));
        const inspect = /^\/images\/(.+)\/json$/.exec(route);
        if (req.method === "GET" && inspect) {
            const tag = this.find(decodeURIComponent(inspect[1]));
            return tag ? json(200, { ...this.summary(tag), Created: "2024-12-06T15:46:40Z", Os: "linux", Architecture: "amd64" }) : json(404, { message: `No such image: ${decodeURIComponent(inspect[1])}` });
        }
        if (req.method === "POST" && route === "/images/create") {
            // The client sends the normalized name (docker.io/library/redis); dockerd tags it by the familiar one.
            const from = String(url.searchParams.get("fromImage")).replace(/^docker\.io\//, "").replace(/^library\//, "");
            const image = `${from}:${url.searchParams.get("tag") || "latest"}`;
            const header = String(req.headers["x-registry-auth"] ?? "");
            this.pulls.push({ image, auth: header ? JSON.parse(Buffer.from(header, "base64url").toString()) : {} });
            if (this.refusePulls) return json(RATE_LIMITED.status, { message: RATE_LIMITED.message });
            this.tags.add(image);
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(`${JSON.stringify({ status: `Pulling from library/${image}` })}\n${JSON.stringify({ status: `Status: Downloaded newer image for ${image}` })}\n`);
            return;
        }
        this.unexpected.push(`${req.method} ${url.pathname}`);
        json(404, { message: `the stand-in engine does not serve ${req.method} ${url.pathname}` });
    }
}

describe("Docker Hub pulls on the real engine and Docker provider (stand-in engine API)", function () {
    // Four ups and three stack inits on the real engine: 1.5-2 min on this shared 2-core machine.
    this.timeout(360_000);
    let engine: Engine;
    let tmp: string;
    let workDir: string;
    let host: StandInEngine;
    let restoreEnv = () => {};
    const REDIS = "redis:7.4.2-alpine";
    const OLLAMA = "ollama/ollama:0.5.7";
    const NODE = "node:20-bookworm-slim";

    before(async function () {
        engine = requireEngine(this);
        tmp = tempEngineDir("gpu-hosts-engine-registry-");
        workDir = path.join(tmp, "program");
        // The program stays in the repo (it imports the real registryAuth); only its project and stack files live here.
        linkRepoProgram(PROGRAM, workDir);
        restoreEnv = setProcessEnv(engineEnv(engine, tmp, { plugins: true }));
        host = new StandInEngine(path.join(tmp, "docker.sock"));
        await host.listen();
    });
    after(async () => {
        restoreEnv();
        if (host) await host.close();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });
    afterEach(() => assert.deepEqual(host.unexpected, [], "the provider asked the stand-in engine only what it serves"));

    const cli = (args: string[]) => runCli(engine, [...args, "--non-interactive"], { cwd: workDir, env: engineEnv(engine, tmp, { plugins: true }) });

    async function stack(name: string, images: readonly string[]) {
        fs.writeFileSync(path.join(workDir, `Pulumi.${name}.yaml`), YAML.stringify({ config: { "registryTest:socket": host.socket, "registryTest:images": images } }));
        const init = await cli(["stack", "init", name, "--secrets-provider", "passphrase"]);
        assert.equal(init.code, 0, report(init));
        const set = await cli(["config", "set", "--secret", "registryTest:password", PASSWORD, "--stack", name]);
        assert.equal(set.code, 0, report(set));
        return openStack({ stackName: name, workDir, onOutput: () => undefined });
    }

    it("creates each image the host already has without pulling it: a state that does not know them (a first up, or recover) pulls nothing", async () => {
        host.tags.clear();
        host.pulls.length = 0;
        for (const t of [REDIS, OLLAMA, NODE]) host.tags.add(t);
        const s = await stack("present", [REDIS, OLLAMA, NODE]);
        const r = await s.up();
        assert.deepEqual(r.resources.filter((c) => c.change === "create").length, 5, "the stack, the provider and three images");
        assert.deepEqual(host.pulls, [], "no pull");
        assert.deepEqual(Object.values(await s.outputs()).flat(), [REDIS, OLLAMA, NODE].map((t) => `sha256:${crypto.createHash("sha256").update(t).digest("hex")}`));
    });

    it("a pull Docker Hub refuses says so on one line with its fix; the retry pulls only what is missing, with the login, and the next up pulls nothing", async () => {
        host.tags.clear();
        host.pulls.length = 0;
        host.tags.add(REDIS);
        host.refusePulls = true;
        const s = await stack("limited", [REDIS, OLLAMA]);
        const err = await s.up().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof UpFailedError, String(err));
        assert.equal(err.message.split("\n").length, 1, err.message);
        assert.match(err.message, /^pulumi up on stack limited failed at image-1: Docker Hub refused a pull \(toomanyrequests: You have reached your unauthenticated pull rate limit\); the fix is gpu-hosts:registry: a Docker Hub login \(`pulumi config set --stack limited --path gpu-hosts:registry\.username <user>`/);
        assert.deepEqual(host.pulls.map((p) => p.image), [OLLAMA], "only the image the host lacks was asked for");
        assert.deepEqual(host.pulls.map((p) => [p.auth.username, p.auth.password]), [["gpuops", PASSWORD]], "with the Docker Hub login from registryAuth");

        host.refusePulls = false;
        await s.up();
        assert.deepEqual(host.pulls.map((p) => p.image), [OLLAMA, OLLAMA], "the retry pulled the missing image again, and nothing else");
        await s.up();
        assert.equal(host.pulls.length, 2, "an up with nothing to change pulls nothing");
        // Recover drops what lived on a machine from the state and runs up: the images are created
        // again on a host that has them (here: a stack whose state never knew them, on the same engine).
        await (await stack("recovered", [REDIS, OLLAMA])).up();
        assert.equal(host.pulls.length, 2, "nothing pulled for a state that forgot images the host has");
    });
});
