/**
 * The container health checks; the image has no curl, so these are what Docker runs:
 *   node dist/healthcheck.js api     exit 0 only if GET http://127.0.0.1:$PORT/health answers 200
 *   node dist/healthcheck.js worker  exit 0 only if the worker's heartbeat file is fresh
 */
import { request } from "node:http";
import { loadConfig, type AppConfig } from "./config";
import { heartbeatAge } from "./heartbeat";

export interface CheckResult {
    readonly ok: boolean;
    readonly detail: string;
}

export function checkApi(port: number, timeoutMs = 3000): Promise<CheckResult> {
    return new Promise((resolve) => {
        const req = request({ host: "127.0.0.1", port, path: "/health", method: "GET", timeout: timeoutMs }, (res) => {
            res.resume();
            resolve({ ok: res.statusCode === 200, detail: `GET /health answered ${res.statusCode}` });
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (err) => resolve({ ok: false, detail: `GET /health failed: ${err.message}` }));
        req.end();
    });
}

export async function checkWorker(config: Pick<AppConfig, "heartbeatFile" | "heartbeatMaxAgeMs">): Promise<CheckResult> {
    const age = await heartbeatAge(config.heartbeatFile);
    if (age === null) return { ok: false, detail: `no heartbeat at ${config.heartbeatFile}` };
    return age <= config.heartbeatMaxAgeMs
        ? { ok: true, detail: `heartbeat ${age} ms old` }
        : { ok: false, detail: `heartbeat ${age} ms old, limit ${config.heartbeatMaxAgeMs} ms` };
}

export async function runHealthcheck(role: string | undefined, env = process.env): Promise<CheckResult> {
    const config = loadConfig(env, { requireRedisUrl: false });
    switch (role) {
        case "api":
            return checkApi(config.port);
        case "worker":
            return checkWorker(config);
        default:
            return { ok: false, detail: `usage: healthcheck.js api|worker (got ${JSON.stringify(role ?? "")})` };
    }
}

if (require.main === module) {
    runHealthcheck(process.argv[2]).then(
        // Docker keeps the last output in `docker inspect`, so say why. Exit only once the line is
        // written (a pipe write is asynchronous), and without waiting for keep-alive sockets.
        (r) => (r.ok ? process.stdout : process.stderr).write(`${r.ok ? "healthy" : "unhealthy"}: ${r.detail}\n`, () => process.exit(r.ok ? 0 : 1)),
        (err) => process.stderr.write(`unhealthy: ${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1)),
    );
}
