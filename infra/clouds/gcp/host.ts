// One GPU VM on Google Compute Engine in its own VPC network, made a Docker host by cloud-init
// and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import { gcpGpu, gcpRegion } from "./catalog";
import { CLOUD_PLATFORM, CloudHostArgs, authorizedKeys, byFamily, cidrId, cloudRemoteArgs, gcpLabels, ingressRules, redisIngressRules, renderUserData, vmHostKey } from "../common";
import { GCP_HOST_TYPE, vmName } from "../../contract/names";
import type { MachineDetails } from "../../contract/details";
import { DataDiskRecord, MachineRecord, RemoteHost, connectRemote, sshAccess } from "../../hosts/remote";
import { gcpDiskDevice } from "../../shell/dataDisk";

/** Canonical's public image project and the Ubuntu 24.04 LTS family in it. */
export const UBUNTU_IMAGE_PROJECT = "ubuntu-os-cloud";
export const UBUNTU_2404_FAMILY = "ubuntu-2404-lts-amd64";

const SUBNET_CIDR = "10.42.1.0/24";

/** The device name a fleet hub's data disk is attached with: the guest sees it as /dev/disk/by-id/google-<this>. */
export const GCP_DATA_DEVICE = "gpu-hosts-data";

/** GCE resource names are at most 63 characters; Pulumi appends "-" and 7 hex characters. */
const GCE_NAME_ROOM = 63 - 8;

export interface GcpGpuHostArgs extends CloudHostArgs {
    /** Project, zone, machine type and (for N1) accelerator type, as validated by config. */
    readonly gcp: { readonly project: string; readonly zone: string; readonly machineType: string; readonly gpuType: string };
}

/** The Compute Engine VM: what GcpGpuHost's machine is. */
export interface GcpMachine {
    readonly instance: gcp.compute.Instance;
    /** The rendered cloud-config handed to the VM as `user-data` metadata. */
    readonly userData: pulumi.Output<string>;
}

