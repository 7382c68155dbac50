// config -> hosts -> app stacks -> outputs. Nothing else lives here.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, namespaced } from "./components/config";
import { createHosts } from "./components/hosts";
import { AppStack } from "./components/app/appStack";
import { resolveSlots } from "./components/app/release";
import { stackOutputs } from "./components/outputs";

const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()));
const sources = resolveSlots(__dirname, cfg.app.context, cfg.slots);
const deployed = createHosts(cfg).map((host) => ({
    host,
    app: new AppStack(`${host.name}-app`, { host, settings: cfg, sources }),
}));

export const {
    liveColor, idleColor, liveUrl, idleUrl, apiUrl, docsUrl, healthUrl, model, image, slots, hosts, hostImages,
} = stackOutputs(cfg, deployed);
