// One GPU VM on Azure in its own resource group and virtual network, made a Docker host by
// cloud-init and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as azure from "@pulumi/azure-native";
import * as docker from "@pulumi/docker";
import { AZURE_ALLOWED, AZURE_LOCATION, GpuModel, azureGpu, isAzureGridSize } from "./catalog";
import { CLOUD_PLATFORM, CloudHostArgs, HostDetails, byFamily, ingressRules, renderUserData, resolveCloudHostArgs } from "./cloud";
import { GpuHost, HostResourceOptions, HostRunner } from "./gpuHost";
import { connectHost } from "./ssh";

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

export class AzureGpuHost extends pulumi.ComponentResource implements GpuHost {
    /** Logical name. */
    public readonly name: string;
    /** Always "azure". */
    public readonly kind = "azure" as const;
    /** Always true. */
    public readonly gpu = true;
    /** The VM size's GPU. */
    public readonly gpuModel: GpuModel;
    /** The static Standard public IP. */
    public readonly address: pulumi.Output<string>;
    /** All interfaces: the public IP is NAT'd onto the NIC's private one, and the NSG decides who gets in. */
    public readonly bindAddress = "0.0.0.0";
    /** SSH login user (the VM's admin user). */
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
    /** The location. */
    public readonly region: string;
    /** No availability zone: the VM is regional. */
    public readonly zone = "none";
    /** The VM size. */
    public readonly instanceType: string;
    /** Whether the VM has Spot priority. */
    public readonly spot: boolean;
    /** The VM's unique id (vmId), new for every VM created. */
    public readonly instanceId: pulumi.Output<string>;
    /** `ssh ...` command line for the operator. */
    public readonly sshCommand: pulumi.Output<string>;
    /** The rendered cloud-config; the VM gets it base64-encoded as customData. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: AzureGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:hosts:AzureGpuHost", name, {}, opts);
        const who = `AzureGpuHost ${name}`;
        const { location, vmSize } = args.azure;
        const gpuModel = azureGpu(vmSize);
        const problems: string[] = [];
        if (!AZURE_LOCATION.test(location)) problems.push(`${who}: azure.location must be an Azure location, e.g. "eastus", got ${JSON.stringify(location)}`);
        if (isAzureGridSize(vmSize)) {
            problems.push(`${who}: azure.vmSize must be a full-GPU NC-series size (${AZURE_ALLOWED}); NVadsA10 v5 sizes are GPU slices that need NVIDIA's GRID driver, got ${JSON.stringify(vmSize)}`);
        } else if (!gpuModel) {
            problems.push(`${who}: azure.vmSize must be ${AZURE_ALLOWED}, got ${JSON.stringify(vmSize)}`);
        }
        const r = resolveCloudHostArgs(who, args, problems);

        this.name = name;
        this.gpuModel = gpuModel!;
        this.sshUser = r.sshUser;
        this.region = location;
        this.instanceType = vmSize;
        this.spot = r.spot;
        const tags = { ...r.tags };

        // The location comes from config, not from the az CLI's defaults.
        const provider = new azure.Provider(`${name}-provider`, { location }, { parent: this });
        const child = { parent: this, provider };

        const rg = new azure.resources.ResourceGroup(`${name}-rg`, { location, tags }, child);
        const where = { resourceGroupName: rg.name, location };

        // Azure's default rules (priority 65000+) deny all other inbound traffic from the internet.
        const securityRules: azure.types.input.network.SecurityRuleArgs[] = [];
        let priority = 100;
        for (const rule of ingressRules(r)) {
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
        this.userData = renderUserData(r, args.sshPublicKey, false);
        const vm = new azure.compute.VirtualMachine(`${name}-vm`, {
            ...where,
            hardwareProfile: { vmSize },
            storageProfile: {
                imageReference: { ...UBUNTU_2404_IMAGE },
                // Managed disks are always encrypted at rest (platform-managed keys).
                // https://learn.microsoft.com/azure/virtual-machines/disk-encryption
                osDisk: {
                    createOption: "FromImage",
                    diskSizeGB: r.diskGb,
                    caching: "ReadWrite",
                    managedDisk: { storageAccountType: "Premium_LRS" },
                    deleteOption: "Delete",
                },
            },
            osProfile: {
                computerName: name,
                adminUsername: r.sshUser,
                customData: this.userData.apply((u) => Buffer.from(u, "utf8").toString("base64")),
                linuxConfiguration: {
                    disablePasswordAuthentication: true,
                    ssh: {
                        publicKeys: [{
                            path: `/home/${r.sshUser}/.ssh/authorized_keys`,
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
            ...(r.spot ? { priority: "Spot", evictionPolicy: "Delete", billingProfile: { maxPrice: -1 } } : { priority: "Regular" }),
            tags,
        }, {
            ...child,
            // cloud-init runs once per VM: new user data only takes effect on a new one.
            replaceOnChanges: ["osProfile.customData"],
            // The new VM needs the NIC the old one holds: delete first.
            deleteBeforeReplace: true,
        });
        this.instanceId = vm.vmId;
        this.address = ip.ipAddress.apply((a) => {
            if (!a) throw new Error(`${who}: the static public IP has no address`);
            return a;
        });

        const conn = connectHost(this, name, {
            address: this.address,
            user: r.sshUser,
            privateKey: args.sshPrivateKey,
            machineId: vm.vmId,
            machine: vm,
            gpuCheckImage: r.gpuCheckImage,
            readinessTimeoutSeconds: r.readinessTimeoutSeconds,
            keyDir: r.keyDir,
            networkDependsOn: [nsg, nic],
        });
        this.run = conn.run;
        this.ready = conn.ready;
        this.provider = conn.provider;
        this.onHost = conn.onHost;
        this.sshCommand = conn.sshCommand;
        this.details = {
            region: location, zone: this.zone, instanceType: vmSize, spot: r.spot, ssh: this.sshCommand,
        };
        this.registerOutputs({
            address: this.address, instanceId: this.instanceId, sshCommand: this.sshCommand,
        });
    }
}
