// One GPU VM on Azure in its own resource group and virtual network, made a Docker host by
// cloud-init and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as azure from "@pulumi/azure-native";
import { azureGpu } from "./catalog";
import { CLOUD_PLATFORM, CloudHostArgs, byFamily, cloudRemoteArgs, ingressRules, redisIngressRules, renderUserData, vmHostKey } from "../common";
import { AZURE_HOST_TYPE, vmName } from "../../contract/names";
import type { MachineDetails } from "../../contract/details";
import { DataDiskRecord, MachineRecord, RemoteHost, connectRemote, sshAccess } from "../../hosts/remote";
import { azureLunDevices } from "../../shell/dataDisk";

/** Canonical's Ubuntu 24.04 LTS marketplace image (Gen2); "latest" resolves when the VM is created. */
export const UBUNTU_2404_IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" } as const;

/** The LUN a fleet hub's data disk is attached at: the guest sees it as /dev/disk/azure/scsi1/lun<this>. */
export const AZURE_DATA_LUN = 0;
/** The first priority of a fleet hub's Redis rules: after every static rule (100 and up, ten apart). */
const REDIS_RULE_PRIORITY = 1000;

const VNET_CIDR = "10.42.0.0/16";
const SUBNET_CIDR = "10.42.1.0/24";

export interface AzureGpuHostArgs extends CloudHostArgs {
    /** Location and NC-series VM size, as validated by config. */
    readonly azure: { readonly location: string; readonly vmSize: string };
    /**
     * Also encrypt the temp disk and disk caches on the VM's host. Needs the EncryptionAtHost
     * feature registered on the subscription; managed disks are encrypted at rest either way. Defaults to false.
     */
    readonly encryptionAtHost?: boolean;
}

/** The Azure VM: what AzureGpuHost's machine is. */
export interface AzureMachine {
    readonly vm: azure.compute.VirtualMachine;
    /** The rendered cloud-config; the VM gets it base64-encoded as customData. */
    readonly userData: pulumi.Output<string>;
}

