// The verdict rules of npm run status (scripts/lib/status/verdict.ts), one rule per case.
import * as assert from "node:assert/strict";
import { containerStatuses, expectedContainers } from "../../scripts/lib/status/containers";
import type { GpuStatus, SlotHealth, SlotMetrics, SlotStatus } from "../../scripts/lib/status/types";
import { EXIT_CODES, HostFacts, judgeHost, judgeStack } from "../../scripts/lib/status/verdict";

const healthy: SlotHealth = { ok: true, httpStatus: 200, status: "healthy", slot: "blue", release: "r1", redis: "ok", ollama: "ok", error: null };
const metrics: SlotMetrics = {
    queueDepth: 0, queueJobs: {}, completed5m: 1, failed5m: 0, completed60m: 3, failed60m: 0,
    acceptedTotal: 3, completedTotal: 3, failedTotal: 0, ollamaErrorsTotal: 0, breakerOpen: false, redisUp: true, workers: 1,
};
const slot = (color: "blue" | "green", role: "live" | "idle", over: Partial<SlotStatus> = {}): SlotStatus => ({
    color, role, release: "r1", label: "r1", commit: "c", url: "http://h", health: { ...healthy, slot: color }, metrics, metricsError: null, ...over,
});
const running = (host: string) => expectedContainers(host, true).map((name) => ({ name, state: "running", health: "healthy", exitCode: 0, restarts: 0 }));
const noGpu: GpuStatus = { state: "none", note: "nvidia-smi is not installed", devices: [] };
const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
    reachable: true, unreachableReason: null, slots: [slot("blue", "live"), slot("green", "idle")],
    containers: containerStatuses("h", running("h"), expectedContainers("h", true)), gpu: noGpu, gpuExpected: null, ...over,
});
const down: SlotHealth = { ok: false, httpStatus: null, status: null, slot: null, release: null, redis: null, ollama: null, error: "GET http://h/health: connection refused" };

