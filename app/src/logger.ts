import pino, { DestinationStream, Logger } from "pino";
import type { AppConfig } from "./config";

export type Role = "api" | "worker";

/**
 * JSON lines on stdout for `docker logs` and any log shipper. Redaction is a second fence: the code
 * never passes REDIS_URL or the config object to a log call in the first place.
 */
export function createLogger(
    config: Pick<AppConfig, "logLevel" | "release" | "slot">,
    role: Role,
    destination?: DestinationStream,
): Logger {
    const options: pino.LoggerOptions = {
        level: config.logLevel,
        base: { service: "gpu-hosts-app", role, release: config.release, slot: config.slot, pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: {
            paths: ["redisUrl", "*.redisUrl", "REDIS_URL", "*.REDIS_URL", "req.headers.authorization", "req.headers.cookie", "password", "*.password"],
            censor: "[redacted]",
        },
    };
    // Synchronous writes: a line logged just before process.exit() (on shutdown) is never lost
    // or reordered. The volume here is a few lines per job, so the cost does not matter.
    return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
