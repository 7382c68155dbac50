// The only published container: Caddy serves the live slot on the API port and the idle slot on a
// second port. Its Caddyfile is static; which slot is live is a marker file that a host command
// flips (see caddy.ts), so a swap replaces no container and neither restarts nor reloads the proxy.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { Color } from "../config";
import { GpuHost } from "../hosts/gpuHost";
import { IDLE_LISTEN, LIVE_LISTEN, ROUTES_DIR, caddyRun, renderCaddyfile, routeScript } from "./caddy";
import { logOpts } from "./containerDefaults";

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
}

const CADDYFILE_PATH = "/etc/caddy/Caddyfile";

export class Proxy extends pulumi.ComponentResource {
    /** The Caddy container. */
    public readonly container: docker.Container;
    /** The command that makes `liveColor` the live slot. */
    public readonly routes: pulumi.CustomResource;
    /** The proxy's Caddyfile. */
    public readonly caddyfile: string;

    constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:app:Proxy", name, {}, opts);
        // Lives on the host: replaced with its machine, deleted with it.
        const child = { parent: this, provider: args.host.provider, ...args.host.onHost };
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, child);

        this.caddyfile = renderCaddyfile({ upstreams: args.upstreams, healthPath: args.healthPath });
        this.container = new docker.Container(name, {
            name,
            image: image.imageId,
            command: caddyRun(CADDYFILE_PATH),
            uploads: [{ file: CADDYFILE_PATH, content: this.caddyfile }],
            ports: [
                { internal: LIVE_LISTEN, external: args.apiPort, ip: args.host.bindAddress, protocol: "tcp" },
                { internal: IDLE_LISTEN, external: args.idlePort, ip: args.host.bindAddress, protocol: "tcp" },
            ],
            networksAdvanced: [{ name: args.network.name }],
            volumes: [{ volumeName: args.routesVolume.name, containerPath: ROUTES_DIR }],
            healthcheck: {
                tests: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:2019/config/"],
                interval: "10s", timeout: "5s", retries: 3, startPeriod: "5s",
            },
            memory: args.memoryMb,
            memorySwap: args.memoryMb,
            restart: "unless-stopped",
            logDriver: "json-file",
            logOpts,
            wait: true,
            waitTimeout: 60,
        }, { ...child, deleteBeforeReplace: true });

        const liveHealth = `http://${args.upstreams[args.liveColor]}${args.healthPath}`;
        this.routes = args.host.run(`${name}-routes`, {
            create: routeScript(name, args.liveColor, liveHealth),
            // The marker outlives the container, but a new container (or a fresh volume) is re-checked.
            triggers: [this.container.id],
        }, { dependsOn: [this.container, ...args.routesDependOn], parent: this });

        this.registerOutputs({ caddyfile: this.caddyfile });
    }
}
