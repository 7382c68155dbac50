// The live slot's route on a host: a marker file on the proxy's routes volume that the Caddyfile reads
// per request (./caddy.ts: `live-green` there means green is live, otherwise blue; until `routed`
// exists no slot has passed the health gate and both ports answer 503), and the host command that
// flips it, health-gated (infra/shell/route.sh). The program's routes command and a swap's
// (scripts/lib/routes.ts) run the same script.
import { DOCKER_NAME, URL_PATH, matches } from "../validators";
import { Color } from "../vocabulary";
import { renderShell } from "../shell/render";

/** Directory inside the proxy container holding the live-slot marker (a volume, so it survives restarts). */
export const ROUTES_DIR = "/routes";
/** Exists while green is live; absent, blue is. */
export const GREEN_MARKER = "live-green";
/** Created by the first switch and never removed: until then no slot has passed the health gate. */
export const ROUTED_MARKER = "routed";

/**
 * POSIX sh that makes `live` the live slot: create or remove the green marker (one syscall, atomic),
 * then mark the proxy routed. Idempotent; fails unless the markers end as intended. Contains no
 * single quote, so it can be passed as one `sh -c '...'` argument.
 */
export function switchScript(live: Color, dir: string = ROUTES_DIR): string {
    if (!URL_PATH.re.test(dir)) throw new Error(`routes dir must be an absolute path, got ${JSON.stringify(dir)}`);
    const [set, check] = live === "green" ? [`touch ${GREEN_MARKER}`, `[ -e ${GREEN_MARKER} ]`] : [`rm -f ${GREEN_MARKER}`, `[ ! -e ${GREEN_MARKER} ]`];
    return ["set -eu", `mkdir -p ${dir}`, `cd ${dir}`, set, `touch ${ROUTED_MARKER}`, `${check} && [ -e ${ROUTED_MARKER} ]`].join("; ");
}

/**
 * POSIX sh that is true while `live` is already the routed slot: the proxy was routed once, and the
 * green marker is there for green, absent for blue. Contains no single quote.
 */
export function routedCheck(live: Color, dir: string = ROUTES_DIR): string {
    if (!URL_PATH.re.test(dir)) throw new Error(`routes dir must be an absolute path, got ${JSON.stringify(dir)}`);
    return `[ -e ${dir}/${ROUTED_MARKER} ] && [ ${live === "green" ? "" : "! "}-e ${dir}/${GREEN_MARKER} ]`;
}

/** Seconds a slot must stay healthy before a switch: one health_interval plus one health_timeout. */
export const HEALTH_SETTLE_S = 4;

/** How the route command waits: see infra/shell/route.sh. */
export interface RouteTiming {
    /** Seconds the new live slot must stay healthy before the switch; 0 for none. Defaults to HEALTH_SETTLE_S. */
    readonly settleSeconds?: number;
    /** Health probes, 2 s apart, before the command gives up. Defaults to 15. */
    readonly attempts?: number;
}

/**
 * The host-side script (infra/shell/route.sh) that makes `live` the live slot behind the proxy
 * container: unless it already is, refuse unless the new live upstream answers its health check from
 * inside the proxy's network (and keeps answering for `settleSeconds`), then flip the marker inside
 * the proxy container. The program's routes command runs it with the defaults; a swap, which has
 * just checked the slot through the proxy's own idle port, runs it without the settle
 * (scripts/lib/routes.ts).
 */
export function routeScript(proxyContainer: string, live: Color, liveHealthUrl: string, timing: RouteTiming = {}): string {
    if (!matches(DOCKER_NAME, proxyContainer)) throw new Error(`proxy container name must be ${DOCKER_NAME.allowed}, got ${JSON.stringify(proxyContainer)}`);
    const m = /^http:\/\/([A-Za-z0-9.-]+:\d{1,5})\/[A-Za-z0-9._~/-]*$/.exec(liveHealthUrl);
    if (!m) throw new Error(`live health URL must be http://host:port/path, got ${JSON.stringify(liveHealthUrl)}`);
    const settle = timing.settleSeconds ?? HEALTH_SETTLE_S;
    const attempts = timing.attempts ?? 15;
    if (!Number.isInteger(settle) || settle < 0 || settle > 60) throw new Error(`route settle must be 0-60 seconds, got ${settle}`);
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) throw new Error(`route attempts must be 1-100, got ${attempts}`);
    return renderShell({
        file: "route.sh",
        header: {
            PROXY: proxyContainer, LIVE: live, HEALTH_URL: liveHealthUrl, UPSTREAM: m[1], SETTLE: settle, ATTEMPTS: attempts,
            ROUTED: routedCheck(live), SWITCH: switchScript(live),
        },
    });
}
