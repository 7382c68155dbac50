// One GPU VM on Azure in its own resource group and virtual network, made a Docker host by
// cloud-init and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as azure from "@pulumi/azure-native";
import { azureGpu } from "./catalog";
import { CLOUD_PLATFORM, CloudHostArgs, byFamily, cloudRemoteArgs, ingressRules, renderUserData, vmHostKey } from "../common";
import { AZURE_HOST_TYPE, vmName } from "../../contract/names";
import type { MachineDetails } from "../../contract/details";
import { MachineRecord, RemoteHost, connectRemote, sshAccess } from "../../hosts/remote";

/** Canonical's Ubuntu 24.04 LTS marketplace image (Gen2); "latest" resolves when the VM is created. */
export const UBUNTU_2404_IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" } as const;

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
        },
    };
}
