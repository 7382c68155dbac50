// Settings every long-running container shares.
import * as docker from "@pulumi/docker";

/** Rotate json-file logs so a chatty container cannot fill the disk. */
export const logOpts = { "max-size": "10m", "max-file": "3" };

/** A Docker health check running `test` (exec form) inside the container. */
export function healthcheck(test: readonly string[], startPeriod = "20s"): docker.types.input.ContainerHealthcheck {
    return { tests: ["CMD", ...test], interval: "10s", timeout: "5s", retries: 5, startPeriod };
}
