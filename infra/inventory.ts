// The stack's hosts, from `clouds`: every kind yields the same GpuHost shape.
import * as pulumi from "@pulumi/pulumi";
import { HostKind, LOCAL, SSH } from "./vocabulary";
import type { StackConfig } from "./config";
import { CLOUDS, isCloud } from "./clouds";
import { CloudHostArgs, RedisSource, StackSshKey, cidrId } from "./clouds/common";
import { deployedHosts, placementOf } from "./clouds/placement";
import { GpuHost } from "./hosts/gpuHost";
import { LocalHost, dockerCliEndpoint } from "./hosts/local";
import { SshServerHost } from "./hosts/server";
import { createStackKey } from "./hosts/ssh";
import type { RegistryLogin } from "./hosts/registry";
import { STACK_KEY_NAME } from "./contract/names";
import { isFleet } from "./config/sections/fleet";
import { firewallableAddress, stackHosts } from "./config/fleet";
import type { FirewallOptions } from "./shell/firewall";

const ROLE = "gpu-host";

/** The Docker Hub login gpu-hosts:registry names, its password a secret; undefined for anonymous pulls. */
function registryLogin(cfg: StackConfig): RegistryLogin | undefined {
    return cfg.registry.username === "" ? undefined : { username: cfg.registry.username, password: pulumi.secret(cfg.registryPassword) };
}

/** The CloudHostArgs a stack's validated config implies; add the cloud's own section (aws, gcp, azure). */
export function cloudHostArgs(cfg: StackConfig, key: StackSshKey): CloudHostArgs {
    return {
        spot: cfg.spot,
        diskGb: cfg.diskGb,
        sshUser: cfg.sshUser,
        sshPublicKey: key.publicKey,
        sshPrivateKey: key.privateKey,
        operatorPublicKey: cfg.sshPublicKey,
        operatorCidrs: [...new Set(cfg.operatorCidrs)],
        apiCidrs: [...new Set(cfg.apiCidrs)],
        apiPort: cfg.apiPort,
        idlePort: cfg.idlePort,
        acmeChallenge: cfg.tls.mode === "acme",
        nvidiaDriverBranch: cfg.nvidiaDriverBranch,
        gpuCheckImage: cfg.images.gpuCheck,
        tags: { project: pulumi.getProject(), stack: pulumi.getStack(), role: ROLE },
        registryMirrors: cfg.registry.mirrors,
        registryLogin: registryLogin(cfg),
    };
}

/**
 * Who may reach a fleet hub's Redis port, from the worker hosts already created: each one's own IP
 * (a /32 or /128; a cloud VM's is known once it exists), and gpu-hosts:fleet.redisCidrs for workers
 * that connect from elsewhere (behind NAT, or known by a DNS name or loopback: config/fleet.ts
 * requires redisCidrs for those).
 */
export function redisSources(cfg: StackConfig, workers: readonly GpuHost[]): RedisSource[] {
    const known = new Map(stackHosts(cfg).map((h) => [h.name, h]));
    const fromHosts = workers
        .filter((w) => { const a = known.get(w.name)?.address; return a === undefined || firewallableAddress(a); })
        .map((w) => ({ name: w.name, cidr: w.address.apply((a) => `${a}/${a.includes(":") ? 128 : 32}`) }));
    return [...fromHosts, ...cfg.fleet.redisCidrs.map((c) => ({ name: `cidr-${cidrId(c)}`, cidr: c }))];
}

/** What the hosts one entry of `clouds` stands for need to know of the fleet: whose are made now, and the hub's Redis sources. */
interface FleetPass {
    /** Whether the host of this name is made in this pass. */
    readonly wanted: (name: string) => boolean;
    /** Set when the hub is made in this pass: who may reach its Redis port. */
    readonly hubSources?: readonly RedisSource[];
}

const ALL: FleetPass = { wanted: () => true };

