import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { loadConfig, namespaced } from "../../../infra/config";
import { CLOUDS } from "../../../infra/clouds";
import { gcpRegion } from "../../../infra/clouds/gcp/catalog";
import { CloudHost, CloudPlacement, deployedHosts, describePlacement, placementOf } from "../../../infra/clouds/placement";
import { vmName } from "../../../infra/contract/names";
import { CloudDetails, CloudHostOutput, StackOutputs } from "../../../infra/contract/outputs";

const cfg = loadConfig(pulumi.getStack(), namespaced(pulumi.runtime.allConfig()));
const failures = new pulumi.Config("capacityTest").getObject<Record<string, string>>("failures") ?? {};

/**
 * A Google API enabled minutes ago: the GCP host's calls fail with `text` in the first `ups` updates
 * (counted in the file `counter`), then succeed. `at: "invoke"` fails the image lookup the real host
 * starts with (an Output that rejects, so the program ends with an unhandled exception reported on
 * the stack, as a failed invoke is); `at: "vm"` fails the VM itself (a resource's error).
 */
interface ApiNotReady {
    readonly counter: string;
    readonly ups: number;
    readonly text: string;
    readonly at: "invoke" | "vm";
}
const apiNotReady = new pulumi.Config("capacityTest").getObject<ApiNotReady>("apiNotReady");
/** Whether this update still sees the API disabled; counts real updates only (a preview changes nothing). */
function apiStillDisabled(a: ApiNotReady): boolean {
    const seen = fs.existsSync(a.counter) ? Number(fs.readFileSync(a.counter, "utf8")) : 0;
    if (pulumi.runtime.isDryRun()) return seen < a.ups;
    fs.writeFileSync(a.counter, String(seen + 1));
    return seen < a.ups;
}

// The text goes through stdin, so quotes and newlines reach stderr exactly as the cloud wrote them.
const VM = `text=$(cat); if [ -n "$text" ]; then printf '%s\\n' "$text" >&2; exit 1; fi; echo "vm at $PLACEMENT"`;

class TestGpuHost extends pulumi.ComponentResource {
    readonly placement: string;
    readonly vm: command.local.Command;
    constructor(h: CloudHost) {
        const { name, cloud } = h;
        super(CLOUDS[cloud].hostType, name, {}, {});
        // Each host of a cloud (gpu-hosts:<cloud>.count) runs where its own placement says.
        this.placement = describePlacement(placementOf(cfg, h));
        const disabled = cloud === "gcp" && apiNotReady && apiStillDisabled(apiNotReady) ? apiNotReady : undefined;
        // The image the VM boots: a lookup that fails while the API is not there yet.
        const image = disabled?.at === "invoke" ? pulumi.output(Promise.reject<string>(new Error(disabled.text))) : pulumi.output("ubuntu-2404");
        // Inputs follow the placement only: a host whose placement stays put is never stepped.
        this.vm = new command.local.Command(vmName(name), {
            create: VM,
            environment: { PLACEMENT: this.placement, IMAGE: image },
            // A failure keyed "<host> <placement>" fails that host only there; "<placement>" fails every host there.
            stdin: disabled?.at === "vm" ? disabled.text : failures[`${name} ${this.placement}`] ?? failures[this.placement] ?? "",
        }, { parent: this });
        // What runs on the host: replaced with its machine.
        new command.local.Command(`${name}-app`, { create: "echo app", triggers: [this.vm.stdout] }, { parent: this, dependsOn: [this.vm] });
        this.registerOutputs({});
    }
}

const deployed = deployedHosts(cfg).map((h) => ({ ...h, host: new TestGpuHost(h) }));

// The outputs contract (infra/contract/outputs.ts) the scripts' closing table reads, whole; documentation
// addresses (RFC 5737), nothing listens.
const slot = (c: "blue" | "green") => ({ ...cfg.slots[c], label: `${cfg.slots[c].release}@${cfg.slots[c].commit.slice(0, 12)}`, image: `app:${c}` });
const slotsOut = { blue: slot("blue"), green: slot("green") };
const idle = cfg.liveColor === "blue" ? "green" : "blue";
/** Where a placement runs, as a cloud host's outputs say it. */
const whereOf = (p: CloudPlacement): Omit<CloudDetails, "ssh"> =>
    p.cloud === "aws" ? { region: p.region, zone: p.zone || `${p.region}a`, instanceType: p.instanceType, spot: p.spot }
    : p.cloud === "gcp" ? { region: gcpRegion(p.zone), zone: p.zone, instanceType: p.machineType, spot: p.spot }
    : { region: p.location, zone: "none", instanceType: p.vmSize, spot: p.spot };
const hostOut = (i: number, h: CloudHost): CloudHostOutput => {
    const { name, cloud } = h;
    const address = `192.0.2.${i + 1}`;
    const live = `https://${address}:8000`;
    return {
        kind: cloud, gpu: "NVIDIA T4", address, liveUrl: live, idleUrl: `https://${address}:8001`, healthUrl: `${live}/health`,
        idleHealthUrl: `https://${address}:8001/health`, docsUrl: `${live}/docs`, apiUrl: live, liveColor: cfg.liveColor, idleColor: idle, slots: slotsOut,
        ...whereOf(placementOf(cfg, h)), ssh: `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-test-${name} ubuntu@${address}`,
    };
};
const hosts = Object.fromEntries(deployed.map((h, i) => [h.name, hostOut(i, h)]));
const contract = {
    liveColor: cfg.liveColor, idleColor: idle,
    liveUrl: "https://192.0.2.1:8000", idleUrl: "https://192.0.2.1:8001", apiUrl: "https://192.0.2.1:8000",
    docsUrl: "https://192.0.2.1:8000/docs", healthUrl: "https://192.0.2.1:8000/health",
    model: cfg.model, image: slotsOut[cfg.liveColor].image, slots: slotsOut, hosts, hostImages: [],
} satisfies StackOutputs;

export = {
    ...contract,
    /** Where each host runs, and what its VM said. */
    placements: Object.fromEntries(deployed.map(({ name, host }) => [name, host.placement])),
    vms: pulumi.all(deployed.map(({ host }) => host.vm.stdout)),
};
