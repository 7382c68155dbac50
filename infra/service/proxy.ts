// The only published container: Caddy serves the live slot on the API port and the idle slot on a
// second port. Its Caddyfile is static; which slot is live is a marker file that a host command
// flips (see caddy.ts), so a swap replaces no container and neither restarts nor reloads the proxy.
//
// With auth on, Caddy asks a small key service (auth/server.js, built here from this repository) on
// the private network about every request but the public paths. The service reads the key file
// (sha256 digests) from its volume per request, so rotating keys rewrites that file and reloads
// nothing. With TLS "internal", Caddy serves a certificate from the stack's CA (pki.ts), kept in the
// state and uploaded into the container; with "acme", its certificates live on a volume at /data.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { Color } from "../vocabulary";
import { CONTAINERS, PROXY_TYPE, routesName } from "../contract/names";
import { GpuHost } from "../hosts/gpuHost";
import { AUTH_PORT, KEYS_DIR, renderKeysFile, writeKeysScript } from "./apiKeys";
import { CaddyTls, IDLE_LISTEN, LIVE_LISTEN, caddyRun, defaultPublicPaths, renderCaddyfile } from "./caddy";
import { ROUTES_DIR, routeScript } from "./route";
import { healthcheck, service } from "./containerDefaults";
import { contextDigest } from "./release";
import { hostImage } from "./hostImage";
import type { BaseImagePuller } from "./baseImages";
import { CertificateAuthority, ServerCertificate } from "./pki";

/** API keys checked by the proxy. */
export interface ProxyAuth {
    /** Ask every request but the public paths for `Authorization: Bearer <key>`. Defaults to false. */
    readonly enabled: boolean;
    /** Valid keys; a secret. Only sha256 digests of them reach the host, on a command's stdin. Defaults to none. */
    readonly keys: pulumi.Output<string[]>;
    /** Paths served without a key. Defaults to the health path, /docs and /docs/*. */
    readonly publicPaths?: readonly string[];
    /** Build context of the key service, relative to the project root. Defaults to "auth". */
    readonly context?: string;
}

/**
 * How the live and idle ports are served:
 * - off: plain HTTP (the local stack, bound to 127.0.0.1);
 * - internal: HTTPS with a certificate for `hostname` (the host's address) signed by `ca`, the
 *   stack's CA, whose certificate is exported as `caRootCert` for clients to pin;
 * - acme: HTTPS with a publicly trusted certificate for `domain` (HTTP-01: host port 80 published,
 *   and the firewall must open 80/tcp to 0.0.0.0/0 and ::/0).
 */
export type ProxyTls =
    | { readonly mode: "off" }
    | { readonly mode: "internal"; readonly hostname: pulumi.Input<string>; readonly ca: CertificateAuthority }
    | { readonly mode: "acme"; readonly domain: pulumi.Input<string>; readonly email?: string };

export interface ProxyArgs {
    /** Host to run on. */
    readonly host: GpuHost;
    /** Pinned Caddy image. */
    readonly image: string;
    /** Private network the slots are on. */
    readonly network: docker.Network;
    /** Volume holding the live-slot marker, so a restarted or replaced proxy keeps serving the same slot. */
    readonly routesVolume: docker.Volume;
    /** Host port serving the live slot. */
    readonly apiPort: number;
    /** Host port serving the idle slot. */
    readonly idlePort: number;
    /** Memory limit, MiB. */
    readonly memoryMb: number;
    /** Which slot is live. */
    readonly liveColor: Color;
    /** host:port of each slot's api on the private network. */
    readonly upstreams: { readonly blue: string; readonly green: string };
    /** Health path of the api. */
    readonly healthPath: string;
    /** Resources that must exist before routes are loaded (the slots' api containers). */
    readonly routesDependOn: pulumi.Resource[];
    /** API key check. Defaults to { enabled: false } (no key asked). */
    readonly auth?: ProxyAuth;
    /** TLS on the live and idle ports. Defaults to { mode: "off" }. */
    readonly tls?: ProxyTls;
    /** Pulls the key service build's Docker Hub base images first, with the host's login. Defaults to none: the build pulls them. */
    readonly pullBase?: BaseImagePuller;
}

