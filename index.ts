// config -> pins -> hosts -> app stacks -> outputs. Nothing else lives here.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, namespaced } from "./infra/config";
import { NAMESPACE } from "./infra/vocabulary";
import { StackApiKeys, isConfigSecret, needsStackCa, proxyAuth, proxyTls } from "./infra/service/access";
import { StackCa } from "./infra/service/pki";
import { PKI_VALIDITY } from "./infra/config/fixed";
import { createHosts } from "./infra/inventory";
import { AppStack } from "./infra/service/appStack";
import { resolveSlots } from "./infra/service/release";
import { pinStack } from "./infra/contract/pins";
import { stackOutputs } from "./infra/contract/outputs";
import { appStackName } from "./infra/contract/names";

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
    // machine keeps it (infra/service/pki.ts). None where no host serves HTTPS from it (the local stack).
    const ca = needsStackCa(cfg.tls, hosts)
        ? new StackCa("stack-ca", { commonName: `gpu-hosts ${pulumi.getStack()} CA`, validity: PKI_VALIDITY.ca, serverValidity: PKI_VALIDITY.server })
        : undefined;
    const deployed = hosts.map((host) => ({
        host,
        app: new AppStack(appStackName(host.name), { host, settings, sources, auth: proxyAuth(keys), tls: proxyTls(cfg.tls, host, ca) }),
    }));

    // The outputs are one typed contract (infra/contract/outputs.ts), exported whole.
    return stackOutputs(settings, deployed, pins.records, keys);
};