/** One GPU VM on Compute Engine, connected as a GpuHost. */
export class GcpGpuHost extends pulumi.ComponentResource {
    /** The host as the service sees it. */
    public readonly host: RemoteHost;
    /** The VM's numeric instance id, new for every VM created. */
    public readonly instanceId: pulumi.Output<string>;
    /** The rendered cloud-config. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: GcpGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(GCP_HOST_TYPE, name, {}, opts);
        const remote = cloudRemoteArgs(args);
        const access = sshAccess(name, remote);
        const { vm, record } = gcpMachine(this, name, args);
        this.host = connectRemote(this, name, remote, access, record);
        this.instanceId = vm.instance.instanceId;
        this.userData = vm.userData;
        this.registerOutputs({ address: this.host.address, machineId: this.host.machineId, sshCommand: this.host.sshCommand });
    }
}

/** The VM in its own VPC network, with a static address and a firewall from the shared policy. */
function gcpMachine(parent: pulumi.Resource, name: string, args: GcpGpuHostArgs): { vm: GcpMachine; record: MachineRecord } {
    const { project, zone, machineType, gpuType } = args.gcp;
    const region = gcpRegion(zone);
    const labels = gcpLabels(args.tags);
    const networkTag = `gpu-hosts-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");

    // Project, region and zone come from config, not from gcloud's defaults.
    const provider = new gcp.Provider(`${name}-provider`, { project, region, zone }, { parent });
    const child = { parent, provider };

    // Every call below is a Compute Engine call, which the operator enables once per project
    // (apis.ts says why the program does not). A stack that still holds the `<host>-compute-api`
    // gcp.projects.Service of earlier versions loses it on its next up, and the API stays enabled:
    // its state says disableOnDestroy false, and the provider's Delete then only forgets it
    // (resourceGoogleProjectServiceDelete, resource_google_project_service.go in
    // terraform-provider-google).

    const image = gcp.compute.getImageOutput({ project: UBUNTU_IMAGE_PROJECT, family: UBUNTU_2404_FAMILY }, child);

    const network = new gcp.compute.Network(`${name}-network`, {
        autoCreateSubnetworks: false, description: `gpu-hosts ${name}`,
    }, child);
    const subnet = new gcp.compute.Subnetwork(`${name}-subnet`, {
        network: network.id, region, ipCidrRange: SUBNET_CIDR,
    }, child);
    const ip = new gcp.compute.Address(`${name}-ip`, {
        region, addressType: "EXTERNAL", networkTier: "PREMIUM", labels,
    }, child);

    // A custom network denies all ingress until a rule allows it; one rule per IP version,
    // since a rule's source ranges may not mix them.
    const firewall: pulumi.Resource[] = [];
    for (const rule of ingressRules(args)) {
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

    // A fleet hub's Redis: one rule per worker host, named after it (or, when that name would not fit
    // a GCE name, after a hash of it). A rule's source ranges take either IP version, one at a time.
    for (const rule of redisIngressRules(args)) {
        const full = `${name}-allow-${rule.name}`;
        new gcp.compute.Firewall(full.length <= GCE_NAME_ROOM ? full : `${name}-allow-redis-${cidrId(rule.name)}`, {
            network: network.selfLink,
            description: rule.description,
            direction: "INGRESS",
            priority: 1000,
            sourceRanges: [rule.cidr],
            allows: [{ protocol: "tcp", ports: [String(rule.port)] }],
            targetTags: [networkTag],
        }, child);
    }

    // GPUs cannot live-migrate, so the VM must stop for host maintenance; Spot VMs also
    // cannot restart themselves. DELETE on preemption, like AWS's one-time spot: the static
    // address, network and firewall stay, and `npm run recover` builds an identical VM and
    // everything on it (a stopped VM would keep its id, and the Docker objects on it would
    // be trusted without a check).
    // https://cloud.google.com/compute/docs/gpus/create-gpu-vm-general-purpose#restrictions
    // https://cloud.google.com/compute/docs/instances/spot
    const scheduling: gcp.types.input.compute.InstanceScheduling = args.spot
        ? {
            onHostMaintenance: "TERMINATE",
            provisioningModel: "SPOT",
            preemptible: true,
            automaticRestart: false,
            instanceTerminationAction: "DELETE",
        }
        : { onHostMaintenance: "TERMINATE", provisioningModel: "STANDARD", preemptible: false, automaticRestart: true };

    const disk = args.fleetHub ? gcpDataDisk(name, args, labels, child) : undefined;
    const hostKey = vmHostKey(parent, name);
    const userData = renderUserData(args, true, hostKey, true);
    const instance = new gcp.compute.Instance(vmName(name), {
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
            initializeParams: { image: image.selfLink, size: args.diskGb, type: "pd-balanced", labels },
        },
        networkInterfaces: [{
            subnetwork: subnet.id,
            accessConfigs: [{ natIp: ip.address, networkTier: "PREMIUM" }],
        }],
        metadata: {
            "user-data": userData,
            "ssh-keys": authorizedKeys(args).apply((keys) => keys.map((k) => `${args.sshUser}:${k}`).join("\n")),
            // Metadata keys only work without OS Login; project-wide keys get no way in.
            "enable-oslogin": "FALSE",
            "block-project-ssh-keys": "TRUE",
        },
        // Secure Boot would refuse the DKMS-built (unsigned) NVIDIA module.
        shieldedInstanceConfig: { enableSecureBoot: false, enableVtpm: true, enableIntegrityMonitoring: true },
        // A hub's data disk: in place, and with a new VM (gcpDataDisk says why here).
        ...(disk ? { attachedDisks: [{ source: disk.selfLink, deviceName: GCP_DATA_DEVICE, mode: "READ_WRITE" }] } : {}),
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
    const dataDisk: DataDiskRecord | undefined = disk && args.fleetHub
        ? { devices: [gcpDiskDevice(GCP_DATA_DEVICE)], sizeGb: args.fleetHub.dataDiskGb, diskId: disk.id, attachment: instance }
        : undefined;
    const details: MachineDetails<"gcp"> = { kind: "gcp", region, zone, instanceType: machineType, spot: args.spot };
    return {
        vm: { instance, userData },
        record: {
            address: ip.address, machineId: instance.instanceId, hostKey: hostKey.publicKey, machine: instance, dependsOn: firewall,
            setup: { by: "cloud-init" }, gpuModel: gcpGpu(machineType, gpuType), platform: CLOUD_PLATFORM, details,
            ...(dataDisk ? { dataDisk } : {}),
        },
    };
}

/**
 * A fleet hub's persistent disk (`<host>-data`, in the VM's zone), attached through the instance's
 * attachedDisks. Chosen over a gcp.compute.AttachedDisk, whose delete detaches the disk from the
 * running VM (terraform-provider-google resource_compute_attached_disk.go, resourceAttachedDiskDelete:
 * Instances.DetachDisk, no stop) under a mounted filesystem and a running Redis, each time the VM is
 * replaced. Here the disk leaves with the old VM itself: the provider deletes an instance with a plain
 * DELETE (resource_compute_instance.go, resourceComputeInstanceDelete), Compute Engine shuts the guest
 * down (Redis with it) and keeps every disk attached without autoDelete, which attached_disk never sets
 * (expandAttachedDisk; the API's default is false:
 * https://cloud.google.com/compute/docs/reference/rest/v1/instances/attachDisk). The new VM is created
 * with the disk attached. The disk is no part of the VM: none of its inputs come from it, and it has
 * neither the machine's replacementTrigger nor deletedWith, so recover never drops it. `pulumi
 * destroy` deletes it like any other resource, data and all, after the VM (the provider detaches it
 * from any user first: resource_compute_disk.go, resourceComputeDiskDelete).
 */
function gcpDataDisk(name: string, args: GcpGpuHostArgs, labels: Record<string, string>, child: pulumi.CustomResourceOptions): gcp.compute.Disk {
    return new gcp.compute.Disk(`${name}-data`, { zone: args.gcp.zone, size: args.fleetHub!.dataDiskGb, type: "pd-balanced", labels }, child);
}
