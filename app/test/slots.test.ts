/**
 * Blue/green work: two slots' api and worker processes, each started with the env the program gives
 * that slot (slotEnvLines mirrors infra/service/slotEnv.ts), one real redis-server, the Ollama
 * stand-in. Jobs go to the slot whose URL accepted them; either URL reads every job.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OllamaStandIn } from "./helpers/ollama-stand-in";
import { freePort, RedisHandle, startRedis } from "./helpers/redis-server";
import { runSlotScenario } from "./helpers/slot-scenario";
import { envRecord, Slot, slotEnvLines, startSlot } from "./helpers/slots";

describe("blue/green slots (processes)", function () {
    this.timeout(120_000); // start-up may take startSlot's 60 s on a loaded machine
    let redis: RedisHandle;
    const ollama = new OllamaStandIn();
    let dir: string;
    const slots: Slot[] = [];
    const releases = { blue: "r-blue-1", green: "r-green-2" };

    before(async () => {
        [redis] = await Promise.all([startRedis(), ollama.start()]);
        dir = mkdtempSync(join(tmpdir(), "app-test-slots-"));
        const lines = async (color: "blue" | "green") =>
            slotEnvLines({ color, release: releases[color], redisUrl: redis.url, port: await freePort(), ollamaUrl: ollama.url, model: "stand-in", workerConcurrency: 2, limits: { requestsPerMinute: 600, queueMaxDepth: 10000 } });
        const extra = (color: string) => ({ HEARTBEAT_FILE: join(dir, `hb-${color}`), JOB_BACKOFF_MS: "50", LOG_LEVEL: "info" });
        slots.push(...(await Promise.all([startSlot(await lines("blue"), extra("blue")), startSlot(await lines("green"), extra("green"))])));
    });
    after(async () => {
        await Promise.all(slots.map((s) => s.stop()));
        await Promise.all([redis?.stop(), ollama.stop()]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("the env names a queue per slot and both queues for lookups", () => {
        const env = envRecord(slotEnvLines({ color: "green", release: "r", redisUrl: "redis://x", port: 1, ollamaUrl: "http://o", model: "m", workerConcurrency: 1, limits: { requestsPerMinute: 600, queueMaxDepth: 10000 } }));
        assert.equal(env.QUEUE_NAME, "jobs-green");
        assert.equal(env.LOOKUP_QUEUES, "jobs-blue,jobs-green");
    });

    it("runs each job on the slot that accepted it, across swaps, readable through both URLs, none lost or run twice", async () => {
        const [blue, green] = slots;
        await runSlotScenario(blue, green, ollama, releases);
        // Each worker logged only its own slot's jobs.
        for (const s of slots) {
            const done = s.worker
                .output()
                .split("\n")
                .filter((l) => l.includes('"msg":"job completed"'))
                .map((l) => JSON.parse(l));
            assert.equal(done.length, s.color === "blue" ? 12 : 9, s.worker.output().slice(-2000));
            assert.ok(done.every((l) => l.slot === s.color));
        }
    });
});
