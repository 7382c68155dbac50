// Stack outputs: what operators read and what the release/promote/rollback scripts rely on.
import * as pulumi from "@pulumi/pulumi";
import { StackConfig, otherColor } from "./config";
import { AppStack } from "./app/appStack";
import { GpuHost } from "./hosts/gpuHost";
import { StackApiKeys } from "./access";

export function stackOutputs(cfg: StackConfig, deployed: readonly { host: GpuHost; app: AppStack }[], keys?: StackApiKeys) {
    const idleColor = otherColor(cfg.liveColor);
    const primary = deployed[0].app;
    const hosts: Record<string, unknown> = {};
    for (const { host, app } of deployed) {
        hosts[host.name] = {
            kind: host.kind,
            gpu: host.gpuModel,
            address: host.address,
            liveUrl: app.liveUrl,
            idleUrl: app.idleUrl,
            healthUrl: app.healthUrl,
            docsUrl: app.docsUrl,
            liveColor: cfg.liveColor,
            idleColor,
            slots: app.slots,
            // Public: the root of the host's internal CA, for clients to pin (tls mode "internal").
            caRootCert: app.caRootCert,
            ...(host.details ?? {}),
        };
    }
    return {
        liveColor: cfg.liveColor,
        idleColor,
        liveUrl: primary.liveUrl,
        idleUrl: primary.idleUrl,
        apiUrl: primary.liveUrl,
        docsUrl: primary.docsUrl,
        healthUrl: primary.healthUrl,
        model: cfg.model,
        image: primary.slots[cfg.liveColor].image,
        slots: primary.slots,
        hosts: pulumi.output(hosts),
        // What `npm run destroy` names for removal: the images the stack put on its hosts, and no other.
        hostImages: [...new Set(deployed.flatMap(({ app }) => app.images))],
        // The generated API key, a secret: `pulumi stack output apiKey --show-secrets`.
        apiKey: keys?.generated,
        caRootCert: primary.caRootCert,
    };
}
