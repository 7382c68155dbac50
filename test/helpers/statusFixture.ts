// A four-host stack for the status tests: local, an AWS spot VM, a GCP N1 VM and an operator's server
// ("box") whose SSH is refused and whose API is down; with its outputs, state and the answers its
// probes would give. Secrets are marked so a test can prove none is printed.
import type { HttpAnswer } from "../../scripts/lib/health";
import type { StatusProbes, StatusStack } from "../../scripts/lib/status/collect";
import { hostScript } from "../../scripts/lib/status/probe";
import type { HostLook } from "../../scripts/lib/status/probe";
import type { StackState } from "../../scripts/lib/recover";

export const API_KEY = "SECRET-api-key-0123456789abcdefghijklmnopqrstuv";
export const OPS_API_KEY = "SECRET-ops-key-0123456789abcdefghijklmnopqrstuv";
export const NOW = new Date("2026-12-03T12:00:00.000Z");

const slots = (blue: string, green: string) => ({
    blue: { release: "workdir", commit: "1".repeat(40), label: blue, image: "local-app-blue:abc" },
    green: { release: "v2", commit: "2".repeat(40), label: green, image: "local-app-green:def" },
});

const host = (kind: string, base: string, extra: Record<string, unknown> = {}) => ({
    kind, gpu: "none", address: base.replace(/^https?:\/\//, "").replace(/:\d+$/, ""),
    liveUrl: `${base}:8000`, idleUrl: `${base}:8001`, healthUrl: `${base}:8000/health`, idleHealthUrl: `${base}:8001/health`,
    docsUrl: `${base}:8000/docs`, apiUrl: `${base}:8000`, liveColor: "blue", idleColor: "green",
    slots: slots("workdir@111111111111", "v2@222222222222"), ...extra,
});

export function outputs(): Record<string, unknown> {
    return {
        liveColor: "blue", idleColor: "green", liveUrl: "http://127.0.0.1:8000", idleUrl: "http://127.0.0.1:8001",
        apiUrl: "http://127.0.0.1:8000", docsUrl: "http://127.0.0.1:8000/docs", healthUrl: "http://127.0.0.1:8000/health", image: "local-app-blue:abc",
        slots: slots("workdir@111111111111", "v2@222222222222"),
        hosts: {
            local: host("local", "http://127.0.0.1"),
            aws: host("aws", "https://203.0.113.10", { gpu: "NVIDIA T4", region: "us-east-1", zone: "us-east-1b", instanceType: "g4dn.xlarge", spot: true, ssh: "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-aws -o IdentitiesOnly=yes -o UserKnownHostsFile=~/.ssh/gpu-hosts/gpu-hosts-dev-aws.known_hosts ubuntu@203.0.113.10" }),
            gcp: host("gcp", "https://203.0.113.20", { gpu: "NVIDIA T4", region: "us-central1", zone: "us-central1-a", instanceType: "n1-standard-4", spot: false, ssh: "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-gcp ubuntu@203.0.113.20" }),
            box: host("ssh", "https://203.0.113.30", { port: 2222, user: "ops", machineId: "0123456789abcdef0123456789abcdef", ssh: "ssh -i ~/.ssh/gpu-hosts/gpu-hosts-dev-box -p 2222 ops@203.0.113.30" }),
        },
        hostImages: [], apiKey: API_KEY, opsApiKey: OPS_API_KEY, model: "qwen2.5:0.5b", caRootCert: null,
    };
}

export function state(): StackState {
    const vm = (type: string, parent: string, name: string, created: string, inputs: Record<string, unknown> = {}) => ({
        urn: `urn:pulumi:dev::gpu-hosts::${parent}$${type}::${name}`, type, custom: true, id: `${name}-id`, created, inputs,
        outputs: { privateKeyPem: "SECRET-never-printed" },
    });
    return {
        version: 3,
        deployment: {
            resources: [
                vm("aws:ec2/instance:Instance", "gpu-hosts:hosts:AwsGpuHost", "aws-vm", "2026-12-03T02:00:00.000Z"),
                vm("gcp:compute/instance:Instance", "gpu-hosts:hosts:GcpGpuHost", "gcp-vm", "2026-12-02T12:00:00.000Z", { guestAccelerators: [{ type: "nvidia-tesla-t4", count: 1 }] }),
            ],
        },
    };
}

export function stack(over: Partial<StatusStack> = {}): StatusStack {
    return {
        name: "dev",
        outputs: async () => outputs(),
        allConfig: async () => ({ values: {}, secrets: [] }),
        exportState: async () => state(),
        ...over,
    };
}

const inspect = (host: string, over: Record<string, Partial<{ state: string; health: string | null; exitCode: number }>> = {}) =>
    ["proxy", "proxy-auth", "redis", "ollama", "blue-api", "blue-worker", "green-api", "green-worker"].map((n) => {
        const name = `${host}-app-${n}`;
        const o = { state: "running", health: n === "proxy" ? null : "healthy", exitCode: 0, ...over[name] };
        return JSON.stringify({ name: `/${name}`, state: o.state, health: o.health, exitCode: o.exitCode, restarts: 0 });
    }).join("\n");

/** /metrics text of `slot` as prom-client writes it. */
export const metricsText = (slot: string, depth: number, done5: number, done60: number) => [
    "# HELP gpu_hosts_jobs_completed_total Jobs completed.", "# TYPE gpu_hosts_jobs_completed_total counter", `gpu_hosts_jobs_completed_total{slot="${slot}"} ${done60}`, "",
    "# HELP gpu_hosts_jobs_finished_recent Recent.", "# TYPE gpu_hosts_jobs_finished_recent gauge",
    `gpu_hosts_jobs_finished_recent{slot="${slot}",outcome="completed",window="5m"} ${done5}`,
    `gpu_hosts_jobs_finished_recent{slot="${slot}",outcome="failed",window="5m"} 0`,
    `gpu_hosts_jobs_finished_recent{slot="${slot}",outcome="completed",window="60m"} ${done60}`,
    `gpu_hosts_jobs_finished_recent{slot="${slot}",outcome="failed",window="60m"} 1`, "",
    "# HELP gpu_hosts_queue_depth Depth.", "# TYPE gpu_hosts_queue_depth gauge", `gpu_hosts_queue_depth{slot="${slot}"} ${depth}`, "",
    "# HELP gpu_hosts_breaker_open Breaker.", "# TYPE gpu_hosts_breaker_open gauge", `gpu_hosts_breaker_open{slot="${slot}"} 0`, "",
    "# HELP gpu_hosts_redis_up Redis.", "# TYPE gpu_hosts_redis_up gauge", `gpu_hosts_redis_up{slot="${slot}"} 1`, "",
    "# HELP gpu_hosts_workers Workers.", "# TYPE gpu_hosts_workers gauge", `gpu_hosts_workers{slot="${slot}"} 1`, "",
].join("\n");

const json = (status: number, body: unknown): HttpAnswer => ({ status, text: JSON.stringify(body), json: body });

export interface FakeProbeLog {
    readonly gets: string[];
    readonly looks: string[];
}

/** The probes' answers: local and aws fine (local's green worker stopped), gcp's idle slot failing, box unreachable. */
export function probes(log: FakeProbeLog = { gets: [], looks: [] }, o: { localWorkerStopped?: boolean } = {}): StatusProbes {
    return {
        async get(url) {
            log.gets.push(url);
            const u = new URL(url);
            if (u.hostname === "203.0.113.30") throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
            const color = u.port === "8000" ? "blue" : "green";
            if (u.hostname === "203.0.113.20" && color === "green") return json(503, { status: "unhealthy", redis: "timeout", slot: "green" });
            if (u.pathname === "/health") {
                const label = color === "blue" ? "workdir@111111111111" : "v2@222222222222";
                return json(200, { status: "healthy", redis: "ok", ollama: "ok", generation: "ok", queue_depth: 0, slot: color, release: label });
            }
            if (u.pathname === "/metrics") {
                if (u.hostname === "203.0.113.20") return { status: 404, text: "{\"error\":\"Not Found\"}", json: { error: "Not Found" } };
                return { status: 200, text: metricsText(color, color === "blue" ? 3 : 0, color === "blue" ? 5 : 0, color === "blue" ? 40 : 12), json: undefined };
            }
            return json(404, {});
        },
        async look(h): Promise<HostLook> {
            log.looks.push(`${h.name}:${h.kind}:${h.ssh ?? "-"}:${h.dockerHost ?? "-"}`);
            if (h.name === "box") return { ok: false, reason: "ssh failed: ssh: connect to host 203.0.113.30 port 2222: Connection refused" };
            const stopped: Record<string, { state: string; health: string; exitCode: number }> =
                o.localWorkerStopped && h.name === "local" ? { "local-app-green-worker": { state: "exited", health: "unhealthy", exitCode: 137 } } : {};
            const gpu = h.kind === "local" ? { output: "sh: 1: nvidia-smi: not found\n", exitCode: 127 } : { output: "Tesla T4, 37, 1034, 15360, 45\n", exitCode: 0 };
            return { ok: true, docker: { output: inspect(h.name, stopped), exitCode: 0 }, gpu };
        },
        now: () => NOW,
    };
}

/** The script the real probe would run on `host` (for tests that run it). */
export const scriptFor = (host: string) => hostScript(`${host}-app-`);
