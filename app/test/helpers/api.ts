import type { AppConfig } from "../../src/config";
import { ApiHandle, createApi } from "../../src/api-runtime";
import { createLogger } from "../../src/logger";

/** The api as src/api.ts wires it, minus listen(): tests drive it with inject(). */
export type Api = ApiHandle;

export async function startApi(config: AppConfig): Promise<Api> {
    const api = await createApi(config, createLogger(config, "api"));
    return {
        app: api.app,
        queue: api.queue,
        // Some tests stop Redis first; closing the queue may then fail, which teardown ignores.
        close: () => api.close().catch(() => undefined),
    };
}
