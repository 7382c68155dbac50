// config -> hosts -> app stacks -> outputs. Nothing else lives here.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, namespaced } from "./infra/config";
import { NAMESPACE } from "./infra/vocabulary";
import { StackApiKeys, isConfigSecret, proxyAuth, proxyTls } from "./infra/service/access";
import { createHosts } from "./infra/inventory";
import { AppStack } from "./infra/service/appStack";
import { resolveSlots } from "./infra/service/release";
import { stackOutputs } from "./infra/contract/outputs";
import { appStackName } from "./infra/contract/names";

const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()), (k) => isConfigSecret(`${NAMESPACE}:${k}`));
const sources = resolveSlots(__dirname, cfg.app.context, cfg.app.dockerfile, cfg.slots);
const keys = cfg.auth.enabled ? new StackApiKeys("api-keys", { operatorKeys: cfg.apiKeys }) : undefined;
const deployed = createHosts(cfg).map((host) => ({
    host,
    app: new AppStack(appStackName(host.name), { host, settings: cfg, sources, auth: proxyAuth(keys), tls: proxyTls(cfg.tls, host) }),
}));

// The outputs are one typed contract (infra/contract/outputs.ts), exported whole.
export = stackOutputs(cfg, deployed, keys);
