// Caddy routing, as pure functions: one static Caddyfile that serves both slots, the live one picked
// per request from a marker file that the route command flips (./route.ts).
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
//
// Errors Caddy raises itself (no healthy slot, a slot refusing connections, the key service down)
// are answered at once as JSON naming the cause; a slot's own answers, its JSON errors included,
// pass through unchanged. With auth, every request but the public paths is first checked by the key
// service (auth/server.js) through forward_auth; the key set lives in that service's file, not in
// this one, so rotating keys changes nothing here. With TLS, both ports serve HTTPS only.
import { ADDRESS_ALLOWED, DOMAIN, EMAIL, URL_PATH, isAddress, matches } from "../validators";
import { COLORS, Color, otherColor } from "../vocabulary";
import { GREEN_MARKER, ROUTED_MARKER, ROUTES_DIR } from "./route";

/** Port inside the proxy container that serves the live slot. */
export const LIVE_LISTEN = 8080;
/** Port inside the proxy container that serves the idle slot. */
export const IDLE_LISTEN = 8081;
/** Caddy's admin API; bound to loopback inside the container, never published. */
export const ADMIN_ADDRESS = "localhost:2019";

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
    /** How the ports are served. Defaults to { mode: "off" } (plain HTTP). */
    readonly tls?: CaddyTls;
    /** API key check in front of both ports. Defaults to none (no key asked). */
    readonly auth?: CaddyAuth;
}

/**
 * - off: plain HTTP (the local stack, bound to 127.0.0.1);
 * - internal: the certificate and key in `certFile` and `keyFile`, issued for `hostname` (the host's
 *   address) by the stack's CA (infra/service/pki.ts); clients pin that CA. Caddy issues nothing.
 * - acme: a publicly trusted certificate for `domain` over HTTP-01, which needs port 80 open to the world.
 */
export type CaddyTls =
    | { readonly mode: "off" }
    | { readonly mode: "internal"; readonly hostname: string; readonly certFile: string; readonly keyFile: string }
    | { readonly mode: "acme"; readonly domain: string; readonly email?: string };

export interface CaddyAuth {
    /** host:port of the key service on the proxy's network. */
    readonly upstream: string;
    /** Paths served without a key (Caddy path matcher syntax; a trailing * is a prefix). */
    readonly publicPaths: readonly string[];
    /**
     * Whether each key check dials a connection of its own (keep-alive off) instead of reusing pooled
     * ones: the workaround for Caddy before 2.11.5 (GHSA-6365-7ppr-5r92, see site()). The benchmarks
     * set it to measure the pinned release with and without. Defaults to false (pooled).
     */
    readonly unpooled?: boolean;
}

/** The key service's check endpoint (forward_auth's uri). */
export const AUTH_CHECK_PATH = "/check";
/** Set by the key service on success: a non-secret id of the key (sha256 prefix), for per-key limits in the app. */
export const KEY_ID_HEADER = "X-Api-Key-Id";

/**
 * Paths open without a key:
 * - the health path, for load balancers and uptime checks; the app's /health holds states (ok,
 *   degraded, queue depth, release and slot names) but no secret, key, address or job data;
 * - /docs and /docs/*: the OpenAPI UI and JSON describe the API every client already uses, cost no
 *   GPU time and read no job, and a browser opening the UI cannot send a bearer header, so behind a
 *   key the docs could not be read at all (the UI's "Authorize" then sends the key for its calls).
 *   An operator app with sensitive docs passes its own list (ProxyAuth.publicPaths).
 */
export function defaultPublicPaths(healthPath: string): string[] {
    return [healthPath, "/docs", "/docs/*"];
}

