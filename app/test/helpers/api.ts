import type { AppConfig } from "../../src/config";
import { ApiHandle, createApi } from "../../src/api-runtime";
import { createLogger } from "../../src/logger";

/** The api as src/api.ts wires it, minus listen(): tests drive it with inject(). */
export type Api = ApiHandle;

/**
 * The api wired as src/api.ts wires it, once its Redis connection is ready (at most 5 s, so a test
 * that starts it with Redis down still gets it): the connection has no offline queue, so a request
 * sent while it still connects answers 503, which made first requests flaky on a loaded machine.
 */
export async function startApi(config: AppConfig): Promise<Api> {
    const api = await createApi(config, createLogger(config, "api"));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
        // The duration histogram's event stream too: a job that finishes before it reads is not seen.
        Promise.all([api.queue.waitUntilReady().catch(() => undefined), api.metrics.ready()]),
        new Promise((r) => { timer = setTimeout(r, 5000); }),
    ]);
    clearTimeout(timer);
    return {
        ...api,
        // Some tests stop Redis first; closing the queue may then fail, which teardown ignores.
        close: () => api.close().catch(() => undefined),
    };
}
