// The only published container: Caddy serves the live slot on the API port and the idle slot on a
// second port. Which slot is live is applied by a host command that reloads Caddy in place, so a
// swap replaces no container and never restarts the proxy.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { Color } from "../config";
import { GpuHost } from "../hosts/gpuHost";
import { IDLE_LISTEN, LIVE_LISTEN, caddyRun, renderCaddyfile, routeScript } from "./caddy";
import { logOpts } from "./containerDefaults";

export interface ProxyArgs {
    /** Host to run on. */
    readonly host: GpuHost;
    /** Pinned Caddy image. */
    readonly image: string;
    /** Private network the slots are on. */
    readonly network: docker.Network;
    /** Volume for Caddy's state, so a restarted proxy resumes the last routes. */
    readonly dataVolume: docker.Volume;
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
}

const BOOTSTRAP_PATH = "/etc/caddy/Caddyfile";

/** Served until the first routes are loaded: both ports answer 503 instead of guessing a slot. */
export const BOOTSTRAP_CADDYFILE = [
    "{",
    "\tadmin localhost:2019",
    "\tauto_https off",
    "}",
    "",
    `:${LIVE_LISTEN}, :${IDLE_LISTEN} {`,
    "\trespond \"routes not loaded yet\" 503",
    "}",
    "",
].join("\n");

export class Proxy extends pulumi.ComponentResource {
    /** The Caddy container. */
    public readonly container: docker.Container;
    /** The command that loads the current routes into Caddy. */
    public readonly routes: pulumi.CustomResource;
    /** The Caddyfile currently applied. */
    public readonly caddyfile: string;

    constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:app:Proxy", name, {}, opts);
        const provider = args.host.provider;
        const idleColor: Color = args.liveColor === "blue" ? "green" : "blue";
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this, provider });

        this.container = new docker.Container(name, {
            name,
            image: image.imageId,
            // --resume: after a restart Caddy serves the routes it last loaded, not the bootstrap file.
            command: [...caddyRun(BOOTSTRAP_PATH), "--resume"],
            uploads: [{ file: BOOTSTRAP_PATH, content: BOOTSTRAP_CADDYFILE }],
            ports: [
                { internal: LIVE_LISTEN, external: args.apiPort, ip: args.host.bindAddress, protocol: "tcp" },
                { internal: IDLE_LISTEN, external: args.idlePort, ip: args.host.bindAddress, protocol: "tcp" },
            ],
            networksAdvanced: [{ name: args.network.name }],
            volumes: [{ volumeName: args.dataVolume.name, containerPath: "/config" }],
            healthcheck: {
                tests: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:2019/config/"],
                interval: "10s", timeout: "5s", retries: 3, startPeriod: "5s",
            },
            memory: args.memoryMb,
            restart: "unless-stopped",
            logDriver: "json-file",
            logOpts,
            wait: true,
            waitTimeout: 60,
        }, { parent: this, provider, deleteBeforeReplace: true });

        this.caddyfile = renderCaddyfile({
            live: args.upstreams[args.liveColor],
            idle: args.upstreams[idleColor],
            healthPath: args.healthPath,
        });
        const liveHealth = `http://${args.upstreams[args.liveColor]}${args.healthPath}`;
        this.routes = args.host.run(`${name}-routes`, {
            create: routeScript(name, liveHealth),
            stdin: this.caddyfile,
            // A replaced proxy container starts from the bootstrap file: load the routes again.
            triggers: [this.container.id],
        }, { dependsOn: [this.container, ...args.routesDependOn], parent: this });

        this.registerOutputs({ caddyfile: this.caddyfile });
    }
}
