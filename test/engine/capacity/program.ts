import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { loadConfig, namespaced } from "../../../infra/config";
import type { CloudName } from "../../../infra/vocabulary";
import { deployedClouds, describePlacement, placementOf } from "../../../infra/clouds/placement";

const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()));
const failures = new pulumi.Config("capacityTest").getObject<Record<string, string>>("failures") ?? {};
const TYPES: Record<CloudName, string> = { aws: "gpu-hosts:hosts:AwsGpuHost", gcp: "gpu-hosts:hosts:GcpGpuHost", azure: "gpu-hosts:hosts:AzureGpuHost" };

// The text goes through stdin, so quotes and newlines reach stderr exactly as the cloud wrote them.
const VM = `text=$(cat); if [ -n "$text" ]; then printf '%s\\n' "$text" >&2; exit 1; fi; echo "vm at $PLACEMENT"`;

class TestGpuHost extends pulumi.ComponentResource {
    readonly placement: string;
    readonly vm: command.local.Command;
    constructor(cloud: CloudName) {
        super(TYPES[cloud], cloud, {}, {});
        this.placement = describePlacement(placementOf(cfg, cloud));
        // Inputs follow the placement only: a host whose placement stays put is never stepped.
        this.vm = new command.local.Command(`${cloud}-vm`, {
            create: VM,
            environment: { PLACEMENT: this.placement },
            stdin: failures[this.placement] ?? "",
        }, { parent: this });
        // What runs on the host: replaced with its machine.
        new command.local.Command(`${cloud}-app`, { create: "echo app", triggers: [this.vm.stdout] }, { parent: this, dependsOn: [this.vm] });
        this.registerOutputs({});
    }
}

const deployed = deployedClouds(cfg).map((cloud) => ({ cloud, host: new TestGpuHost(cloud) }));

// The outputs contract (infra/contract/outputs.ts) the scripts' closing table reads; documentation
// addresses (RFC 5737), nothing listens.
const slot = (c: "blue" | "green") => ({ ...cfg.slots[c], label: `${cfg.slots[c].release}@${cfg.slots[c].commit.slice(0, 12)}`, image: `app:${c}` });
const slotsOut = { blue: slot("blue"), green: slot("green") };
const idle = cfg.liveColor === "blue" ? "green" : "blue";
const hostOut = (i: number, cloud: string) => {
    const address = `192.0.2.${i + 1}`;
    return {
        kind: cloud, gpu: "NVIDIA T4", address, liveUrl: `https://${address}:8000`, idleUrl: `https://${address}:8001`,
        healthUrl: `https://${address}:8000/health`, idleHealthUrl: `https://${address}:8001/health`, liveColor: cfg.liveColor, idleColor: idle, slots: slotsOut,
    };
};
export const liveColor = cfg.liveColor;
export const idleColor = idle;
export const slots = slotsOut;
export const idleUrl = "https://192.0.2.1:8001";
export const hosts = Object.fromEntries(deployed.map(({ cloud }, i) => [cloud, hostOut(i, cloud)]));
/** Where each host runs, and what its VM said. */
export const placements = Object.fromEntries(deployed.map(({ cloud, host }) => [cloud, host.placement]));
export const vms = pulumi.all(deployed.map(({ host }) => host.vm.stdout));
