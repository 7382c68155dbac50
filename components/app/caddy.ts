// Caddy routing, as pure functions: one static Caddyfile that serves both slots, and the command that
// switches which slot is live.
//
// The switch never reloads Caddy. A reload opens new listeners and closes idle keep-alive
// connections, which resets the odd request that races the close (measured: ~1 in 5,000 during
// swaps). Instead each port picks its upstream per request with Caddy's `file` matcher on a routes
// directory: while `live-green` exists green is live, otherwise blue; until `routed` exists (the
// first health-gated switch) both ports answer 503. A swap is one create or one unlink of
// `live-green`, and every request decides with one stat of it, so no request can fall between two
// states. Listeners and connections are untouched; requests already sent to the old slot finish
// there.
//
// Caddy was chosen for its pinned official image and its Debian package (so the swap benchmark runs
// the real binary here), its per-request matchers, and its active upstream health checks.
import { COLORS, Color, otherColor } from "../config";

/** Port inside the proxy container that serves the live slot. */
export const LIVE_LISTEN = 8080;
/** Port inside the proxy container that serves the idle slot. */
export const IDLE_LISTEN = 8081;
/** Caddy's admin API; bound to loopback inside the container, never published. */
export const ADMIN_ADDRESS = "localhost:2019";
/** Directory inside the proxy container holding the live-slot marker (a volume, so it survives restarts). */
export const ROUTES_DIR = "/routes";

export interface CaddyRoutes {
    /** host:port of each slot's api. */
    readonly upstreams: { readonly blue: string; readonly green: string };
    /** Health path the proxy probes on each upstream. */
    readonly healthPath: string;
    /** Directory holding the marker. Defaults to ROUTES_DIR. */
    readonly routesDir?: string;
    /** Port the live slot is served on. Defaults to LIVE_LISTEN. */
    readonly liveListen?: number;
    /** Port the idle slot is served on. Defaults to IDLE_LISTEN. */
    readonly idleListen?: number;
    /** Caddy admin address. Defaults to ADMIN_ADDRESS. */
    readonly admin?: string;
}

const UPSTREAM = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const PATH = /^\/[A-Za-z0-9._~/-]*$/;

/** Exists while green is live; absent, blue is. */
export const GREEN_MARKER = "live-green";
/** Created by the first switch and never removed: until then no slot has passed the health gate. */
export const ROUTED_MARKER = "routed";

function fileMatcher(name: string, negate: boolean, dir: string, file: string): string[] {
    return [`\t@${name} ${negate ? "not " : ""}file {`, `\t\troot ${dir}`, `\t\ttry_files /${file}`, "\t}"];
}

function proxyTo(upstream: string, healthPath: string, matcher?: string): string[] {
    return [
        `\thandle${matcher ? ` @${matcher}` : ""} {`,
        `\t\treverse_proxy ${upstream} {`,
        `\t\t\thealth_uri ${healthPath}`,
        "\t\t\thealth_interval 2s",
        "\t\t\thealth_timeout 2s",
        // While an upstream is briefly unavailable, hold and retry the request instead of failing it.
        "\t\t\tlb_try_duration 10s",
        "\t\t\tlb_try_interval 250ms",
        "\t\t}",
        "\t}",
    ];
}

/** One listener: `serve(c)` is the slot it serves while `c` is live. */
function site(listen: number, dir: string, serve: (live: Color) => Color, r: CaddyRoutes): string[] {
    return [
        `:${listen} {`,
        ...fileMatcher("unrouted", true, dir, ROUTED_MARKER),
        "\thandle @unrouted {",
        "\t\trespond \"no live slot selected yet\" 503",
        "\t}",
        ...fileMatcher("green_live", false, dir, GREEN_MARKER),
        ...proxyTo(r.upstreams[serve("green")], r.healthPath, "green_live"),
        ...proxyTo(r.upstreams[serve("blue")], r.healthPath),
        "}",
    ];
}

/** The whole Caddyfile; it depends on neither the live color nor the releases, so swaps never change it. */
export function renderCaddyfile(r: CaddyRoutes): string {
    for (const c of COLORS) {
        if (!UPSTREAM.test(r.upstreams[c])) throw new Error(`caddy ${c} upstream must be host:port, got ${JSON.stringify(r.upstreams[c])}`);
    }
    if (!PATH.test(r.healthPath)) throw new Error(`caddy health path must be an absolute URL path, got ${JSON.stringify(r.healthPath)}`);
    const dir = r.routesDir ?? ROUTES_DIR;
    if (!PATH.test(dir)) throw new Error(`caddy routes dir must be an absolute path, got ${JSON.stringify(dir)}`);
    return [
        "{",
        `\tadmin ${r.admin ?? ADMIN_ADDRESS}`,
        "\tauto_https off",
        "}",
        "",
        ...site(r.liveListen ?? LIVE_LISTEN, dir, (live) => live, r),
        "",
        ...site(r.idleListen ?? IDLE_LISTEN, dir, otherColor, r),
        "",
    ].join("\n");
}

/** Runs Caddy with a config file; the proxy container's command. */
export function caddyRun(configPath: string): string[] {
    return ["caddy", "run", "--config", configPath, "--adapter", "caddyfile"];
}

/**
 * POSIX sh that makes `live` the live slot: create or remove the green marker (one syscall, atomic),
 * then mark the proxy routed. Idempotent; fails unless the markers end as intended. Contains no
 * single quote, so it can be passed as one `sh -c '...'` argument.
 */
export function switchScript(live: Color, dir: string = ROUTES_DIR): string {
    if (!PATH.test(dir)) throw new Error(`routes dir must be an absolute path, got ${JSON.stringify(dir)}`);
    const [set, check] = live === "green" ? [`touch ${GREEN_MARKER}`, `[ -e ${GREEN_MARKER} ]`] : [`rm -f ${GREEN_MARKER}`, `[ ! -e ${GREEN_MARKER} ]`];
    return ["set -eu", `mkdir -p ${dir}`, `cd ${dir}`, set, `touch ${ROUTED_MARKER}`, `${check} && [ -e ${ROUTED_MARKER} ]`].join("; ");
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The host-side script that switches routes: refuse unless the new live upstream answers its health
 * check from inside the proxy's network, then flip the marker inside the proxy container.
 */
export function routeScript(proxyContainer: string, live: Color, liveHealthUrl: string): string {
    if (!NAME.test(proxyContainer)) throw new Error(`proxy container name must match ${NAME}, got ${JSON.stringify(proxyContainer)}`);
    if (!/^http:\/\/[A-Za-z0-9.-]+:\d{1,5}\/[A-Za-z0-9._~/-]*$/.test(liveHealthUrl)) throw new Error(`live health URL must be http://host:port/path, got ${JSON.stringify(liveHealthUrl)}`);
    return [
        "set -euo pipefail",
        // A slot that just turned healthy in Docker may need a moment on the proxy's network.
        "for attempt in $(seq 1 15); do",
        `  if docker exec ${proxyContainer} wget -q -T 5 -O /dev/null ${liveHealthUrl}; then break; fi`,
        "  if [ \"$attempt\" -eq 15 ]; then",
        `    echo "refusing to switch live traffic to ${live}: health check ${liveHealthUrl} failed; routes unchanged" >&2`,
        "    exit 1",
        "  fi",
        "  sleep 2",
        "done",
        `docker exec ${proxyContainer} sh -c '${switchScript(live)}'`,
        `echo "live traffic now served by ${live} (${liveHealthUrl.replace(/^http:\/\/([^/]+)\/.*$/, "$1")})"`,
        "",
    ].join("\n");
}
