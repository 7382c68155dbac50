// config -> pins -> hosts -> app stacks -> outputs. Nothing else lives here.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, namespaced } from "./infra/config";
import { NAMESPACE } from "./infra/vocabulary";
import { StackApiKeys, isConfigSecret, needsStackCa, proxyAuth, proxyTls } from "./infra/service/access";
import { StackCa } from "./infra/service/pki";
import { PKI_VALIDITY } from "./infra/config/fixed";
import { createHosts } from "./infra/inventory";
import { AppStack } from "./infra/service/appStack";
import { appRoles } from "./infra/service/fleet";
import { resolveSlots } from "./infra/service/release";
import { pinStack } from "./infra/contract/pins";
import { stackOutputs } from "./infra/contract/outputs";
import { appStackName } from "./infra/contract/names";
import { isFleet } from "./infra/config/sections/fleet";

// An async program (the engine awaits an exported function: @pulumi/pulumi cmd/run/run.ts): each
// slot's pin depends on what the stack kept at its last update, read back before any resource exists.
export = async () => {
    const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()), (k) => isConfigSecret(`${NAMESPACE}:${k}`));
    // A slot keeps its pin until its release changes; a new release name (or a new stack) is pinned now.
    const pins = await pinStack(__dirname, cfg);
    const settings = { ...cfg, slots: pins.slots };
    const sources = resolveSlots(__dirname, cfg.app.context, cfg.app.dockerfile, pins.slots);
    const keys = cfg.auth.enabled ? new StackApiKeys("api-keys", { operatorKeys: cfg.apiKeys }) : undefined;
    const hosts = createHosts(cfg);
    // One CA for the stack, kept in the state: every host's certificate is signed by it, and a new
    // machine keeps it (infra/service/pki.ts). None where no host serves HTTPS from it (the local stack)
    // and no fleet's Redis needs one.
    const ca = needsStackCa(cfg.tls, hosts, isFleet(cfg))
        ? new StackCa("stack-ca", { commonName: `gpu-hosts ${pulumi.getStack()} CA`, validity: PKI_VALIDITY.ca, serverValidity: PKI_VALIDITY.server })
        : undefined;
    // Each host's part: everything (no fleet), or the hub's and the workers' (infra/service/fleet.ts).
    // The hub comes first: a worker host reports the hub's endpoint as its own.
    const deployed: { host: (typeof hosts)[number]; app: AppStack }[] = [];
    for (const { host, role } of appRoles(cfg, hosts, ca)) {
        const endpoint = role.kind === "worker" ? deployed[0].app : undefined;
        deployed.push({ host, app: new AppStack(appStackName(host.name), { host, settings, sources, auth: proxyAuth(keys), tls: proxyTls(cfg.tls, host, ca), role, endpoint }) });
    }

    // The outputs are one typed contract (infra/contract/outputs.ts), exported whole.
    const queue = deployed.map(({ app }) => app.role).find((r) => r.kind === "hub");
    return stackOutputs(settings, deployed, pins.records, keys, queue?.kind === "hub" ? queue.queue : undefined);
};
