// A swap's switch, run by the script itself on each host: the health-gated route command the
// program's routes resource runs (infra/shell/route.sh, through infra/service/route.ts routeScript), for the slot
// that is to go live. On the local engine it runs beside the engine (with gpu-hosts:local.dockerHost,
// as the program's local commands do); on every other host over SSH, through the host's `ssh` output
// and the options the scripts share (status/probe.ts sshArgv: the stack's key file and known_hosts,
// which the program writes). A swap then records the switch with an update of the routes alone, whose
// routes command finds the slot routed already and only checks it.
import type { HostKind } from "../../infra/vocabulary";
import { Color, LOCAL } from "../../infra/vocabulary";
import { CONTAINERS, appStackName, proxyName, slotApiAlias } from "../../infra/contract/names";
import { RouteTiming, routeScript } from "../../infra/service/route";
import { runWithInput, sshArgv } from "./status/probe";

/** A host as a swap reaches it, from the stack outputs. */
export interface RouteHost {
    readonly name: string;
    /** "local" runs beside the engine; every other kind over SSH. */
    readonly kind: HostKind;
    /** The host's `ssh` output (every kind but local). */
    readonly ssh?: string;
}

/** What the route command takes from the stack's config. */
export interface RouteSettings {
    /** The api's port in its container (gpu-hosts:app.port). */
    readonly port: number;
    /** The api's health path (gpu-hosts:app.healthPath). */
    readonly healthPath: string;
    /** DOCKER_HOST for the local engine; "" for the docker CLI's own (gpu-hosts:local.dockerHost). */
    readonly dockerHost: string;
}

/** A route command's end: its last line of output, or why it failed. */
export type RouteResult = { readonly ok: true; readonly summary: string } | { readonly ok: false; readonly reason: string };

/** Runs the route command that makes `color` live on one host. */
export type RouteRunner = (host: RouteHost, color: Color) => Promise<RouteResult>;

/**
 * How the swap's own route command waits. No settle: the swap has just had the slot's health answered
 * through the proxy's idle port, i.e. by Caddy's handlers for that upstream, which probe it every 2 s
 * as the live port's handlers do; and three probes, 2 s apart, at most, since it already knows the
 * slot answers. The program's routes command keeps its settle for a slot that has just started.
 */
export const SWAP_ROUTE_TIMING: RouteTiming = { settleSeconds: 0, attempts: 3 };

/** Bound on one host's route command, connection included, in ms. */
export const ROUTE_TIMEOUT_MS = 60_000;

/** The route command that makes `color` live on host `host`, as a swap runs it. */
export function swapRouteScript(host: string, color: Color, s: Pick<RouteSettings, "port" | "healthPath">): string {
    const proxy = CONTAINERS.proxy(proxyName(appStackName(host)));
    return routeScript(proxy, color, `http://${slotApiAlias(color)}:${s.port}${s.healthPath}`, SWAP_ROUTE_TIMING);
}

const lastLine = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop() ?? "";

/** The real runner: bash beside the local engine, or bash over the host's ssh command line; the script on stdin. */
export function hostRoutes(s: RouteSettings, timeoutMs = ROUTE_TIMEOUT_MS): RouteRunner {
    return async (host, color) => {
        const local = host.kind === LOCAL;
        if (!local && !host.ssh) return { ok: false, reason: "the outputs give no ssh command for this host" };
        const argv = local ? ["bash", "-s"] : sshArgv(host.ssh!, ["bash", "-s"]);
        const env = local && s.dockerHost ? { ...process.env, DOCKER_HOST: s.dockerHost } : process.env;
        const r = await runWithInput(argv, swapRouteScript(host.name, color, s), timeoutMs, env);
        if (r.timedOut) return { ok: false, reason: `no answer within ${Math.round(timeoutMs / 1000)} s${local ? "" : " over SSH"}` };
        if (r.code !== 0) return { ok: false, reason: lastLine(r.stderr) || lastLine(r.stdout) || `exit code ${r.code}` };
        return { ok: true, summary: lastLine(r.stdout) };
    };
}
