// The names the operator scripts find the program's resources by: component type tokens and the
// names of the children they look for. The components build their names with these same functions
// and the scripts match with them, so a rename moves both sides at once; test/program/contract.test.ts
// runs the program under mocks and checks that the scripts' classifiers find what it really makes.
// A cloud's host component token is its driver's (infra/clouds/<cloud>: hostType), so a new cloud
// touches only its folder; the naming rules here hold for every cloud.
//
// Every value here is part of each existing stack's state: a resource's URN is its type chain and
// name, and the engine replaces a resource whose URN changes unless an alias carries it
// (https://www.pulumi.com/docs/iac/concepts/resources/options/aliases/). Change one only with an alias.
// Imports nothing at runtime, so every layer can use it (test/unit/layers.test.ts puts it beside
// infra/vocabulary.ts).
import type { Color } from "../vocabulary";

/**
 * The name of a cloud's `n`th host (1-based, gpu-hosts:<cloud>.count): the cloud's own name for the
 * first, so a stack of one host per cloud keeps every name (and URN) it had before counts existed;
 * `<cloud>-<n>` for the others ("aws", "aws-2", "aws-3").
 */
export const cloudHostName = (cloud: string, n: number): string => (n === 1 ? cloud : `${cloud}-${n}`);

/** The cloud and number a cloud host's name says ("aws-2" -> aws, 2), of `clouds`; undefined for any other name. */
export function parseCloudHostName<C extends string>(name: string, clouds: readonly C[]): { readonly cloud: C; readonly n: number } | undefined {
    for (const cloud of clouds) {
        if (name === cloud) return { cloud, n: 1 };
        const m = name.startsWith(`${cloud}-`) ? /^([2-9]|[1-9]\d+)$/.exec(name.slice(cloud.length + 1)) : null;
        if (m) return { cloud, n: Number(m[1]) };
    }
    return undefined;
}

/** The AppStack component's type token: everything that runs on one host. */
export const APP_STACK_TYPE = "gpu-hosts:app:AppStack";
/** The Slot component's type token: the release scripts tell a slot's resources by it (scripts/lib/changes.ts). */
export const SLOT_TYPE = "gpu-hosts:app:Slot";
/** The Proxy component's type token: the swap scripts tell its routes command by it (scripts/lib/changes.ts). */
export const PROXY_TYPE = "gpu-hosts:app:Proxy";
/** The fleet's queue: the hub Redis's users and certificate (infra/service/fleet.ts). */
export const FLEET_QUEUE_TYPE = "gpu-hosts:fleet:FleetQueue";

/** The local engine's host component token (infra/hosts/local.ts). */
export const LOCAL_HOST_TYPE = "gpu-hosts:hosts:LocalHost";
/** The cloud hosts' component tokens (infra/clouds/<cloud>/host.ts), here with the others because the
 * drivers name them without loading the host component and its cloud SDK (infra/clouds/types.ts createHost). */
export const AWS_HOST_TYPE = "gpu-hosts:hosts:AwsGpuHost";
export const GCP_HOST_TYPE = "gpu-hosts:hosts:GcpGpuHost";
export const AZURE_HOST_TYPE = "gpu-hosts:hosts:AzureGpuHost";
/** An operator's server's host component token (infra/hosts/server.ts): recover finds its identity record under it. */
export const SERVER_HOST_TYPE = "gpu-hosts:hosts:SshServerHost";

/**
 * The type of @pulumi/command's `local.Command` (the provider's schema token, fixed by the class the
 * program instantiates): a server's identity record is one.
 */
export const LOCAL_COMMAND_TYPE = "command:local:Command";

/** The stack's generated SSH key pair (a tls PrivateKey, infra/inventory.ts); the scripts read its halves from the state. */
export const STACK_KEY_NAME = "ssh-key";
/** The type of @pulumi/tls's `PrivateKey` (the provider's schema token). */
export const TLS_PRIVATE_KEY_TYPE = "tls:index/privateKey:PrivateKey";

/** Host `host`'s AppStack (index.ts); every container, volume and network on the host starts with it. */
export const appStackName = (host: string): string => `${host}-app`;
/** The Slot of `color` under AppStack `app`. */
export const slotName = (app: string, color: Color): string => `${app}-${color}`;
/** A slot's api on the host's private network: its network alias, the name the proxy routes `color` to. */
export const slotApiAlias = (color: Color): string => `api-${color}`;
/** The Proxy under AppStack `app`. */
export const proxyName = (app: string): string => `${app}-proxy`;
/** The routes command under a proxy named `proxy`: the one resource a swap changes. */
export const routesName = (proxy: string): string => `${proxy}-routes`;
/** The Docker volume holding the models under AppStack `app`: kept on destroy, named in destroy's advice. */
export const modelVolumeName = (app: string): string => `${app}-ollama-models`;
/** A cloud host's VM (`<host>-vm`), whatever the cloud: what deploy's capacity fallback and status's cost look for. */
export const vmName = (host: string): string => `${host}-vm`;
/** An operator's server's identity record (`<host>-machine`, infra/hosts/server.ts): what recover looks for. */
export const serverIdentityName = (host: string): string => `${host}-machine`;
/**
 * A remote host's SSH host key (`<host>-host-key`): a cloud VM's generated key pair (tls.PrivateKey),
 * or an operator's server's record of the key every connection requires (infra/hosts/server.ts),
 * which recover and destroy read and recover rewrites for a reinstalled server.
 */
export const hostKeyName = (host: string): string => `${host}-host-key`;

/**
 * The Docker containers' names, which status inspects on the host (scripts/lib/status/containers.ts);
 * each is also its Pulumi resource's name.
 */
export const CONTAINERS = {
    /** Shared Redis, under AppStack `app`. */
    redis: (app: string): string => `${app}-redis`,
    /** Shared Ollama, under AppStack `app`. */
    ollama: (app: string): string => `${app}-ollama`,
    /** A slot's api, under the Slot named `slot`. */
    api: (slot: string): string => `${slot}-api`,
    /** A slot's worker, under the Slot named `slot`. */
    worker: (slot: string): string => `${slot}-worker`,
    /** Caddy, named as its Proxy. */
    proxy: (proxy: string): string => proxy,
    /**
     * The key service, under the Proxy named `proxy` (API keys on): its resource's name. The
     * container itself is named by the Docker provider from it ("<this>-<7 hex>", see
     * containerNameMatches), so that a replacement starts before the old one stops.
     */
    auth: (proxy: string): string => `${proxy}-auth`,
} as const;

/**
 * Whether the Docker container named `actual` is the program's container `expected` (a CONTAINERS
 * name): the same name, or that name with the suffix the Docker provider adds to a container it
 * names itself, "-" and 7 hex digits (pulumi-docker provider/resources.go SetAutonaming(255, "-"):
 * the bridge's resource.NewUniqueHex). Only the key service is named so (infra/service/proxy.ts).
 */
export function containerNameMatches(expected: string, actual: string): boolean {
    return actual === expected || (actual.startsWith(`${expected}-`) && /^[0-9a-f]{7}$/.test(actual.slice(expected.length + 1)));
}