// The Caddyfile's own forms; every value the config also checks uses infra/validators.ts.
const UPSTREAM = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const PUBLIC_PATH = /^\/[A-Za-z0-9._~/-]*\*?$/;
/** One Caddyfile token as is: nothing its lexer reads as quoting, a block, a placeholder or an escape. */
const CADDY_TOKEN = /^[^\s"`{}\\]+$/;

function fileMatcher(name: string, negate: boolean, dir: string, file: string): string[] {
    return [`@${name} ${negate ? "not " : ""}file {`, `\troot ${dir}`, `\ttry_files /${file}`, "}"];
}

/** Where to send a slot's traffic; health settings shared by both ports' handlers. */
function proxyTo(upstream: string, healthPath: string, matcher?: string): string[] {
    return [
        `handle${matcher ? ` @${matcher}` : ""} {`,
        `\treverse_proxy ${upstream} {`,
        // Caddy's default health_status is 2xx: the app's /health answers 503 while it cannot accept
        // or read jobs, which marks the slot down within one interval.
        `\t\thealth_uri ${healthPath}`,
        "\t\thealth_interval 2s",
        "\t\thealth_timeout 2s",
        // No lb_try_duration: with a slot marked down (or refusing connections) the request fails at
        // once into handle_errors' JSON answer instead of being held. It used to hold requests 10 s to
        // ride out a restarting upstream, but a swap never restarts one (it flips a marker between
        // two running, health-gated slots: ./route.ts), so nothing is lost by failing fast.
        "\t}",
        "}",
    ];
}

/** JSON error body as a Caddyfile backtick token; callers pass fixed text (no backtick or quote). */
function jsonBody(error: string, message: string): string {
    return `\`${JSON.stringify({ error, message })}\``;
}

function indent(lines: string[], depth = 1): string[] {
    return lines.map((l) => `${"\t".repeat(depth)}${l}`);
}

/** The slot handles of one port: green while the marker exists, otherwise blue (as `serve` maps them). */
function slotHandles(serve: (live: Color) => Color, r: CaddyRoutes): string[] {
    return [...proxyTo(r.upstreams[serve("green")], r.healthPath, "green_live"), ...proxyTo(r.upstreams[serve("blue")], r.healthPath)];
}

/**
 * Errors raised by Caddy itself (never the upstream's own responses, which reverse_proxy passes
 * through untouched): answered at once as JSON naming the cause.
 */
function errorHandlers(port: "live" | "idle", serve: (live: Color) => Color, auth: boolean): string[] {
    const bySlot = (status: number, text: string, message: (c: Color) => string) => [
        "handle @green_live {",
        `\trespond ${jsonBody(text, message(serve("green")))} ${status}`,
        "}",
        "handle {",
        `\trespond ${jsonBody(text, message(serve("blue")))} ${status}`,
        "}",
    ];
    return [
        "handle_errors {",
        "\theader Content-Type application/json",
        ...(auth ? [
            // Set just before forward_auth: the key service itself failed, not the slot.
            "\t@auth_down vars proxy_stage auth",
            "\thandle @auth_down {",
            `\t\trespond ${jsonBody("Service Unavailable", "the API key check is unavailable, try again")} 503`,
            "\t}",
        ] : []),
        // 503: every upstream of the handler is marked down by the active health check.
        "\t@no_healthy_slot expression `{err.status_code} == 503`",
        "\thandle @no_healthy_slot {",
        ...indent(bySlot(503, "Service Unavailable", (c) => `no healthy ${c} slot behind the ${port} port`), 2),
        "\t}",
        // 502: the slot passed its last health check but refused or dropped this request.
        "\t@slot_unreachable expression `{err.status_code} == 502`",
        "\thandle @slot_unreachable {",
        ...indent(bySlot(502, "Bad Gateway", (c) => `the ${c} slot behind the ${port} port did not answer`), 2),
        "\t}",
        "\thandle {",
        "\t\trespond `{\"error\":\"{err.status_text}\",\"message\":\"the proxy could not complete the request\"}` {err.status_code}",
        "\t}",
        "}",
    ];
}

/** One listener: `serve(c)` is the slot it serves while `c` is live. */
function site(port: "live" | "idle", listen: number, dir: string, serve: (live: Color) => Color, r: CaddyRoutes): string[] {
    const tls = r.tls ?? { mode: "off" };
    const auth = r.auth;
    const body: string[] = [
        ...tlsDirective(tls),
        ...fileMatcher("unrouted", true, dir, ROUTED_MARKER),
        "handle @unrouted {",
        "\theader Content-Type application/json",
        `\trespond ${jsonBody("Service Unavailable", "no live slot selected yet")} 503`,
        "}",
        ...fileMatcher("green_live", false, dir, GREEN_MARKER),
        // Only the key service sets this (after checking the key): a client cannot claim an identity.
        `request_header -${KEY_ID_HEADER}`,
    ];
    if (auth) {
        body.push(
            `@public path ${auth.publicPaths.join(" ")}`,
            "handle @public {",
            // The slots never see a key, so they cannot log one.
            "\trequest_header -Authorization",
            ...indent(slotHandles(serve, r)),
            "}",
            "handle {",
            // route keeps this order (a plain handle would sort request_header after forward_auth).
            "\troute {",
            "\t\tvars proxy_stage auth",
            // A missing or wrong key: the key service's 401 (JSON, WWW-Authenticate) is copied to the
            // client as is. The key set is re-read by the service, so rotation reloads nothing here.
            `\t\tforward_auth ${auth.upstream} {`,
            `\t\t\turi ${AUTH_CHECK_PATH}`,
            `\t\t\tcopy_headers ${KEY_ID_HEADER}`,
            // Pooled. Before 2.11.5 reverse_proxy kept the dial address in a per-request variable
            // (caddyhttp.SetVar(dialInfoVarKey), modules/caddyhttp/reverseproxy/reverseproxy.go in
            // v2.11.4) that the slot's reverse_proxy overwrote, so a background dial of the check's
            // pool could connect to the slot and be reused for a later check (GHSA-6365-7ppr-5r92);
            // keep-alive off worked around it. From v2.11.5 the address is a context value of each
            // request (dialInfoCtxKey, hosts.go), and the pinned 2.11.6 has the same reverseproxy
            // package. `unpooled` renders the old workaround, for bench:rotate --unpooled-checks.
            ...(auth.unpooled ? ["\t\t\ttransport http {", "\t\t\t\tkeepalive off", "\t\t\t}"] : []),
            "\t\t}",
            "\t\trequest_header -Authorization",
            "\t\tvars proxy_stage slot",
            ...indent(slotHandles(serve, r), 2),
            "\t}",
            "}",
        );
    } else {
        body.push(...slotHandles(serve, r));
    }
    body.push(...errorHandlers(port, serve, auth !== undefined));
    return [`${siteAddress(tls, listen)} {`, ...indent(body), "}"];
}

function hostForUrl(host: string): string {
    return host.includes(":") ? `[${host}]` : host;
}

function siteAddress(tls: CaddyTls, listen: number): string {
    switch (tls.mode) {
        case "off":
            return `:${listen}`;
        case "internal":
            // The named address ties the loaded certificate to the host's address; the catch-all
            // drops the Host matcher, so a client that reaches the host by another name is still served.
            return `https://${hostForUrl(tls.hostname)}:${listen}, https://:${listen}`;
        case "acme":
            return `https://${tls.domain}:${listen}, https://:${listen}`;
        default: {
            const never: never = tls;
            throw new Error(`unknown tls mode ${JSON.stringify(never)}`);
        }
    }
}

function tlsDirective(tls: CaddyTls): string[] {
    switch (tls.mode) {
        case "off":
            return [];
        case "internal":
            // Loaded from files (the stack's CA signed it); with auto_https off (globalOptions) Caddy
            // manages no certificate and makes no CA of its own.
            return [`tls ${tls.certFile} ${tls.keyFile}`];
        case "acme":
            return [
                "tls {",
                "\tissuer acme {",
                ...(tls.email ? [`\t\temail ${tls.email}`] : []),
                // HTTP-01 on port 80 only: TLS-ALPN-01 needs the CA to reach port 443, which the
                // proxy does not serve (the live port is apiPort).
                "\t\tdisable_tlsalpn_challenge",
                "\t}",
                "}",
            ];
        default: {
            const never: never = tls;
            throw new Error(`unknown tls mode ${JSON.stringify(never)}`);
        }
    }
}

function globalOptions(r: CaddyRoutes): string[] {
    const tls = r.tls ?? { mode: "off" };
    const lines = [`admin ${r.admin ?? ADMIN_ADDRESS}`];
    if (tls.mode === "off") {
        lines.push("auto_https off");
    } else {
        // Plain HTTP on an HTTPS port is refused, not redirected: Go answers it with
        // "400 Client sent an HTTP request to an HTTPS server." A redirect could only come from another
        // port, and it would hide a client that sends its key in clear text.
        //
        // With certificates loaded from files (internal), automatic HTTPS is off altogether: with
        // disable_redirects, Caddy 2.6.2 still puts the site's IP in an automation policy with its
        // internal issuer (`caddy adapt` shows tls.certificates.automate), so it creates a CA of its own
        // under its data dir and, at start, tries to install that root in the system trust store
        // through sudo, which holds up the handshakes (measured: "tlsv1 alert internal error" until it
        // gives up). Off still serves the sites' `tls` files on their https:// addresses.
        lines.push(tls.mode === "internal" ? "auto_https off" : "auto_https disable_redirects");
        // Clients reach the host by IP without SNI, and inside the container the local address is the
        // bridge IP, not the public one: serve the host's certificate to them.
        lines.push(`default_sni ${tls.mode === "internal" ? tls.hostname : tls.domain}`);
        // Only TCP is published: no HTTP/3 advertisement that clients would try over UDP.
        lines.push("servers {", "\tprotocols h1 h2", "}");
    }
    return ["{", ...indent(lines), "}"];
}

/** The whole Caddyfile; it depends on neither the live color nor the releases nor the keys, so swaps and rotations never change it. */
export function renderCaddyfile(r: CaddyRoutes): string {
    for (const c of COLORS) {
        if (!UPSTREAM.test(r.upstreams[c])) throw new Error(`caddy ${c} upstream must be host:port, got ${JSON.stringify(r.upstreams[c])}`);
    }
    if (!matches(URL_PATH, r.healthPath)) throw new Error(`caddy health path must be ${URL_PATH.allowed}, got ${JSON.stringify(r.healthPath)}`);
    const dir = r.routesDir ?? ROUTES_DIR;
    if (!URL_PATH.re.test(dir)) throw new Error(`caddy routes dir must be an absolute path, got ${JSON.stringify(dir)}`);
    validateTls(r.tls ?? { mode: "off" });
    if (r.auth) {
        if (!UPSTREAM.test(r.auth.upstream)) throw new Error(`caddy auth upstream must be host:port, got ${JSON.stringify(r.auth.upstream)}`);
        if (r.auth.publicPaths.length === 0) throw new Error("caddy auth public paths must name at least one path (the health path)");
        for (const p of r.auth.publicPaths) {
            if (!PUBLIC_PATH.test(p)) throw new Error(`caddy auth public path must be an absolute URL path, optionally ending in *, got ${JSON.stringify(p)}`);
        }
    }
    return [
        ...globalOptions(r),
        "",
        ...site("live", r.liveListen ?? LIVE_LISTEN, dir, (live) => live, r),
        "",
        ...site("idle", r.idleListen ?? IDLE_LISTEN, dir, otherColor, r),
        "",
    ].join("\n");
}

function validateTls(tls: CaddyTls): void {
    switch (tls.mode) {
        case "off":
            return;
        case "internal":
            // The host's address as the config accepts it (an ssh host's may be a single label, or mixed case).
            if (!isAddress(tls.hostname)) throw new Error(`caddy tls hostname must be ${ADDRESS_ALLOWED}, got ${JSON.stringify(tls.hostname)}`);
            for (const [name, file] of [["certificate", tls.certFile], ["key", tls.keyFile]]) {
                if (!(URL_PATH.re.test(file) && CADDY_TOKEN.test(file))) throw new Error(`caddy tls ${name} file must be an absolute path without spaces, quotes or braces, got ${JSON.stringify(file)}`);
            }
            return;
        case "acme":
            if (!matches(DOMAIN, tls.domain)) throw new Error(`caddy tls domain must be ${DOMAIN.allowed}, got ${JSON.stringify(tls.domain)}`);
            if (tls.email !== undefined && !(matches(EMAIL, tls.email) && CADDY_TOKEN.test(tls.email))) {
                throw new Error(`caddy tls email must be ${EMAIL.allowed} without quotes, braces or backslashes (one Caddyfile token), got ${JSON.stringify(tls.email)}`);
            }
            return;
        default: {
            const never: never = tls;
            throw new Error(`unknown tls mode ${JSON.stringify(never)}`);
        }
    }
}

/** Runs Caddy with a config file; the proxy container's command. */
export function caddyRun(configPath: string): string[] {
    return ["caddy", "run", "--config", configPath, "--adapter", "caddyfile"];
}