describe("status: verdict rules", () => {
    it("everything fine, no GPU on a host without one: OK", () => {
        assert.deepEqual(judgeHost(facts()), { verdict: "OK", reasons: [] });
    });

    it("DOWN: the live slot does not answer, or answers unhealthy (Redis down)", () => {
        assert.deepEqual(judgeHost(facts({ slots: [slot("blue", "live", { health: down }), slot("green", "idle")] })),
            { verdict: "DOWN", reasons: ["live slot blue: GET http://h/health: connection refused"] });
        const redis = { ...down, httpStatus: 503, status: "unhealthy", redis: "unreachable", error: "GET http://h/health -> HTTP 503: redis: \"unreachable\"" };
        assert.equal(judgeHost(facts({ slots: [slot("blue", "live", { health: redis }), slot("green", "idle")] })).verdict, "DOWN");
    });

    it("DOWN: the host cannot be reached and its live URL does not answer; DEGRADED when the live URL still serves", () => {
        const unreachable = { reachable: false, unreachableReason: "ssh failed: ssh: connect to host 203.0.113.7 port 22: Connection refused", containers: [] };
        assert.deepEqual(judgeHost(facts({ ...unreachable, slots: [slot("blue", "live", { health: down }), slot("green", "idle", { health: down })] })), {
            verdict: "DOWN",
            reasons: [
                "live slot blue: GET http://h/health: connection refused",
                "cannot inspect the host: ssh failed: ssh: connect to host 203.0.113.7 port 22: Connection refused",
                "idle slot green: GET http://h/health: connection refused",
            ],
        });
        assert.deepEqual(judgeHost(facts(unreachable)),
            { verdict: "DEGRADED", reasons: ["cannot inspect the host: ssh failed: ssh: connect to host 203.0.113.7 port 22: Connection refused"] });
    });

    it("DEGRADED: the idle slot unhealthy", () => {
        assert.deepEqual(judgeHost(facts({ slots: [slot("blue", "live"), slot("green", "idle", { health: down })] })),
            { verdict: "DEGRADED", reasons: ["idle slot green: GET http://h/health: connection refused"] });
    });

    it("DEGRADED: the live URL healthy but serving another slot or release than the outputs say", () => {
        const other = { ...healthy, ok: false, slot: "green", error: "GET http://h/health answered from slot \"green\", expected \"blue\"" };
        assert.deepEqual(judgeHost(facts({ slots: [slot("blue", "live", { health: other }), slot("green", "idle")] })),
            { verdict: "DEGRADED", reasons: ["live slot blue: GET http://h/health answered from slot \"green\", expected \"blue\""] });
    });

    it("DEGRADED: a stopped worker, an unhealthy or starting container, a missing one", () => {
        const found = running("h").map((c) => c.name === "h-app-blue-worker" ? { ...c, state: "exited", health: "unhealthy", exitCode: 0 }
            : c.name === "h-app-ollama" ? { ...c, health: "unhealthy" } : c.name === "h-app-green-api" ? { ...c, health: "starting" } : c)
            .filter((c) => c.name !== "h-app-redis");
        const j = judgeHost(facts({ containers: containerStatuses("h", found, expectedContainers("h", true)) }));
        assert.equal(j.verdict, "DEGRADED");
        assert.deepEqual(j.reasons, [
            "container h-app-redis is missing",
            "container h-app-ollama is unhealthy",
            "container h-app-blue-worker is exited (exit code 0)",
            "container h-app-green-api is starting (health check not passed yet)",
        ]);
    });

    it("finds the key service under the name the Docker provider gives it, and lists a replacement running beside it", () => {
        const named = running("h").map((c) => (c.name === "h-app-proxy-auth" ? { ...c, name: "h-app-proxy-auth-1a2b3c4" } : c));
        const statuses = containerStatuses("h", named, expectedContainers("h", true));
        assert.ok(statuses.some((c) => c.name === "h-app-proxy-auth-1a2b3c4" && c.role === "auth"), JSON.stringify(statuses));
        assert.ok(!statuses.some((c) => c.name === "h-app-proxy-auth"), "not reported missing");
        assert.deepEqual(judgeHost(facts({ containers: statuses })), { verdict: "OK", reasons: [] });
        // Mid-replacement: both run; the second is listed with its role, not as a stranger.
        const both = containerStatuses("h", [...named, { ...named[0], name: "h-app-proxy-auth-9f8e7d6" }], expectedContainers("h", true));
        assert.equal(both.filter((c) => c.role === "auth").length, 2);
        // Another suffix is not the key service's.
        assert.equal(containerStatuses("h", [...named, { ...named[0], name: "h-app-proxy-auth-old" }], expectedContainers("h", true)).find((c) => c.name === "h-app-proxy-auth-old")?.role, "other");
    });

    it("DEGRADED: an open breaker, Redis unread by the api, no worker reporting", () => {
        const j = judgeHost(facts({ slots: [slot("blue", "live", { metrics: { ...metrics, breakerOpen: true } }), slot("green", "idle", { metrics: { ...metrics, redisUp: false, workers: 0 } })] }));
        assert.deepEqual(j, {
            verdict: "DEGRADED",
            reasons: [
                "slot blue: the Ollama circuit breaker is open (generation failing; jobs wait)",
                "slot green: the api cannot read Redis",
                "slot green: no worker reports (jobs of this slot are not processed)",
            ],
        });
    });

    it("DEGRADED: a host that should have a GPU shows none; metrics missing changes nothing", () => {
        assert.deepEqual(judgeHost(facts({ gpuExpected: "NVIDIA T4" })),
            { verdict: "DEGRADED", reasons: ["no GPU visible (the host should have NVIDIA T4): nvidia-smi is not installed"] });
        assert.equal(judgeHost(facts({ slots: [slot("blue", "live", { metrics: null, metricsError: "HTTP 404" }), slot("green", "idle")] })).verdict, "OK");
    });

    it("the stack: DOWN when no host serves, DEGRADED when one is not OK, OK when all are; exit codes 2, 1, 0", () => {
        const ok = { name: "aws", verdict: "OK" as const, reasons: [] };
        const deg = { name: "gcp", verdict: "DEGRADED" as const, reasons: ["idle slot green: x"] };
        const dn = { name: "azure", verdict: "DOWN" as const, reasons: ["live slot blue: y"] };
        assert.deepEqual(judgeStack([ok, ok]), { verdict: "OK", reasons: [] });
        assert.deepEqual(judgeStack([ok, deg, dn]), { verdict: "DEGRADED", reasons: ["host gcp: idle slot green: x", "host azure: live slot blue: y"] });
        assert.deepEqual(judgeStack([dn, { ...dn, name: "ssh1" }]),
            { verdict: "DOWN", reasons: ["no host serves live traffic", "host azure: live slot blue: y", "host ssh1: live slot blue: y"] });
        assert.deepEqual(EXIT_CODES, { OK: 0, DEGRADED: 1, DOWN: 2 });
    });
});

describe("status: the containers a fleet's host runs", () => {
    it("expects the hub's endpoint and queue, its workers only with a GPU, and only Ollama and workers on a worker host", () => {
        assert.deepStrictEqual(expectedContainers("hub", true, { role: "hub", workers: false }), [
            "hub-app-proxy", "hub-app-proxy-auth", "hub-app-redis", "hub-app-blue-api", "hub-app-green-api",
        ]);
        assert.deepStrictEqual(expectedContainers("hub", false, { role: "hub", workers: true }), [
            "hub-app-proxy", "hub-app-redis", "hub-app-ollama", "hub-app-blue-api", "hub-app-blue-worker", "hub-app-green-api", "hub-app-green-worker",
        ]);
        assert.deepStrictEqual(expectedContainers("w1", true, { role: "worker", workers: true }), ["w1-app-ollama", "w1-app-blue-worker", "w1-app-green-worker"]);
        // No fleet: everything, as before.
        assert.strictEqual(expectedContainers("h", true).length, 8);
    });
});