const CADDYFILE_PATH = "/etc/caddy/Caddyfile";
/** The caddy image's XDG_DATA_HOME: ACME certificates and account keys. */
const CADDY_DATA = "/data";
/** The host's certificate (tls mode "internal") inside the proxy container, uploaded from the state. */
export const TLS_CERT_PATH = "/etc/caddy/server.crt";
/** Its private key, beside it, readable by root only (Caddy runs as root in the official image). */
export const TLS_KEY_PATH = "/etc/caddy/server.key";
/** Where the ACME HTTP-01 challenge is answered: the CA connects to port 80 of the domain. */
export const ACME_HTTP_PORT = 80;
/** Key service memory limit, MiB: one small Node process. */
const AUTH_MEMORY_MB = 96;
/** Seconds a replaced key service has to answer its checks in flight after SIGTERM (auth/server.js drains within 10 s). */
const AUTH_STOP_GRACE_S = 15;

export class Proxy extends pulumi.ComponentResource {
    /** The Caddy container. */
    public readonly container: docker.Container;
    /** The command that makes `liveColor` the live slot. */
    public readonly routes: pulumi.CustomResource;
    /** The proxy's Caddyfile (resolved once the TLS hostname is known). */
    public readonly caddyfile: pulumi.Output<string>;
    /** "https" when TLS is on, else "http". */
    public readonly scheme: "http" | "https";
    /** Host name clients should use in URLs: the ACME domain, else the host's address. */
    public readonly publicHost: pulumi.Output<string>;
    /** PEM of the stack's CA, for clients to pin (tls mode "internal"); undefined otherwise. Not secret. */
    public readonly caRootCert: pulumi.Output<string | undefined>;
    /** The key service container, when auth is on. */
    public readonly auth?: docker.Container;
    /** The command that installs the key file, when auth is on. */
    public readonly keys?: pulumi.CustomResource;
    /** The key service's image reference (content-tagged), when auth is on; for clean-up advice. */
    public readonly authImageName?: string;

    constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super(PROXY_TYPE, name, {}, opts);
        const tls: ProxyTls = args.tls ?? { mode: "off" };
        const auth = args.auth?.enabled ? args.auth : undefined;
        // Lives on the host: replaced with its machine, deleted with it.
        const child = { parent: this, provider: args.host.provider, ...args.host.onHost };
        const named = { ...child, deleteBeforeReplace: true };
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, child);

        let keysInstalled: pulumi.Resource[] = [];
        const authAlias = "auth";
        if (auth) {
            const context = auth.context ?? "auth";
            // Tagged by content: a changed server.js builds a new image and replaces the container.
            const authImage = hostImage(this, args.host, {
                repository: `${name}-auth`, tag: contextDigest(context).slice(0, 20), context, dockerfile: `${context}/Dockerfile`,
                pullBase: args.pullBase,
            });
            this.authImageName = authImage.imageName;
            const keysVolume = new docker.Volume(`${name}-auth-keys`, { name: `${name}-auth-keys` }, named);
            // Replaced without a gap: every check reaches the service through the network alias, which
            // Docker's DNS resolves per connection to every running container that holds it. So the
            // new container is created (and healthy) before the old one is deleted: no fixed name
            // (the provider's autonaming, "<resource name>-<7 hex>"), and deleteBeforeReplace false,
            // which overrides the Docker provider's own delete-first for containers (pulumi-docker
            // provider/resources.go: docker_container DeleteBeforeReplace; the engine takes the
            // resource option over the provider's choice, pulumi/pulumi pkg/resource/deploy/
            // step_generator.go). The old one is then stopped with SIGTERM (destroyGraceSeconds):
            // it closes its listener at once, so a check that still resolves its address is refused
            // and Go's dialer, in Caddy, tries the alias's next address; its checks in flight are
            // answered before it exits (auth/server.js drain).
            this.auth = new docker.Container(CONTAINERS.auth(name), {
                image: authImage.imageId,
                volumes: [{ volumeName: keysVolume.name, containerPath: KEYS_DIR }],
                // Never published: only Caddy, on the private network, asks it.
                networksAdvanced: [{ name: args.network.name, aliases: [authAlias] }],
                init: true,
                healthcheck: healthcheck(["node", "/srv/server.js", "healthcheck"], "5s"),
                destroyGraceSeconds: AUTH_STOP_GRACE_S,
                ...service({ memoryMb: AUTH_MEMORY_MB, waitTimeoutSeconds: 60 }),
            }, { ...child, deleteBeforeReplace: false });
            // Only digests, and only on stdin: no key in argv, state triggers in plain text, or logs.
            const keysFile = pulumi.secret(auth.keys.apply((keys) => renderKeysFile(keys)));
            this.keys = args.host.run(`${name}-api-keys`, {
                create: this.auth.name.apply(writeKeysScript),
                stdin: keysFile,
                // A new key set, or a new container (and maybe a fresh volume), rewrites the file.
                triggers: [this.auth.id, keysFile],
            }, { parent: this, dependsOn: [this.auth] });
            keysInstalled = [this.keys];
            authImage.prune([this.auth]);
        }

        const dataVolume = tls.mode !== "acme"
            ? undefined
            // ACME certificates persist across proxy restarts and replacements: no re-issue (and no
            // CA rate limits) for a new container.
            : new docker.Volume(`${name}-data`, { name: `${name}-data` }, named);
        // Kept in the state, not on the host: a new machine at the same address gets the same one.
        const cert = tls.mode === "internal" ? new ServerCertificate(`${name}-tls`, { ca: tls.ca, address: tls.hostname }, { parent: this }) : undefined;

        const hostname: pulumi.Output<string> = tls.mode === "internal" ? pulumi.output(tls.hostname) : pulumi.output(tls.mode === "acme" ? tls.domain : "");
        this.caddyfile = hostname.apply((h) => {
            const caddyTls: CaddyTls = tls.mode === "internal" ? { mode: "internal", hostname: h, certFile: TLS_CERT_PATH, keyFile: TLS_KEY_PATH }
                : tls.mode === "acme" ? { ...tls, domain: h } : tls;
            return renderCaddyfile({
                upstreams: args.upstreams,
                healthPath: args.healthPath,
                tls: caddyTls,
                auth: auth ? { upstream: `${authAlias}:${AUTH_PORT}`, publicPaths: auth.publicPaths ?? defaultPublicPaths(args.healthPath) } : undefined,
            });
        });
        this.scheme = tls.mode === "off" ? "http" : "https";
        this.publicHost = tls.mode === "acme" ? pulumi.output(tls.domain) : args.host.address;

        const port = (internal: number, external: number) => ({ internal, external, ip: args.host.bindAddress, protocol: "tcp" });
        this.container = new docker.Container(CONTAINERS.proxy(name), {
            name: CONTAINERS.proxy(name),
            image: image.imageId,
            command: caddyRun(CADDYFILE_PATH),
            uploads: [
                { file: CADDYFILE_PATH, content: this.caddyfile },
                // Uploaded through the Docker API when the container is created: never in argv or a
                // log, and secret in the state. A renewed certificate replaces the container.
                ...(cert ? [
                    { file: TLS_CERT_PATH, content: cert.certPem, permissions: "0644" },
                    { file: TLS_KEY_PATH, content: cert.privateKeyPem, permissions: "0600" },
                ] : []),
            ],
            ports: [
                port(LIVE_LISTEN, args.apiPort),
                port(IDLE_LISTEN, args.idlePort),
                // Caddy answers the ACME HTTP-01 challenge on port 80 (plain HTTP, challenges only: no
                // redirect, see caddy.ts); renewals need it too, so it stays published.
                ...(tls.mode === "acme" ? [port(ACME_HTTP_PORT, ACME_HTTP_PORT)] : []),
            ],
            networksAdvanced: [{ name: args.network.name }],
            volumes: [
                { volumeName: args.routesVolume.name, containerPath: ROUTES_DIR },
                ...(dataVolume ? [{ volumeName: dataVolume.name, containerPath: CADDY_DATA }] : []),
            ],
            healthcheck: {
                tests: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:2019/config/"],
                interval: "10s", timeout: "5s", retries: 3, startPeriod: "5s",
            },
            ...service({ memoryMb: args.memoryMb, waitTimeoutSeconds: 60 }),
        }, named);

        // The stack's CA, the same for every host and every machine a host is replaced by.
        this.caRootCert = tls.mode === "internal" ? tls.ca.certPem : pulumi.output(undefined);

        const liveHealth = `http://${args.upstreams[args.liveColor]}${args.healthPath}`;
        this.routes = args.host.run(routesName(name), {
            create: routeScript(CONTAINERS.proxy(name), args.liveColor, liveHealth),
            // The marker outlives the container, but a new container (or a fresh volume) is re-checked.
            triggers: [this.container.id],
            // Keys are in place before the first slot is routed.
        }, { dependsOn: [this.container, ...keysInstalled, ...args.routesDependOn], parent: this });

        this.registerOutputs({ caddyfile: this.caddyfile, scheme: this.scheme, publicHost: this.publicHost, caRootCert: this.caRootCert });
    }
}
