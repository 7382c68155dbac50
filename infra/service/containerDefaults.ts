// Settings every long-running container shares.
import * as docker from "@pulumi/docker";
import { DOCKER_LOG_ROTATION } from "../config/fixed";

/** Rotate json-file logs so a chatty container cannot fill the disk (Docker takes both as strings). */
export const logOpts = { "max-size": DOCKER_LOG_ROTATION.maxSize, "max-file": String(DOCKER_LOG_ROTATION.maxFile) };

/** A Docker health check running `test` (exec form) inside the container. */
export function healthcheck(test: readonly string[], startPeriod = "20s"): docker.types.input.ContainerHealthcheck {
    return { tests: ["CMD", ...test], interval: "10s", timeout: "5s", retries: 5, startPeriod };
}

/**
 * What every long-running container sets: restart unless stopped, rotated json-file logs, wait for
 * healthy at create, and a memory limit whose swap limit equals it (no swap). Docker stores an unset
 * swap limit as twice the memory and the provider reads it back (kreuzwerker container Read:
 * memory_swap), so leaving it out would plan an update on every `up`.
 */
export function service(o: { readonly memoryMb?: number; readonly waitTimeoutSeconds: number }) {
    return {
        ...(o.memoryMb !== undefined ? { memory: o.memoryMb, memorySwap: o.memoryMb } : {}),
        restart: "unless-stopped",
        logDriver: "json-file",
        logOpts,
        wait: true,
        waitTimeout: o.waitTimeoutSeconds,
    };
}
