// Blue/green work end to end, with the program's own slot environment: each slot's api and worker
// are the app's real processes (app/src/api.ts and app/src/worker.ts through the app's ts-node),
// started with exactly the KEY=value lines slotEnvironment() gives that slot's containers, against a
// real redis-server and the app's Ollama stand-in. Needs Debian's redis-server and `npm ci` in app/.
import { DEFAULTS } from "../../infra/config";
import * as assert from "assert";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { LOOKUP_QUEUES, slotEnvironment, slotQueue } from "../../infra/service/slotEnv";
import { OllamaStandIn } from "../../app/test/helpers/ollama-stand-in";
import { freePort, RedisHandle, startRedis } from "../../app/test/helpers/redis-server";
import { runSlotScenario } from "../../app/test/helpers/slot-scenario";
import { envRecord, Slot, slotEnvLines, startSlot } from "../../app/test/helpers/slots";

describe("slots: the app's processes with the program's slot environment", function () {
    this.timeout(180_000); // two slots started one after the other, each up to startSlot's 60 s on a loaded machine
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let dir: string;
    const slots: Slot[] = [];
    const releases = { blue: "v1.4.0", green: "v1.5.0-rc1" } as const;

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "slots-it-"));
        for (const color of ["blue", "green"] as const) {
            const lines = slotEnvironment({
                color,
                release: releases[color],
                redisUrl: redis.url,
                port: await freePort(),
                ollamaUrl: ollama.url,
                model: "stand-in",
                workerConcurrency: 2,
                // The program's own defaults (Pulumi.yaml), limits included.
                limits: DEFAULTS.limits,
            });
            // Test-only timers and files; startSlot refuses to override any key the program sets.
            slots.push(await startSlot(lines, { HEARTBEAT_FILE: join(dir, `hb-${color}`), JOB_BACKOFF_MS: "50", LOG_LEVEL: "info" }));
        }
    });
    after(async () => {
        await Promise.all(slots.map((s) => s.stop()));
        await Promise.all([redis?.stop(), ollama.stop()]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("gives each slot its own queue and both queues for lookups", () => {
        for (const color of ["blue", "green"] as const) {
            const env = envRecord(slotEnvironment({ color, release: "r", redisUrl: "redis://x", port: 8000, ollamaUrl: "http://o", model: "m", workerConcurrency: 1, limits: DEFAULTS.limits }));
            assert.strictEqual(env.QUEUE_NAME, slotQueue(color));
            assert.strictEqual(env.LOOKUP_QUEUES, LOOKUP_QUEUES.join(","));
            assert.strictEqual(env.APP_SLOT, color);
        }
    });

    it("matches the app tests' copy of the slot environment (app/test/helpers/slots.ts slotEnvLines)", () => {
        const args = { color: "green" as const, release: "r9", redisUrl: "redis://:p@h:6379/0", port: 8123, ollamaUrl: "http://ollama:11434", model: "m", workerConcurrency: 3, limits: { requestsPerMinute: 7, queueMaxDepth: 11 } };
        assert.deepStrictEqual(envRecord(slotEnvLines(args)), envRecord(slotEnvironment(args)));
    });

    it("runs each job on the slot that accepted it, across swaps, readable through both URLs, none lost or run twice", async () => {
        const [blue, green] = slots;
        await runSlotScenario(blue, green, ollama, releases);
    });
});
