// What runs on every host: the app and how it is built and run, the pinned images, the model, and
// the service's limits. gpu-hosts:app, images, model, workerConcurrency, limits, ollama, memoryMb.
import { DURATION, IMAGE_PIN, MODEL, RELATIVE_PATH, URL_PATH } from "../../validators";
import type { Reader } from "../reader";
import { defineKey } from "../schema";

export interface AppConfig {
    /** Build context, relative to the project root. */
    readonly context: string;
    /** Dockerfile, relative to the context. */
    readonly dockerfile: string;
    readonly apiCommand: readonly string[];
    readonly workerCommand: readonly string[];
    /** Port the api listens on inside its container. */
    readonly port: number;
    /** HTTP path that answers 200 while the api is healthy. */
    readonly healthPath: string;
    /** Container health check commands (exec form, run inside the container). */
    readonly apiHealthcheck: readonly string[];
    readonly workerHealthcheck: readonly string[];
}

export interface ImagePins {
    readonly redis: string;
    readonly ollama: string;
    readonly proxy: string;
    /** Image the readiness gate runs with --gpus all to prove the GPU is visible in a container. */
    readonly gpuCheck: string;
}

/** Abuse limits the api enforces (per client; Redis-backed, so shared by both slots' apis). */
export interface LimitsConfig {
    readonly requestsPerMinute: number;
    readonly queueMaxDepth: number;
}

export interface OllamaConfig {
    readonly keepAlive: string;
    readonly numParallel: number;
    readonly maxLoadedModels: number;
}

export interface MemoryConfig {
    readonly api: number;
    readonly worker: number;
    readonly redis: number;
    readonly proxy: number;
}

/** The service section of the stack config. */
export interface ServiceConfig {
    readonly model: string;
    readonly images: ImagePins;
    readonly app: AppConfig;
    readonly workerConcurrency: number;
    readonly limits: LimitsConfig;
    readonly ollama: OllamaConfig;
    readonly memoryMb: MemoryConfig;
}

const int = (r: Reader, min: number, max: number) => (k: string, v: unknown, fb: number) => r.int(k, v, fb, min, max);
const cmd = (r: Reader) => (k: string, v: unknown, fb: readonly string[]) => r.command(k, v, fb);

export const model = defineKey<string>({
    key: "model",
    schema: { type: "string", description: "Ollama model pulled on every host and used by the worker.", default: "qwen2.5:0.5b" },
    read: (r, raw, _ctx, fb) => r.pattern("model", raw, fb, MODEL),
});

const IMAGES: ImagePins = {
    redis: "redis:7.4.2-alpine",
    ollama: "ollama/ollama:0.6.8",
    proxy: "caddy:2.11.6-alpine",
    gpuCheck: "ubuntu:24.04",
};
export const images = defineKey<ImagePins>({
    key: "images",
    schema: { description: "Pinned images {redis, ollama, proxy, gpuCheck}; explicit tags, never \"latest\".", default: IMAGES },
    read: (r, raw, _ctx, fb) => {
        const image = (k: string, v: unknown, ifb: string) => r.pattern(k, v, ifb, IMAGE_PIN);
        return r.object("images", raw, fb, { redis: image, ollama: image, proxy: image, gpuCheck: image });
    },
});

const APP: AppConfig = {
    context: "app",
    dockerfile: "Dockerfile",
    apiCommand: ["node", "dist/api.js"],
    workerCommand: ["node", "dist/worker.js"],
    port: 8000,
    healthPath: "/health",
    apiHealthcheck: ["node", "dist/healthcheck.js", "api"],
    workerHealthcheck: ["node", "dist/healthcheck.js", "worker"],
};
export const app = defineKey<AppConfig>({
    key: "app",
    schema: {
        description: "The app to build and run: {context, dockerfile, apiCommand, workerCommand, port, healthPath, apiHealthcheck, workerHealthcheck}. Defaults to the bundled app/.",
        default: APP,
    },
    read: (r, raw, _ctx, fb) => r.object("app", raw, fb, {
        context: (k, v, fb) => r.pattern(k, v, fb, RELATIVE_PATH),
        dockerfile: (k, v, fb) => r.pattern(k, v, fb, RELATIVE_PATH, "a relative path inside the context, e.g. \"Dockerfile\""),
        apiCommand: cmd(r),
        workerCommand: cmd(r),
        port: int(r, 1, 65535),
        healthPath: (k, v, fb) => r.pattern(k, v, fb, URL_PATH),
        apiHealthcheck: cmd(r),
        workerHealthcheck: cmd(r),
    }),
});

export const workerConcurrency = defineKey<number>({
    key: "workerConcurrency",
    schema: { type: "integer", description: "Jobs each worker runs at once (WORKER_CONCURRENCY).", default: 2 },
    read: (r, raw, _ctx, fb) => r.int("workerConcurrency", raw, fb, 1, 64),
});

const LIMITS: LimitsConfig = { requestsPerMinute: 600, queueMaxDepth: 10000 };
export const limits = defineKey<LimitsConfig>({
    key: "limits",
    schema: {
        description: "Abuse limits of the api {requestsPerMinute, queueMaxDepth}: requests per client per minute (429 past it; 0 = off), and unfinished jobs per slot queue (503 with Retry-After past it).",
        default: LIMITS,
    },
    read: (r, raw, _ctx, fb) => r.object("limits", raw, fb, {
        // 0 turns the per-client rate limit off.
        requestsPerMinute: int(r, 0, 1_000_000),
        queueMaxDepth: int(r, 1, 10_000_000),
    }),
});

const OLLAMA: OllamaConfig = { keepAlive: "24h", numParallel: 2, maxLoadedModels: 1 };
export const ollama = defineKey<OllamaConfig>({
    key: "ollama",
    schema: { description: "Ollama server settings {keepAlive, numParallel, maxLoadedModels}.", default: OLLAMA },
    read: (r, raw, _ctx, fb) => r.object("ollama", raw, fb, {
        keepAlive: (k, v, fb) => r.pattern(k, v, fb, DURATION),
        numParallel: int(r, 1, 16),
        maxLoadedModels: int(r, 1, 8),
    }),
});

const MEMORY: MemoryConfig = { api: 512, worker: 512, redis: 512, proxy: 128 };
export const memoryMb = defineKey<MemoryConfig>({
    key: "memoryMb",
    schema: { description: "Memory limits in MiB {api, worker, redis, proxy}.", default: MEMORY },
    read: (r, raw, _ctx, fb) => r.object("memoryMb", raw, fb, {
        api: int(r, 64, 65536), worker: int(r, 64, 65536), redis: int(r, 32, 65536), proxy: int(r, 32, 65536),
    }),
});

export const SERVICE_KEYS = [model, images, app, workerConcurrency, limits, ollama, memoryMb] as const;