/** The hosts one entry of `clouds` stands for: a cloud's VMs (its count), the local engine, or every server of "ssh". */
function hostsOf(kind: HostKind, cfg: StackConfig, key: () => StackSshKey, pass: FleetPass = ALL): GpuHost[] {
    // The local engine is the operator's own: its daemon.json (and any mirror) is theirs; a login is
    // only what the provider sends with its pulls.
    if (kind === LOCAL) return !pass.wanted(LOCAL) ? [] : [new LocalHost(LOCAL, { ...cfg.local, dockerHost: cfg.local.dockerHost || dockerCliEndpoint(), registryLogin: registryLogin(cfg) })];
    if (kind === SSH) {
        // The operator's own key, else the stack's, whose public half is an output to authorise.
        const own = cfg.sshPrivateKey !== "";
        return cfg.ssh.hosts.filter((server) => pass.wanted(server.name)).map((server) => new SshServerHost(server.name, {
            server,
            privateKey: own ? pulumi.secret(cfg.sshPrivateKey) : key().privateKey,
            publicKey: own ? "" : key().publicKey,
            nvidiaDriverBranch: cfg.nvidiaDriverBranch,
            gpuCheckImage: cfg.images.gpuCheck,
            // The live port stays open to all; the idle one to the operators (config rules.ts); a fleet
            // hub's Redis port to its worker hosts.
            firewall: serverFirewall(cfg, server.name, pass.hubSources),
            registryMirrors: cfg.registry.mirrors,
            registryLogin: registryLogin(cfg),
        }).host);
    }
    if (isCloud(kind)) {
        // gpu-hosts:<cloud>.count hosts ("aws", "aws-2", ...), less those `npm run deploy` skipped; each
        // runs where its own placement says (placement.ts): its recorded one, else the first candidate.
        return deployedHosts(cfg).filter((h) => h.cloud === kind && pass.wanted(h.name)).map((h) => {
            const { cloud, ...placement } = placementOf(cfg, h);
            // A fleet's hub opens its Redis port to the worker hosts and keeps Redis on a disk of its own.
            const fleetHub = h.name === cfg.fleet.hub && pass.hubSources
                ? { redisPort: cfg.fleet.redisPort, redisSources: pass.hubSources, dataDiskGb: cfg.fleet.redisDiskGb }
                : undefined;
            return CLOUDS[cloud].createHost(h.name, { ...cloudHostArgs(cfg, key()), ...(fleetHub ? { fleetHub } : {}) }, placement as never, cfg[cloud] as never);
        });
    }
    const unreachable: never = kind;
    throw new Error(`unknown host kind ${unreachable}`);
}

/**
 * Why the environment must not run this stack, or undefined. The Docker provider takes the
 * endpoint of an exported DOCKER_CONTEXT over its own `host` setting (kreuzwerker
 * terraform-provider-docker, provider.go), which would put a cloud host's containers on whatever
 * engine that context names, the operator's laptop say. Pure: the caller passes the environment.
 */
export function environmentProblem(clouds: readonly HostKind[], env: NodeJS.ProcessEnv): string | undefined {
    const cloudHosts = clouds.filter((c) => c !== LOCAL);
    if (cloudHosts.length > 0 && env.DOCKER_CONTEXT) {
        return `DOCKER_CONTEXT is set (to ${JSON.stringify(env.DOCKER_CONTEXT)}) and would redirect the Docker provider of ` +
            `${cloudHosts.join(", ")} from its host to that context's engine; unset it (\`unset DOCKER_CONTEXT\`) and run again`;
    }
    return undefined;
}

/**
 * The stack's hosts, in `clouds` order, less any cloud host `npm run deploy` skipped (gpu-hosts:placements,
 * only with fallback.otherClouds). One generated SSH key serves every remote host that needs it.
 */
export function createHosts(cfg: StackConfig, env: NodeJS.ProcessEnv = process.env): GpuHost[] {
    const problem = environmentProblem(cfg.clouds, env);
    if (problem) throw new Error(problem);
    let key: StackSshKey | undefined;
    const stackKey = (): StackSshKey => {
        if (!key) {
            const k = createStackKey(STACK_KEY_NAME);
            key = { publicKey: k.publicKeyOpenssh, privateKey: pulumi.secret(k.privateKeyOpenssh) };
        }
        return key;
    };
    if (!isFleet(cfg)) return cfg.clouds.flatMap((kind) => hostsOf(kind, cfg, stackKey));
    // A fleet's hub is made last: its firewall opens the Redis port to the worker hosts' addresses,
    // which a cloud VM has only once it exists. The list keeps the stack's order.
    const hub = cfg.fleet.hub;
    const workers = cfg.clouds.flatMap((kind) => hostsOf(kind, cfg, stackKey, { wanted: (n) => n !== hub }));
    const hubs = cfg.clouds.flatMap((kind) => hostsOf(kind, cfg, stackKey, { wanted: (n) => n === hub, hubSources: redisSources(cfg, workers) }));
    const made = new Map([...workers, ...hubs].map((h) => [h.name, h]));
    return stackHosts(cfg).map((h) => made.get(h.name)!);
}

/**
 * An own server's firewall: the idle port from the operators; on a fleet's hub, the Redis port from
 * its sources too. A fleet's worker host publishes no port, so it gets none.
 */
function serverFirewall(cfg: StackConfig, server: string, hubSources: readonly RedisSource[] | undefined): pulumi.Input<FirewallOptions> | undefined {
    const idle = { port: cfg.idlePort, from: cfg.operatorCidrs };
    if (isFleet(cfg) && server !== cfg.fleet.hub) return undefined;
    if (!hubSources) return { ports: [idle] };
    return pulumi.all(hubSources.map((s) => s.cidr)).apply((cidrs) => ({ ports: [idle, { port: cfg.fleet.redisPort, from: [...new Set(cidrs)] }] }));
}
