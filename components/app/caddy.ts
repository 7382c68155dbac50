// Caddy routing, as pure functions: the Caddyfile for a given live/idle pair and the commands that
// load it. Caddy was chosen because its config reload is graceful (in-flight requests finish on the
// old config, no process restart), it has active upstream health checks, and it ships as a pinned
// official image and as a Debian package (so the swap benchmark runs the real binary here).

/** Port inside the proxy container that serves the live slot. */
export const LIVE_LISTEN = 8080;
/** Port inside the proxy container that serves the idle slot. */
export const IDLE_LISTEN = 8081;
/** Caddy's admin API; bound to loopback inside the container, never published. */
export const ADMIN_ADDRESS = "localhost:2019";

export interface CaddyRoutes {
    /** host:port of the live slot's api. */
    readonly live: string;
    /** host:port of the idle slot's api. */
    readonly idle: string;
    /** Health path the proxy probes on each upstream. */
    readonly healthPath: string;
    /** Port the live slot is served on. Defaults to LIVE_LISTEN. */
    readonly liveListen?: number;
    /** Port the idle slot is served on. Defaults to IDLE_LISTEN. */
    readonly idleListen?: number;
    /** Caddy admin address. Defaults to ADMIN_ADDRESS. */
    readonly admin?: string;
}

const UPSTREAM = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const PATH = /^\/[A-Za-z0-9._~/-]*$/;

function site(listen: number, upstream: string, healthPath: string): string[] {
    return [
        `:${listen} {`,
        `\treverse_proxy ${upstream} {`,
        `\t\thealth_uri ${healthPath}`,
        "\t\thealth_interval 2s",
        "\t\thealth_timeout 2s",
        // While an upstream is briefly unavailable, hold and retry the request instead of failing it.
        "\t\tlb_try_duration 10s",
        "\t\tlb_try_interval 250ms",
        "\t}",
        "}",
    ];
}

/** The whole Caddyfile; a pure function of the routes, so the same routes give byte-identical text. */
export function renderCaddyfile(r: CaddyRoutes): string {
    for (const [k, v] of [["live", r.live], ["idle", r.idle]] as const) {
        if (!UPSTREAM.test(v)) throw new Error(`caddy ${k} upstream must be host:port, got ${JSON.stringify(v)}`);
    }
    if (!PATH.test(r.healthPath)) throw new Error(`caddy health path must be an absolute URL path, got ${JSON.stringify(r.healthPath)}`);
    return [
        "{",
        `\tadmin ${r.admin ?? ADMIN_ADDRESS}`,
        "\tauto_https off",
        // On reload, connections on the old config get this long to finish.
        "\tgrace_period 30s",
        "}",
        "",
        ...site(r.liveListen ?? LIVE_LISTEN, r.live, r.healthPath),
        "",
        ...site(r.idleListen ?? IDLE_LISTEN, r.idle, r.healthPath),
        "",
    ].join("\n");
}

/** Loads a Caddyfile from stdin into the running Caddy through its admin API: graceful, no restart. */
export const CADDY_RELOAD: readonly string[] = ["caddy", "reload", "--config", "/dev/stdin", "--adapter", "caddyfile"];

/** Runs Caddy with a config file; the proxy container's command. */
export function caddyRun(configPath: string): string[] {
    return ["caddy", "run", "--config", configPath, "--adapter", "caddyfile"];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The host-side script that switches routes: refuse unless the new live upstream answers its health
 * check from inside the proxy's network, then reload Caddy with the Caddyfile on stdin.
 */
export function routeScript(proxyContainer: string, liveUrl: string): string {
    if (!NAME.test(proxyContainer)) throw new Error(`proxy container name must match ${NAME}, got ${JSON.stringify(proxyContainer)}`);
    if (!/^http:\/\/[A-Za-z0-9.-]+:\d{1,5}\/[A-Za-z0-9._~/-]*$/.test(liveUrl)) throw new Error(`live health URL must be http://host:port/path, got ${JSON.stringify(liveUrl)}`);
    return [
        "set -euo pipefail",
        // A slot that just turned healthy in Docker may need a moment on the proxy's network.
        "for attempt in $(seq 1 15); do",
        `  if docker exec ${proxyContainer} wget -q -T 5 -O /dev/null ${liveUrl}; then break; fi`,
        "  if [ \"$attempt\" -eq 15 ]; then",
        `    echo "refusing to switch live traffic: health check ${liveUrl} failed; routes unchanged" >&2`,
        "    exit 1",
        "  fi",
        "  sleep 2",
        "done",
        `docker exec -i ${proxyContainer} ${CADDY_RELOAD.join(" ")}`,
        `echo "live traffic now served by ${liveUrl.replace(/^http:\/\/([^/]+)\/.*$/, "$1")}"`,
        "",
    ].join("\n");
}
