import type { Logger } from "pino";
import { AppConfig, ConfigError } from "./config";

/** Loads config or exits 2 with one JSON line that lists every problem. */
export function exitOnConfigError(load: () => AppConfig, role: string): AppConfig {
    try {
        return load();
    } catch (err) {
        if (err instanceof ConfigError) {
            // eslint-disable-next-line no-console
            console.error(JSON.stringify({ level: "fatal", role, msg: "invalid configuration", problems: err.problems }));
            process.exit(2);
        }
        throw err;
    }
}

/**
 * Runs `stop` once on the first SIGTERM or SIGINT, then exits 0 (1 if stop threw). A second signal
 * exits at once: the operator asked twice.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
        if (stopping) {
            logger.warn({ signal }, "second signal, exiting without waiting");
            process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, "shutting down");
        stop().then(
            () => {
                logger.info("stopped");
                process.exit(0);
            },
            (err) => {
                logger.error({ err: err instanceof Error ? err.message : String(err) }, "shutdown failed");
                process.exit(1);
            },
        );
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
}

/**
 * Resolves with `promise`; while it is pending, logs `msg` after `everyMs` and every `everyMs`
 * after that, so a process that waits (for Redis) says so rather than sit silent.
 */
export async function logWhileWaiting<T>(logger: Logger, promise: Promise<T>, fields: Record<string, unknown>, msg: string, everyMs = 10_000): Promise<T> {
    const timer = setInterval(() => logger.warn(fields, msg), everyMs);
    timer.unref();
    try {
        return await promise;
    } finally {
        clearInterval(timer);
    }
}
