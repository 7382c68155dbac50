// The services on a Docker engine, checked through the real index.ts and the local stack's YAML:
// pins, network, exposure, health checks, volumes, GPUs, secrets, idempotence and blue-green diffs.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { DEFAULTS } from "../../infra/config";
import { IDLE_LISTEN, LIVE_LISTEN, renderCaddyfile } from "../../infra/service/caddy";
import { routeScript, switchScript } from "../../infra/service/route";
import { Recorded } from "../helpers/mocks";
import { isSecretInput, plain, plainStrings } from "../helpers/secrets";
import { HEAD_COMMIT, ProgramRun, ROOT, changedInputs, runProgram, runProgramFresh } from "../helpers/stack";

const CONTAINER = "docker:index/container:Container";

describe("local stack: the services on a Docker engine", () => {
    let run: ProgramRun;
    let containers: Recorded[];
    before(async () => {
        run = await runProgram("local");
        containers = run.byType(CONTAINER);
    });

    it("runs redis, ollama, the proxy and its key service, and an api + worker per slot", () => {
        assert.deepStrictEqual(containers.map((c) => c.inputs.name ?? `(provider-named) ${c.name}`).sort(), [
            "(provider-named) local-app-proxy-auth",
            "local-app-blue-api", "local-app-blue-worker", "local-app-green-api", "local-app-green-worker",
            "local-app-ollama", "local-app-proxy", "local-app-redis",
        ]);
        // The key service has no fixed name, so its replacement is created before the old one is
        // deleted (the resource option overrides the Docker provider's delete-first for containers).
        const auth = run.get("local-app-proxy-auth");
        assert.strictEqual(auth.options.deleteBeforeReplace, false);
        assert.strictEqual(auth.inputs.destroyGraceSeconds, 15);
    });

    it("pulls exactly the pinned images", () => {
        assert.deepStrictEqual(run.byType("docker:index/remoteImage:RemoteImage").map((i) => i.inputs.name).sort(),
            [DEFAULTS.images.proxy, DEFAULTS.images.ollama, DEFAULTS.images.redis].sort());
        for (const c of containers.filter((c) => /redis|ollama|proxy/.test(c.name))) {
            assert.match(c.inputs.image, /^sha256:[0-9a-f]{64}$/, `${c.name} runs the pulled image by id`);
        }
    });

    it("puts every container on the private bridge network", () => {
        const [net] = run.byType("docker:index/network:Network");
        assert.strictEqual(net.inputs.driver, "bridge");
        for (const c of containers) assert.deepStrictEqual(c.inputs.networksAdvanced.map((n: any) => n.name), [net.inputs.name], c.name);
        const alias = (n: string) => run.get(n).inputs.networksAdvanced[0].aliases;
        assert.deepStrictEqual(alias("local-app-redis"), ["redis"]);
        assert.deepStrictEqual(alias("local-app-ollama"), ["ollama"]);
        assert.deepStrictEqual(alias("local-app-blue-api"), ["api-blue"]);
    });

    it("publishes only the proxy, on loopback, live and idle ports", () => {
        const published = containers.filter((c) => (c.inputs.ports ?? []).length > 0);
        assert.deepStrictEqual(published.map((c) => c.name), ["local-app-proxy"]);
        assert.deepStrictEqual(published[0].inputs.ports, [
            { internal: LIVE_LISTEN, external: 8000, ip: "127.0.0.1", protocol: "tcp" },
            { internal: IDLE_LISTEN, external: 8001, ip: "127.0.0.1", protocol: "tcp" },
        ]);
    });

    it("gives every container a health check, a restart policy, log rotation and waits for healthy", () => {
        for (const c of containers) {
            assert.ok(c.inputs.healthcheck?.tests?.length > 1, `${c.name} health check`);
            assert.strictEqual(c.inputs.restart, "unless-stopped", c.name);
            assert.strictEqual(c.inputs.wait, true, c.name);
            assert.deepStrictEqual(c.inputs.logOpts, { "max-file": "3", "max-size": "10m" }, c.name);
            assert.strictEqual(c.inputs.logDriver, "json-file", c.name);
        }
        assert.deepStrictEqual(run.get("local-app-ollama").inputs.healthcheck.tests, ["CMD", "ollama", "list"], "no curl in the ollama image");
        assert.deepStrictEqual(run.get("local-app-blue-api").inputs.healthcheck.tests, ["CMD", ...DEFAULTS.app.apiHealthcheck]);
        assert.deepStrictEqual(run.get("local-app-blue-worker").inputs.healthcheck.tests, ["CMD", ...DEFAULTS.app.workerHealthcheck]);
    });

    it("sets memory limits on the api, worker, redis and proxy", () => {
        const mem = (n: string) => run.get(n).inputs.memory;
        assert.strictEqual(mem("local-app-blue-api"), DEFAULTS.memoryMb.api);
        assert.strictEqual(mem("local-app-green-worker"), DEFAULTS.memoryMb.worker);
        assert.strictEqual(mem("local-app-redis"), DEFAULTS.memoryMb.redis);
        assert.strictEqual(mem("local-app-proxy"), DEFAULTS.memoryMb.proxy);
    });

    it("keeps redis append-only with noeviction on a volume, password in a config file", () => {
        const redis = run.get("local-app-redis");
        assert.deepStrictEqual(redis.inputs.command, ["redis-server", "/usr/local/etc/redis/redis.conf"]);
        const conf: string = plain(redis.inputs.uploads)[0].content;
        assert.match(conf, /^appendonly yes$/m);
        assert.match(conf, /^maxmemory-policy noeviction$/m);
        assert.match(conf, /^requirepass \S{32}$/m);
        assert.deepStrictEqual(redis.inputs.volumes, [{ volumeName: "local-app-redis-data", containerPath: "/data" }]);
        assert.deepStrictEqual(redis.inputs.healthcheck.tests, ["CMD-SHELL", "redis-cli ping | grep -q PONG"]);
    });

    it("keeps ollama's models on a volume, with keep-alive and parallelism, and no GPU on a GPU-less engine", () => {
        const ollama = run.get("local-app-ollama");
        assert.deepStrictEqual(ollama.inputs.volumes, [{ volumeName: "local-app-ollama-models", containerPath: "/root/.ollama" }]);
        assert.ok(ollama.inputs.envs.includes("OLLAMA_KEEP_ALIVE=24h"));
        assert.ok(ollama.inputs.envs.includes("OLLAMA_NUM_PARALLEL=2"));
        assert.strictEqual(ollama.inputs.gpus, undefined);
    });

    it("gives ollama every GPU when the engine has one", async () => {
        const gpuRun = await runProgram("local", { local: { gpu: true } });
        assert.strictEqual(gpuRun.get("local-app-ollama").inputs.gpus, "all");
        for (const c of gpuRun.byType(CONTAINER).filter((c) => c.name !== "local-app-ollama")) assert.strictEqual(c.inputs.gpus, undefined, c.name);
    });

    it("pulls the model in a tracked step that re-runs only when the model changes, before the workers", () => {
        const pull = run.get("local-app-model-pull");
        assert.strictEqual(pull.inputs.create, `docker exec local-app-ollama ollama pull ${DEFAULTS.model}`);
        assert.deepStrictEqual(pull.inputs.triggers, [DEFAULTS.model]);
    });

    it("builds the app image on the engine from the pinned commit's context, tagged by its content, no registry", () => {
        const images = run.byType("docker:index/image:Image").filter((i) => i.name !== "local-app-proxy-auth-image");
        assert.strictEqual(images.length, 2);
        const tree = execFileSync("git", ["rev-parse", `${HEAD_COMMIT}:app`], { cwd: ROOT, encoding: "utf8" }).trim();
        for (const img of images) {
            assert.strictEqual(img.inputs.skipPush, true);
            assert.strictEqual(img.inputs.build.context, `.pulumi/releases/${tree}`, "the commit's app tree, exported once, never the work tree");
            assert.strictEqual(img.inputs.build.dockerfile, `.pulumi/releases/${tree}/Dockerfile`);
            assert.match(img.inputs.imageName, /^local-app-(blue|green):[0-9a-f]{16}$/);
        }
        // Containers run the built image by id, as the engine reports it back (a tag would plan a
        // replacement on every up); the id comes from inspecting the tag the build produced.
        const inspect = run.get("local-app-blue-image-id");
        assert.strictEqual(inspect.inputs.create, `docker image inspect --format '{{.Id}}' ${images.find((i) => i.name === "local-app-blue-image")!.inputs.imageName}\n`);
        assert.ok(inspect.options.dependencies.some((u) => u.endsWith("::local-app-blue-image")));
        assert.match(run.get("local-app-blue-api").inputs.image, /^sha256:[0-9a-f]{64}$/);
        assert.strictEqual(run.get("local-app-blue-api").inputs.image, run.get("local-app-blue-worker").inputs.image);
        assert.notStrictEqual(run.get("local-app-blue-api").inputs.image, run.get("local-app-green-api").inputs.image);
    });

    it("hands the app its env, with REDIS_URL the only way to Redis", () => {
        const envs: string[] = plain(run.get("local-app-green-worker").inputs.envs);
        assert.deepStrictEqual(envs.map((e) => e.split("=")[0]).sort(),
            ["APP_RELEASE", "APP_SLOT", "LOOKUP_QUEUES", "OLLAMA_BASE_URL", "OLLAMA_MODEL", "PORT", "QUEUE_MAX_DEPTH", "QUEUE_NAME",
                "RATE_LIMIT_MAX", "RATE_LIMIT_WINDOW_MS", "REDIS_URL", "WORKER_CONCURRENCY"]);
        assert.ok(envs.includes(`RATE_LIMIT_MAX=${DEFAULTS.limits.requestsPerMinute}`) && envs.includes("RATE_LIMIT_WINDOW_MS=60000"), "gpu-hosts:limits reaches the api");
        assert.ok(envs.includes(`QUEUE_MAX_DEPTH=${DEFAULTS.limits.queueMaxDepth}`));
        assert.ok(envs.includes("APP_SLOT=green"));
        assert.ok(envs.includes("QUEUE_NAME=jobs-green"), "the green slot's work goes through its own queue");
        assert.ok(envs.includes("LOOKUP_QUEUES=jobs-blue,jobs-green"), "a job is readable through either slot");
        assert.ok(envs.includes("OLLAMA_BASE_URL=http://ollama:11434"));
        assert.match(envs.find((e) => e.startsWith("REDIS_URL="))!, /^REDIS_URL=redis:\/\/:\S{32}@redis:6379\/0$/);
    });

    it("keeps the Redis password secret in every input and output", () => {
        const password = /^requirepass (\S+)$/m.exec(plain(run.get("local-app-redis").inputs.uploads)[0].content)![1];
        for (const r of run.resources) {
            for (const s of plainStrings(r.inputs)) assert.ok(!s.includes(password), `${r.name} exposes the password in ${s}`);
        }
        assert.ok(isSecretInput(run.get("local-app-redis").inputs.envs), "REDISCLI_AUTH env is secret");
        assert.ok(isSecretInput(run.get("local-app-redis").inputs.uploads), "redis.conf is secret");
        for (const c of ["local-app-blue-api", "local-app-blue-worker", "local-app-green-api", "local-app-green-worker"]) {
            assert.ok(isSecretInput(run.get(c).inputs.envs), `${c} envs are secret`);
        }
        for (const [k, o] of Object.entries(run.outputs)) {
            assert.ok(!(JSON.stringify(o.value) ?? "").includes(password), `output ${k} exposes the password`);
        }
        const cmd = JSON.stringify(run.get("local-app-redis").inputs.command) + JSON.stringify(run.get("local-app-redis").inputs.healthcheck);
        assert.ok(!cmd.includes(password), "no password in argv or the health check");
    });

    it("gives the proxy a static Caddyfile of both slots and a marker volume, and makes blue live by a health-gated command", () => {
        const proxy = run.get("local-app-proxy");
        // The local stack serves plain HTTP on loopback, and asks for API keys like every stack.
        assert.deepStrictEqual(proxy.inputs.uploads, [{
            file: "/etc/caddy/Caddyfile",
            content: renderCaddyfile({
                upstreams: { blue: "api-blue:8000", green: "api-green:8000" }, healthPath: "/health",
                tls: { mode: "off" }, auth: { upstream: "auth:9000", publicPaths: ["/health", "/docs", "/docs/*"] },
            }),
        }]);
        assert.deepStrictEqual(proxy.inputs.command, ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]);
        assert.deepStrictEqual(proxy.inputs.volumes, [{ volumeName: "local-app-proxy-marker", containerPath: "/routes" }]);
        const routes = run.get("local-app-proxy-routes");
        assert.strictEqual(routes.inputs.stdin, undefined);
        const create: string = routes.inputs.create;
        assert.strictEqual(create, routeScript("local-app-proxy", "blue", "http://api-blue:8000/health"));
        assert.ok(create.includes(`readonly SWITCH='${switchScript("blue")}'`) && create.includes("readonly SETTLE=4\n"), create);
        assert.deepStrictEqual(routes.inputs.triggers, [proxy.id]);
    });

    it("exports the URLs, model, image and slots", () => {
        const o = Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, v.value]));
        assert.strictEqual(o.apiUrl, "http://127.0.0.1:8000");
        assert.strictEqual(o.liveUrl, "http://127.0.0.1:8000");
        assert.strictEqual(o.idleUrl, "http://127.0.0.1:8001");
        assert.strictEqual(o.docsUrl, "http://127.0.0.1:8000/docs");
        assert.strictEqual(o.healthUrl, "http://127.0.0.1:8000/health");
        assert.strictEqual(o.model, DEFAULTS.model);
        assert.strictEqual(o.liveColor, "blue");
        assert.strictEqual(o.idleColor, "green");
        assert.strictEqual(o.image, o.slots.blue.image);
        assert.deepStrictEqual(Object.keys(o.hosts), ["local"]);
        assert.strictEqual(o.hosts.local.liveUrl, o.liveUrl);
    });

    it("is idempotent: the same config twice gives identical inputs, with no timestamps or random names", async () => {
        const again = await runProgramFresh("local");
        assert.deepStrictEqual(changedInputs(run, again), []);
        const text = JSON.stringify(run.resources.map((r) => plain(r.inputs)));
        assert.ok(!/20\d\d-\d\d-\d\dT/.test(text), "no timestamps in inputs");
    });

    it("swapping liveColor replaces nothing but the proxy's routes, and swaps the outputs", async () => {
        const green = await runProgram("local", { liveColor: "green" });
        assert.deepStrictEqual(changedInputs(run, green), ["command:local:Command::local-app-proxy-routes"]);
        assert.strictEqual(green.outputs.liveColor.value, "green");
        assert.strictEqual(green.outputs.idleColor.value, "blue");
        assert.strictEqual(green.outputs.image.value, run.outputs.slots.value.green.image);
        assert.ok(green.get("local-app-proxy-routes").inputs.create.includes(`readonly SWITCH='${switchScript("green")}'`));
    });
});