/** One GPU VM on Azure, connected as a GpuHost. */
export class AzureGpuHost extends pulumi.ComponentResource {
    /** The host as the service sees it. */
    public readonly host: RemoteHost;
    /** The VM's unique id (vmId), new for every VM created. */
    public readonly instanceId: pulumi.Output<string>;
    /** The rendered cloud-config. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: AzureGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(AZURE_HOST_TYPE, name, {}, opts);
        const remote = cloudRemoteArgs(args);
        const access = sshAccess(name, remote);
        const { vm, record } = azureMachine(this, name, args);
        this.host = connectRemote(this, name, remote, access, record);
        this.instanceId = vm.vm.vmId;
        this.userData = vm.userData;
        this.registerOutputs({ address: this.host.address, machineId: this.host.machineId, sshCommand: this.host.sshCommand });
    }
}

/** The VM in its own resource group and network, with a static IP and a firewall from the shared policy. */
function azureMachine(parent: pulumi.Resource, name: string, args: AzureGpuHostArgs): { vm: AzureMachine; record: MachineRecord } {
    const { location, vmSize } = args.azure;
    const tags = { ...args.tags };

    // The location comes from config, not from the az CLI's defaults.
    const provider = new azure.Provider(`${name}-provider`, { location }, { parent });
    const child = { parent, provider };

    const rg = new azure.resources.ResourceGroup(`${name}-rg`, { location, tags }, child);
    const where = { resourceGroupName: rg.name, location };

    // Azure's default rules (priority 65000+) deny all other inbound traffic from the internet.
    const securityRules: azure.types.input.network.SecurityRuleArgs[] = [];
    let priority = 100;
    for (const rule of ingressRules(args)) {
        const families = byFamily(rule.cidrs);
        for (const [family, prefixes] of [["v4", families.ipv4], ["v6", families.ipv6]] as const) {
            if (prefixes.length === 0) continue;
            securityRules.push({
                name: `allow-${rule.name}${family === "v6" ? "-v6" : ""}`,
                description: rule.description,
                direction: "Inbound",
                access: "Allow",
                protocol: "Tcp",
                priority: priority,
                sourceAddressPrefixes: prefixes,
                sourcePortRange: "*",
                destinationAddressPrefix: "*",
                destinationPortRange: String(rule.port),
            });
            priority += 10;
        }
    }
    // A fleet hub's Redis: one rule per worker host, named after it. Inline like the others: a
    // standalone SecurityRule beside an NSG's inline list is deleted and re-added by turns
    // (pulumi/pulumi-azure-native#3359).
    // One prefix per rule, which may be either IP version. Priorities follow the names' order, so
    // a new worker host moves only the rules after it (an in-place update of the NSG).
    const redis = [...redisIngressRules(args)].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    redis.forEach((rule, i) => securityRules.push({
        name: `allow-${rule.name}`,
        description: rule.description,
        direction: "Inbound",
        access: "Allow",
        protocol: "Tcp",
        priority: REDIS_RULE_PRIORITY + 10 * i,
        sourceAddressPrefix: rule.cidr,
        sourcePortRange: "*",
        destinationAddressPrefix: "*",
        destinationPortRange: String(rule.port),
    }));
    const nsg = new azure.network.NetworkSecurityGroup(`${name}-nsg`, { ...where, securityRules, tags }, child);
    const vnet = new azure.network.VirtualNetwork(`${name}-vnet`, {
        ...where, addressSpace: { addressPrefixes: [VNET_CIDR] }, tags,
    }, child);
    const subnet = new azure.network.Subnet(`${name}-subnet`, {
        resourceGroupName: rg.name, virtualNetworkName: vnet.name, addressPrefix: SUBNET_CIDR,
    }, child);
    const ip = new azure.network.PublicIPAddress(`${name}-ip`, {
        ...where,
        sku: { name: "Standard", tier: "Regional" },
        publicIPAllocationMethod: "Static",
        publicIPAddressVersion: "IPv4",
        tags,
    }, child);
    const nic = new azure.network.NetworkInterface(`${name}-nic`, {
        ...where,
        ipConfigurations: [{
            name: "primary",
            primary: true,
            subnet: { id: subnet.id },
            privateIPAllocationMethod: "Dynamic",
            publicIPAddress: { id: ip.id },
        }],
        networkSecurityGroup: { id: nsg.id },
        tags,
    }, child);

    const disk = args.fleetHub ? azureDataDisk(name, args, where, tags, child) : undefined;

    // The VM resource creates the admin user with the stack's key; cloud-init adds the
    // operator's key too, since Azure's own key check accepts only RSA and Ed25519.
    const hostKey = vmHostKey(parent, name);
    const userData = renderUserData(args, false, hostKey, false);
    const vm = new azure.compute.VirtualMachine(vmName(name), {
        ...where,
        hardwareProfile: { vmSize },
        storageProfile: {
            imageReference: { ...UBUNTU_2404_IMAGE },
            // Managed disks are always encrypted at rest (platform-managed keys).
            // https://learn.microsoft.com/azure/virtual-machines/disk-encryption
            osDisk: {
                createOption: "FromImage",
                diskSizeGB: args.diskGb,
                caching: "ReadWrite",
                managedDisk: { storageAccountType: "Premium_LRS" },
                deleteOption: "Delete",
            },
            // A hub's data disk, attached at a fixed LUN; deleteOption Detach (ARM's default, said
            // here): deleting the VM (replaced, or recovered) leaves the disk for the next one
            // (https://learn.microsoft.com/rest/api/compute/virtual-machines/create-or-update, DataDisk).
            // Caching None: Redis's AOF is written, not read back (host read caching helps reads only:
            // https://learn.microsoft.com/azure/virtual-machines/premium-storage-performance#disk-caching).
            ...(disk ? {
                dataDisks: [{
                    lun: AZURE_DATA_LUN, createOption: "Attach", managedDisk: { id: disk.id }, deleteOption: "Detach", caching: "None",
                }],
            } : {}),
        },
        osProfile: {
            computerName: name,
            adminUsername: args.sshUser,
            customData: userData.apply((u) => Buffer.from(u, "utf8").toString("base64")),
            linuxConfiguration: {
                disablePasswordAuthentication: true,
                ssh: {
                    publicKeys: [{
                        path: `/home/${args.sshUser}/.ssh/authorized_keys`,
                        keyData: pulumi.output(args.sshPublicKey).apply((k) => k.trim()),
                    }],
                },
            },
        },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Detach" }] },
        // Trusted Launch is the default for Gen2 images; keep its vTPM but not Secure Boot,
        // which would refuse the DKMS-built (unsigned) NVIDIA module.
        // https://learn.microsoft.com/azure/virtual-machines/trusted-launch
        securityProfile: {
            securityType: "TrustedLaunch",
            uefiSettings: { secureBootEnabled: false, vTpmEnabled: true },
            ...(args.encryptionAtHost ? { encryptionAtHost: true } : {}),
        },
        // Delete on eviction, like AWS's one-time spot: the NIC (deleteOption Detach), static IP
        // and network stay, and `npm run recover` builds an identical VM and everything on it.
        // maxPrice -1: pay up to the on-demand price, never evicted for price.
        // https://learn.microsoft.com/azure/virtual-machines/spot-vms
        ...(args.spot ? { priority: "Spot", evictionPolicy: "Delete", billingProfile: { maxPrice: -1 } } : { priority: "Regular" }),
        tags,
    }, {
        ...child,
        // cloud-init runs once per VM: new user data only takes effect on a new one.
        replaceOnChanges: ["osProfile.customData"],
        // The new VM needs the NIC the old one holds: delete first.
        deleteBeforeReplace: true,
    });
    const address = ip.ipAddress.apply((a) => {
        if (!a) throw new Error(`AzureGpuHost ${name}: the static public IP has no address`);
        return a;
    });

    const details: MachineDetails<"azure"> = { kind: "azure", region: location, zone: "none", instanceType: vmSize, spot: args.spot };
    return {
        vm: { vm, userData },
        record: {
            address, machineId: vm.vmId, hostKey: hostKey.publicKey, machine: vm, dependsOn: [nsg, nic],
            setup: { by: "cloud-init" }, gpuModel: azureGpu(vmSize), platform: CLOUD_PLATFORM, details,
            ...(disk && args.fleetHub ? { dataDisk: { devices: azureLunDevices(AZURE_DATA_LUN), sizeGb: args.fleetHub.dataDiskGb, diskId: disk.id, attachment: vm } satisfies DataDiskRecord } : {}),
        },
    };
}

/**
 * A fleet hub's managed disk (`<host>-data`, in the VM's resource group and location; the VM has no
 * zone, so neither has the disk). Attached through the VM's dataDisks: azure-native has no resource
 * that attaches a disk on its own (ARM attaches one only in the VM's storageProfile), and so the disk
 * leaves with the old VM rather than under a running one. It is no part of the VM: none of its inputs
 * come from it, and it has neither the machine's replacementTrigger nor deletedWith, so recover never
 * drops it. `pulumi destroy` deletes it like any other resource, data and all, after the VM.
 */
function azureDataDisk(name: string, args: AzureGpuHostArgs, where: { resourceGroupName: pulumi.Input<string>; location: string },
    tags: Record<string, string>, child: pulumi.CustomResourceOptions): azure.compute.Disk {
    return new azure.compute.Disk(`${name}-data`, {
        ...where,
        creationData: { createOption: "Empty" },
        diskSizeGB: args.fleetHub!.dataDiskGb,
        // As the OS disk: SSD, offered to every NC size of the catalog; encrypted at rest either way.
        sku: { name: "Premium_LRS" },
        tags,
    }, child);
}
