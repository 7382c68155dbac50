// One GPU VM on Google Compute Engine in its own VPC network, made a Docker host by cloud-init
// and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import * as docker from "@pulumi/docker";
import { GCP_ALLOWED, GCP_ZONE, GpuModel, gcpGpu, gcpRegion } from "./catalog";
import {
    CLOUD_PLATFORM, CloudHostArgs, HostDetails, authorizedKeys, byFamily, gcpLabels, ingressRules, renderUserData, resolveCloudHostArgs,
} from "./cloud";
import { GpuHost, HostResourceOptions, HostRunner } from "./gpuHost";
import { connectHost } from "./ssh";

/** Canonical's public image project and the Ubuntu 24.04 LTS family in it. */
export const UBUNTU_IMAGE_PROJECT = "ubuntu-os-cloud";
export const UBUNTU_2404_FAMILY = "ubuntu-2404-lts-amd64";

const SUBNET_CIDR = "10.42.1.0/24";

export interface GcpGpuHostArgs extends CloudHostArgs {
    /** Project, zone, machine type and (for N1) accelerator type, as validated by config. */
    readonly gcp: { readonly project: string; readonly zone: string; readonly machineType: string; readonly gpuType: string };
}

export class GcpGpuHost extends pulumi.ComponentResource implements GpuHost {
    /** Logical name. */
    public readonly name: string;
    /** Always "gcp". */
    public readonly kind = "gcp" as const;
    /** Always true. */
    public readonly gpu = true;
    /** The machine's GPU. */
    public readonly gpuModel: GpuModel;
    /** The static external address. */
    public readonly address: pulumi.Output<string>;
    /** All interfaces: the external IP is NAT'd onto the internal one, and the firewall decides who gets in. */
    public readonly bindAddress = "0.0.0.0";
    /** SSH login user. */
    public readonly sshUser: string;
    /** Runs a command on the host over SSH once it is ready. */
    public readonly run: HostRunner;
    /** The host's Docker engine over SSH. */
    public readonly provider: docker.Provider;
    /** The readiness gate. */
    public readonly ready: pulumi.Resource;
    /** Options for everything that lives on the VM: replaced with it, deleted with it. */
    public readonly onHost: HostResourceOptions;
    /** Every supported GPU shape is x86_64. */
    public readonly platform = CLOUD_PLATFORM;
    /** Facts for the stack outputs. */
    public readonly details: HostDetails;
    /** The region the zone is in. */
    public readonly region: string;
    /** The zone. */
    public readonly zone: string;
    /** The machine type. */
    public readonly instanceType: string;
    /** Whether the VM uses the Spot provisioning model. */
    public readonly spot: boolean;
    /** The VM's numeric instance id. */
    public readonly instanceId: pulumi.Output<string>;
    /** `ssh ...` command line for the operator. */
    public readonly sshCommand: pulumi.Output<string>;
    /** The rendered cloud-config handed to the VM as `user-data` metadata. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: GcpGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:hosts:GcpGpuHost", name, {}, opts);
        const who = `GcpGpuHost ${name}`;
        const { project, zone, machineType, gpuType } = args.gcp;
        const gpuModel = gcpGpu(machineType, gpuType);
        const problems: string[] = [];
        if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) problems.push(`${who}: gcp.project must be a GCP project id, got ${JSON.stringify(project)}`);
        if (!GCP_ZONE.test(zone)) problems.push(`${who}: gcp.zone must be a GCP zone, e.g. "us-central1-a", got ${JSON.stringify(zone)}`);
        if (!gpuModel) problems.push(`${who}: gcp.machineType must be ${GCP_ALLOWED}, got ${JSON.stringify(`${machineType} with gpuType ${gpuType}`)}`);
        const r = resolveCloudHostArgs(who, args, problems);

        this.name = name;
        this.gpuModel = gpuModel!;
        this.sshUser = r.sshUser;
        this.region = gcpRegion(zone);
        this.zone = zone;
        this.instanceType = machineType;
        this.spot = r.spot;
        const labels = gcpLabels(r.tags);
        const networkTag = `gpu-hosts-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");

        // Project, region and zone come from config, not from gcloud's defaults.
        const provider = new gcp.Provider(`${name}-provider`, { project, region: this.region, zone }, { parent: this });
        const child = { parent: this, provider };

        const image = gcp.compute.getImageOutput({ project: UBUNTU_IMAGE_PROJECT, family: UBUNTU_2404_FAMILY }, child);

        const network = new gcp.compute.Network(`${name}-network`, {
            autoCreateSubnetworks: false, description: `gpu-hosts ${name}`,
        }, child);
        const subnet = new gcp.compute.Subnetwork(`${name}-subnet`, {
            network: network.id, region: this.region, ipCidrRange: SUBNET_CIDR,
        }, child);
        const ip = new gcp.compute.Address(`${name}-ip`, {
            region: this.region, addressType: "EXTERNAL", networkTier: "PREMIUM", labels,
        }, child);

        // A custom network denies all ingress until a rule allows it; one rule per IP version,
        // since a rule's source ranges may not mix them.
        const firewall: pulumi.Resource[] = [];
        for (const rule of ingressRules(r)) {
            const families = byFamily(rule.cidrs);
            for (const [family, ranges] of [["v4", families.ipv4], ["v6", families.ipv6]] as const) {
                if (ranges.length === 0) continue;
                firewall.push(new gcp.compute.Firewall(`${name}-allow-${rule.name}${family === "v6" ? "-v6" : ""}`, {
                    network: network.selfLink,
                    description: rule.description,
                    direction: "INGRESS",
                    priority: 1000,
                    sourceRanges: ranges,
                    allows: [{ protocol: "tcp", ports: [String(rule.port)] }],
                    targetTags: [networkTag],
                }, child));
            }
        }

        // GPUs cannot live-migrate, so the VM must stop for host maintenance; Spot VMs also
        // cannot restart themselves. DELETE on preemption, like AWS's one-time spot: the static
        // address, network and firewall stay, and `npm run recover` builds an identical VM and
        // everything on it (a stopped VM would keep its id, and the Docker objects on it would
        // be trusted without a check).
        // https://cloud.google.com/compute/docs/gpus/create-gpu-vm-general-purpose#restrictions
        // https://cloud.google.com/compute/docs/instances/spot
        const scheduling: gcp.types.input.compute.InstanceScheduling = r.spot
            ? {
                onHostMaintenance: "TERMINATE",
                provisioningModel: "SPOT",
                preemptible: true,
                automaticRestart: false,
                instanceTerminationAction: "DELETE",
            }
            : { onHostMaintenance: "TERMINATE", provisioningModel: "STANDARD", preemptible: false, automaticRestart: true };

        this.userData = renderUserData(r, args.sshPublicKey, true);
        const instance = new gcp.compute.Instance(`${name}-vm`, {
            zone,
            machineType,
            // N1 takes its GPU as an attached accelerator; G2 machine types come with their L4s.
            // https://cloud.google.com/compute/docs/gpus/create-gpu-vm-accelerator-optimized
            guestAccelerators: machineType.startsWith("n1-") ? [{ type: gpuType, count: 1 }] : undefined,
            scheduling,
            bootDisk: {
                autoDelete: true,
                // SSD-backed and offered on both N1 and G2. Compute Engine encrypts every disk at
                // rest with Google-managed keys; there is no unencrypted option.
                initializeParams: { image: image.selfLink, size: r.diskGb, type: "pd-balanced", labels },
            },
            networkInterfaces: [{
                subnetwork: subnet.id,
                accessConfigs: [{ natIp: ip.address, networkTier: "PREMIUM" }],
            }],
            metadata: {
                "user-data": this.userData,
                "ssh-keys": authorizedKeys(r, args.sshPublicKey).apply((keys) => keys.map((k) => `${r.sshUser}:${k}`).join("\n")),
                // Metadata keys only work without OS Login; project-wide keys get no way in.
                "enable-oslogin": "FALSE",
                "block-project-ssh-keys": "TRUE",
            },
            // Secure Boot would refuse the DKMS-built (unsigned) NVIDIA module.
            shieldedInstanceConfig: { enableSecureBoot: false, enableVtpm: true, enableIntegrityMonitoring: true },
            tags: [networkTag],
            labels,
            allowStoppingForUpdate: true,
            desiredStatus: "RUNNING",
        }, {
            ...child,
            dependsOn: [subnet],
            // The new VM needs the static external address the old one holds: delete first.
            deleteBeforeReplace: true,
            // cloud-init runs once per instance; the image family moves on, move with `pulumi up --replace`.
            replaceOnChanges: ['metadata["user-data"]'],
            ignoreChanges: ["bootDisk.initializeParams.image"],
        });
        this.instanceId = instance.instanceId;
        this.address = ip.address;

        const conn = connectHost(this, name, {
            address: this.address,
            user: r.sshUser,
            privateKey: args.sshPrivateKey,
            machineId: instance.instanceId,
            machine: instance,
            gpuCheckImage: r.gpuCheckImage,
            readinessTimeoutSeconds: r.readinessTimeoutSeconds,
            keyDir: r.keyDir,
            networkDependsOn: firewall,
        });
        this.run = conn.run;
        this.ready = conn.ready;
        this.provider = conn.provider;
        this.onHost = conn.onHost;
        this.sshCommand = conn.sshCommand;
        this.details = {
            region: this.region, zone, instanceType: machineType, spot: r.spot, ssh: this.sshCommand,
        };
        this.registerOutputs({
            address: this.address, instanceId: this.instanceId, sshCommand: this.sshCommand,
        });
    }
}
