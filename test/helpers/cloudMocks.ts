// Cloud resource types and invokes (AWS, GCP, Azure) for the strict mocks, with realistic outputs.
// Like the real APIs, they reject what the clouds reject (a Spot VM that restarts itself, GPUs
// that live-migrate, an EIP outside a VPC...), and every cloud resource and invoke must name an
// explicit provider of its cloud: the region/project/location then comes from that provider,
// as it does in the real program.
import type { CallMock, ResourceMock } from "./mocks";
import { docIp, hex } from "./ids";

type Args = { type?: string; token?: string; name?: string; inputs: Record<string, any>; provider?: string };

/** Provider inputs by provider id, so resources and invokes can find their region. */
const providers = new Map<string, { pkg: string; inputs: Record<string, any> }>();

function fail(a: Args, why: string): never {
    throw new Error(`strict mocks: ${a.type ?? a.token} ${a.name ?? ""}: ${why}`);
}

function need(a: Args, ...keys: string[]): void {
    for (const k of keys) {
        if (a.inputs[k] === undefined || a.inputs[k] === null || a.inputs[k] === "") fail(a, `missing required input ${k}`);
    }
}

function providerMock(pkg: string, required: string[]): ResourceMock {
    return (a) => {
        need(a, ...required);
        const id = `${hex(`provider:${pkg}:${a.name}`, 8)}-${hex(`${a.name}:${JSON.stringify(a.inputs)}`, 4)}`;
        providers.set(id, { pkg, inputs: a.inputs });
        return { id, state: {} };
    };
}

/** The inputs of the explicit provider of `pkg` that `a` was given; fails without one. */
function providerOf(a: Args, pkg: string): Record<string, any> {
    if (!a.provider) fail(a, `no explicit ${pkg} provider (the region would come from ambient settings)`);
    const ref = a.provider;
    const found = providers.get(ref.split("::").pop() ?? "");
    if (!found || !ref.includes(`pulumi:providers:${pkg}::`)) fail(a, `provider ${ref} is not a ${pkg} provider`);
    return found.inputs;
}

const autoName = (a: Args, given: unknown, sep = "-") => (typeof given === "string" && given !== "" ? given : `${a.name}${sep}${hex(`name:${a.name}`, 7)}`);

// ---- AWS -------------------------------------------------------------------------------------

const ACCOUNT = "123456789012";
const awsId = (prefix: string, a: Args) => `${prefix}-0${hex(`${prefix}:${a.name}`, 16)}`;
const arn = (region: string, service: string, resource: string) => `arn:aws:${service}:${region}:${ACCOUNT}:${resource}`;

function awsResource(prefix: string, arnKind: string, required: string[], extra: (a: Args, id: string, region: string) => Record<string, any> = () => ({})): ResourceMock {
    return (a) => {
        const { region } = providerOf(a, "aws");
        need(a, ...required);
        const id = awsId(prefix, a);
        return { id, state: { arn: arn(region, "ec2", `${arnKind}/${id}`), ownerId: ACCOUNT, tagsAll: a.inputs.tags ?? {}, ...extra(a, id, region) } };
    };
}

function sgRule(prefix: string): ResourceMock {
    return (a) => {
        const { region } = providerOf(a, "aws");
        need(a, "securityGroupId", "ipProtocol");
        const targets = ["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"].filter((k) => a.inputs[k] !== undefined);
        if (targets.length !== 1) fail(a, `exactly one of cidrIpv4, cidrIpv6, prefixListId, referencedSecurityGroupId is required, got ${targets.join(", ") || "none"}`);
        if (a.inputs.ipProtocol !== "-1") need(a, "fromPort", "toPort");
        const id = `sgr-0${hex(`${prefix}:${a.name}`, 16)}`;
        return { id, state: { arn: arn(region, "ec2", `security-group-rule/${id}`), securityGroupRuleId: id, tagsAll: a.inputs.tags ?? {} } };
    };
}

/** Each subnet's zone, each ENI's subnet and each volume's zone, by id: AttachVolume checks the instance's zone against the volume's. */
const awsZones = { subnet: new Map<string, string>(), eni: new Map<string, string>(), volume: new Map<string, string>(), instance: new Map<string, string>() };

const AWS_RESOURCES: Record<string, ResourceMock> = {
    "pulumi:providers:aws": providerMock("aws", ["region"]),
    "aws:ec2/vpc:Vpc": awsResource("vpc", "vpc", ["cidrBlock"], (a, id) => ({
        defaultRouteTableId: `rtb-0${hex(`main:${id}`, 16)}`,
        mainRouteTableId: `rtb-0${hex(`main:${id}`, 16)}`,
        defaultSecurityGroupId: `sg-0${hex(`default:${id}`, 16)}`,
        instanceTenancy: "default",
    })),
    "aws:ec2/internetGateway:InternetGateway": awsResource("igw", "internet-gateway", ["vpcId"]),
    "aws:ec2/subnet:Subnet": awsResource("subnet", "subnet", ["vpcId", "cidrBlock", "availabilityZone"], (a, id, region) => {
        if (!String(a.inputs.availabilityZone).startsWith(region)) fail(a, `availability zone ${a.inputs.availabilityZone} is not in ${region}`);
        awsZones.subnet.set(id, a.inputs.availabilityZone);
        return { availabilityZoneId: `use1-az${parseInt(hex(a.name!, 1), 16) % 6 + 1}`, mapPublicIpOnLaunch: a.inputs.mapPublicIpOnLaunch ?? false };
    }),
    "aws:ec2/routeTable:RouteTable": awsResource("rtb", "route-table", ["vpcId"]),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (a) => {
        providerOf(a, "aws");
        need(a, "subnetId", "routeTableId");
        return { id: awsId("rtbassoc", a) };
    },
    "aws:ec2/securityGroup:SecurityGroup": awsResource("sg", "security-group", ["vpcId"], (a) => ({
        name: autoName(a, a.inputs.name),
        // The provider removes AWS's default allow-all egress rule from groups it creates.
        egress: [],
        ingress: [],
    })),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": sgRule("ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": sgRule("egress"),
    "aws:ec2/keyPair:KeyPair": (a) => {
        const { region } = providerOf(a, "aws");
        need(a, "publicKey");
        const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+={0,3}( .*)?$/.exec(a.inputs.publicKey);
        if (!m) fail(a, `publicKey is not a one-line OpenSSH public key: ${JSON.stringify(a.inputs.publicKey)}`);
        if (m[1].startsWith("ecdsa")) fail(a, "EC2 key pairs take RSA or ED25519 keys only");
        const keyName = autoName(a, a.inputs.keyName);
        return {
            id: keyName,
            state: {
                keyName,
                keyPairId: `key-0${hex(`key:${a.name}`, 16)}`,
                keyType: m[1] === "ssh-ed25519" ? "ed25519" : "rsa",
                fingerprint: hex(`fp:${a.inputs.publicKey}`, 43),
                arn: arn(region, "ec2", `key-pair/${keyName}`),
                tagsAll: a.inputs.tags ?? {},
            },
        };
    },
    "aws:ec2/networkInterface:NetworkInterface": awsResource("eni", "network-interface", ["subnetId"], (a, id) => (awsZones.eni.set(id, a.inputs.subnetId), {
        privateIp: `10.42.1.${parseInt(hex(a.name!, 2), 16) % 200 + 10}`,
        macAddress: `0e:${hex(`mac:${a.name}`, 10).match(/../g)!.join(":")}`,
        sourceDestCheck: true,
    })),
    "aws:ec2/eip:Eip": (a) => {
        const { region } = providerOf(a, "aws");
        if (a.inputs.domain !== "vpc") fail(a, `domain must be "vpc" (EC2-Classic is gone), got ${JSON.stringify(a.inputs.domain)}`);
        const id = `eipalloc-0${hex(`eip:${a.name}`, 16)}`;
        const ip = docIp(a.name!);
        const dnsDomain = region === "us-east-1" ? "compute-1.amazonaws.com" : `${region}.compute.amazonaws.com`;
        return {
            id,
            state: {
                allocationId: id, publicIp: ip, publicDns: `ec2-${ip.replace(/\./g, "-")}.${dnsDomain}`,
                domain: "vpc", arn: arn(region, "ec2", `elastic-ip/${id}`), tagsAll: a.inputs.tags ?? {},
            },
        };
    },
    "aws:ec2/eipAssociation:EipAssociation": (a) => {
        providerOf(a, "aws");
        need(a, "allocationId");
        if ((a.inputs.instanceId === undefined) === (a.inputs.networkInterfaceId === undefined)) fail(a, "needs exactly one of instanceId or networkInterfaceId");
        return { id: awsId("eipassoc", a), state: { associationId: awsId("eipassoc", a) } };
    },
    "aws:ec2/instance:Instance": (a, world) => {
        const { region } = providerOf(a, "aws");
        need(a, "ami", "instanceType");
        if (!/^ami-[0-9a-f]{8,17}$/.test(a.inputs.ami)) fail(a, `ami ${a.inputs.ami} is not an AMI id`);
        if (a.inputs.primaryNetworkInterface && (a.inputs.subnetId || a.inputs.vpcSecurityGroupIds)) {
            fail(a, "subnetId/vpcSecurityGroupIds conflict with primaryNetworkInterface");
        }
        const spot = a.inputs.instanceMarketOptions?.spotOptions;
        if (spot && spot.spotInstanceType !== "persistent" && ["stop", "hibernate"].includes(spot.instanceInterruptionBehavior)) {
            fail(a, "stop/hibernate interruption behavior needs a persistent spot request");
        }
        // A new incarnation of the VM (replaced, or recreated after a spot interruption) gets a new id.
        const id = `i-0${hex(`instance:${a.name}:${world.machineGeneration ?? 0}`, 16)}`;
        const subnet = awsZones.eni.get(a.inputs.primaryNetworkInterface?.networkInterfaceId ?? "") ?? a.inputs.subnetId;
        if (subnet && awsZones.subnet.has(subnet)) awsZones.instance.set(id, awsZones.subnet.get(subnet)!);
        return {
            id,
            state: {
                arn: arn(region, "ec2", `instance/${id}`),
                instanceState: "running",
                privateIp: `10.42.1.${parseInt(hex(a.name!, 2), 16) % 200 + 10}`,
                primaryNetworkInterfaceId: a.inputs.primaryNetworkInterface?.networkInterfaceId,
                instanceLifecycle: spot ? "spot" : "",
                spotInstanceRequestId: spot ? `sir-${hex(`sir:${a.name}`, 8)}` : "",
                tagsAll: a.inputs.tags ?? {},
            },
        };
    },
    // An EBS volume: zonal. gp3's baseline, 3000 IOPS and 125 MiB/s, is what EC2 gives a gp3 volume
    // created without either (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-ebs-volume-type);
    // the provider reads both back (terraform-provider-aws internal/service/ec2/ebs_volume.go, iops and throughput Computed).
    "aws:ebs/volume:Volume": (a) => {
        const { region } = providerOf(a, "aws");
        need(a, "availabilityZone");
        if (!String(a.inputs.availabilityZone).startsWith(region)) fail(a, `availability zone ${a.inputs.availabilityZone} is not in ${region}`);
        if (a.inputs.size === undefined && a.inputs.snapshotId === undefined) fail(a, "needs size or snapshotId");
        if (a.inputs.type === "gp3" && !(a.inputs.size >= 1 && a.inputs.size <= 16384)) fail(a, `a gp3 volume is 1-16384 GiB, got ${a.inputs.size}`);
        const id = `vol-0${hex(`volume:${a.name}`, 16)}`;
        awsZones.volume.set(id, a.inputs.availabilityZone);
        return {
            id,
            state: {
                arn: arn(region, "ec2", `volume/${id}`), encrypted: a.inputs.encrypted ?? false, type: a.inputs.type ?? "gp2",
                ...(a.inputs.type === "gp3" ? { iops: a.inputs.iops ?? 3000, throughput: a.inputs.throughput ?? 125 } : {}),
                tagsAll: a.inputs.tags ?? {},
            },
        };
    },
    // AttachVolume: the volume and the instance must be in the same zone (EC2's InvalidVolume.ZoneMismatch).
    "aws:ec2/volumeAttachment:VolumeAttachment": (a) => {
        providerOf(a, "aws");
        need(a, "deviceName", "instanceId", "volumeId");
        const [vz, iz] = [awsZones.volume.get(a.inputs.volumeId), awsZones.instance.get(a.inputs.instanceId)];
        if (!vz || !iz) fail(a, `unknown volume ${a.inputs.volumeId} or instance ${a.inputs.instanceId}`);
        if (vz !== iz) fail(a, `InvalidVolume.ZoneMismatch: volume ${a.inputs.volumeId} is in ${vz}, instance ${a.inputs.instanceId} in ${iz}`);
        if (!/^\/dev\/(sd[f-p]|xvd[f-p])$/.test(a.inputs.deviceName)) fail(a, `device name ${a.inputs.deviceName} is not one EC2 recommends for EBS data volumes`);
        // The provider's id: "vai-" and a hash of device, instance and volume (ebs_volume_attachment.go volumeAttachmentID).
        return { id: `vai-${parseInt(hex(`${a.inputs.deviceName}-${a.inputs.instanceId}-${a.inputs.volumeId}`, 8), 16)}` };
    },
};

/** Where each GPU family is offered, by zone letter (a stand-in for a real region's spread). */
const AWS_OFFERED_ZONES: Record<string, string[]> = { g4dn: ["d", "b", "c", "a", "f"], g5: ["c", "b", "a", "d", "f"], g6: ["d", "c", "b"] };

const AWS_CALLS: Record<string, CallMock> = {
    "aws:ec2/getAmi:getAmi": (a) => {
        const { region } = providerOf(a, "aws");
        const owners: string[] = a.inputs.owners ?? [];
        const nameFilter = (a.inputs.filters ?? []).find((f: any) => f.name === "name")?.values?.[0] ?? "";
        if (!owners.includes("099720109477") || !/^ubuntu\/images\/hvm-ssd(-gp3)?\/ubuntu-noble-24\.04-amd64-server-\*$/.test(nameFilter)) {
            throw new Error(`Your query returned no results (owners ${JSON.stringify(owners)}, name ${JSON.stringify(nameFilter)}); expected Canonical's noble AMIs`);
        }
        const id = `ami-0${hex(`ami:${region}`, 16)}`;
        return {
            id, imageId: id, name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250610", ownerId: "099720109477",
            architecture: "x86_64", virtualizationType: "hvm", rootDeviceType: "ebs", rootDeviceName: "/dev/sda1",
            creationDate: "2025-06-10T08:12:31.000Z", imageOwnerAlias: "", platformDetails: "Linux/UNIX", state: "available",
            bootMode: "uefi-preferred", blockDeviceMappings: [], productCodes: [], tags: {}, mostRecent: a.inputs.mostRecent,
        };
    },
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (a) => {
        const { region } = providerOf(a, "aws");
        if (a.inputs.locationType !== "availability-zone") fail(a, `locationType must be "availability-zone", got ${a.inputs.locationType}`);
        const type = (a.inputs.filters ?? []).find((f: any) => f.name === "instance-type")?.values?.[0] ?? "";
        const zones = (AWS_OFFERED_ZONES[type.split(".")[0]] ?? []).map((z) => `${region}${z}`);
        return {
            id: region, locations: zones, instanceTypes: zones.map(() => type),
            locationTypes: zones.map(() => "availability-zone"), filters: a.inputs.filters, locationType: a.inputs.locationType,
        };
    },
};

// ---- GCP -------------------------------------------------------------------------------------

const GCE = "https://www.googleapis.com/compute/v1";

function gcpResource(kind: string, scope: "global" | "regions" | "zones", required: string[], extra: (a: Args, name: string, p: Record<string, any>) => Record<string, any> = () => ({})): ResourceMock {
    return (a) => {
        const p = providerOf(a, "gcp");
        need(a, ...required);
        const name = autoName(a, a.inputs.name);
        if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) fail(a, `${name} is not a valid GCE resource name`);
        const where = scope === "global" ? "global" : scope === "regions" ? `regions/${a.inputs.region ?? p.region}` : `zones/${a.inputs.zone ?? p.zone}`;
        if (scope === "regions" && a.inputs.region && a.inputs.region !== p.region) fail(a, `region ${a.inputs.region} differs from the provider's ${p.region}`);
        const id = `projects/${p.project}/${where}/${kind}/${name}`;
        return { id, state: { name, project: p.project, selfLink: `${GCE}/${id}`, ...extra(a, name, p) } };
    };
}

/** Each persistent disk's zone, by self link: an instance attaches only a disk of its own zone. */
const gcpDiskZones = new Map<string, string>();

const GCP_RESOURCES: Record<string, ResourceMock> = {
    "pulumi:providers:gcp": providerMock("gcp", ["project", "region", "zone"]),
    // No gcp:projects/service:Service: the program enables no API (the operator enables Compute
    // Engine once, infra/clouds/gcp/apis.ts), so registering one is an unknown type here.
    "gcp:compute/network:Network": gcpResource("networks", "global", [], (a) => {
        if (a.inputs.autoCreateSubnetworks !== false) fail(a, "an auto-mode network would add a subnet in every region");
        return { routingMode: "REGIONAL", gatewayIpv4: "" };
    }),
    "gcp:compute/subnetwork:Subnetwork": gcpResource("subnetworks", "regions", ["network", "ipCidrRange"], (a) => ({
        gatewayAddress: a.inputs.ipCidrRange.replace(/\.0\/\d+$/, ".1"), stackType: "IPV4_ONLY",
    })),
    "gcp:compute/firewall:Firewall": gcpResource("firewalls", "global", ["network"], (a) => {
        if (!a.inputs.allows?.length && !a.inputs.denies?.length) fail(a, "needs allows or denies");
        if ((a.inputs.direction ?? "INGRESS") === "INGRESS" && !a.inputs.sourceRanges?.length && !a.inputs.sourceTags?.length) {
            fail(a, "an ingress rule needs sourceRanges or sourceTags");
        }
        return { creationTimestamp: "2025-06-12T09:00:00.000-07:00" };
    }),
    "gcp:compute/address:Address": gcpResource("addresses", "regions", [], (a) => ({
        address: docIp(a.name!), addressType: a.inputs.addressType ?? "EXTERNAL", networkTier: a.inputs.networkTier ?? "PREMIUM",
        status: "RESERVED", users: [],
    })),
    "gcp:compute/instance:Instance": (a, world) => {
        const p = providerOf(a, "gcp");
        need(a, "machineType", "bootDisk", "networkInterfaces");
        const zone = a.inputs.zone ?? p.zone;
        const mt: string = a.inputs.machineType;
        const accelerators: any[] = a.inputs.guestAccelerators ?? [];
        const s = a.inputs.scheduling ?? {};
        if (accelerators.length > 0 && !mt.startsWith("n1-")) fail(a, `${mt} comes with its GPUs; guestAccelerators are for N1`);
        if ((accelerators.length > 0 || mt.startsWith("g2-")) && s.onHostMaintenance !== "TERMINATE") {
            fail(a, "instances with GPUs do not support live migration: scheduling.onHostMaintenance must be TERMINATE");
        }
        if (s.provisioningModel === "SPOT" && (s.preemptible !== true || s.automaticRestart !== false)) {
            fail(a, "a SPOT instance needs preemptible true and automaticRestart false");
        }
        if (s.instanceTerminationAction && s.provisioningModel !== "SPOT") fail(a, "instanceTerminationAction is for SPOT instances only");
        for (const d of (a.inputs.attachedDisks ?? []) as any[]) {
            const dz = gcpDiskZones.get(d.source);
            if (!dz) fail(a, `attachedDisks: ${d.source} is not a disk's self link`);
            if (dz !== zone) fail(a, `attachedDisks: disk ${d.source} is in ${dz}, the instance in ${zone}`);
        }
        const name = autoName(a, a.inputs.name);
        const id = `projects/${p.project}/zones/${zone}/instances/${name}`;
        const instanceId = String(BigInt(`0x${hex(`gce:${a.name}:${world.machineGeneration ?? 0}`, 15)}`));
        return {
            id,
            state: {
                name, zone, project: p.project, instanceId, selfLink: `${GCE}/${id}`, currentStatus: "RUNNING",
                cpuPlatform: mt.startsWith("g2-") ? "Intel Cascade Lake" : "Intel Broadwell",
                networkInterfaces: (a.inputs.networkInterfaces as any[]).map((n, i) => ({ ...n, name: `nic${i}`, networkIp: `10.42.1.${i + 2}` })),
                labelSelfLink: `${GCE}/${id}`, effectiveLabels: a.inputs.labels ?? {},
            },
        };
    },
    // A zonal persistent disk. Without a type the API makes pd-standard; the provider reads the
    // type back (terraform-provider-google resource_compute_disk.go, "type" Optional with a default of "pd-standard").
    "gcp:compute/disk:Disk": (a) => {
        const p = providerOf(a, "gcp");
        const zone = a.inputs.zone ?? p.zone;
        if (!String(zone).startsWith(`${p.region}-`)) fail(a, `zone ${zone} is not in the provider's region ${p.region}`);
        if (a.inputs.size === undefined && !a.inputs.image && !a.inputs.snapshot) fail(a, "a blank disk needs a size");
        const r = gcpResource("disks", "zones", [], (x) => ({
            zone, type: x.inputs.type ?? "pd-standard", users: [], effectiveLabels: x.inputs.labels ?? {},
        }))({ ...a, inputs: { ...a.inputs, zone } } as any, {} as any);
        gcpDiskZones.set(r.state!.selfLink, zone);
        return r;
    },
};

const GCP_CALLS: Record<string, CallMock> = {
    "gcp:compute/getImage:getImage": (a) => {
        providerOf(a, "gcp");
        if (a.inputs.project !== "ubuntu-os-cloud" || a.inputs.family !== "ubuntu-2404-lts-amd64") {
            throw new Error(`The resource 'projects/${a.inputs.project}/global/images/family/${a.inputs.family}' was not found`);
        }
        const name = "ubuntu-2404-noble-amd64-v20250606";
        return {
            id: `projects/ubuntu-os-cloud/global/images/${name}`, name, family: a.inputs.family, project: a.inputs.project,
            selfLink: `${GCE}/projects/ubuntu-os-cloud/global/images/${name}`, diskSizeGb: 10, status: "READY",
            archiveSizeBytes: 1234567890, creationTimestamp: "2025-06-06T10:00:00.000-07:00", description: "Canonical, Ubuntu, 24.04 LTS, amd64 noble image built on 2025-06-06",
            labels: {}, licenses: [`${GCE}/projects/ubuntu-os-cloud/global/licenses/ubuntu-2404-lts`], sourceDiskId: "", sourceImageId: "",
        };
    },
};

// ---- Azure -----------------------------------------------------------------------------------

const SUBSCRIPTION = "6f1c0a2e-3b4d-4c5e-8f90-a1b2c3d4e5f6";
const guid = (seed: string) => hex(seed, 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");

function azureResource(kind: string, nameKey: string, required: string[], extra: (a: Args, id: string, name: string) => Record<string, any> = () => ({})): ResourceMock {
    return (a) => {
        const p = providerOf(a, "azure-native");
        need(a, "resourceGroupName", ...required);
        if (a.inputs.location !== undefined && a.inputs.location !== p.location) fail(a, `location ${a.inputs.location} differs from the provider's ${p.location}`);
        const name = autoName(a, a.inputs[nameKey], "");
        const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${a.inputs.resourceGroupName}/providers/${kind}/${name}`;
        return { id, state: { name, [nameKey]: name, provisioningState: "Succeeded", etag: `W/"${guid(`etag:${a.name}`)}"`, ...extra(a, id, name) } };
    };
}

const AZURE_DEFAULT_RULES = [
    { name: "AllowVnetInBound", priority: 65000, direction: "Inbound", access: "Allow", sourceAddressPrefix: "VirtualNetwork", destinationPortRange: "*" },
    { name: "AllowAzureLoadBalancerInBound", priority: 65001, direction: "Inbound", access: "Allow", sourceAddressPrefix: "AzureLoadBalancer", destinationPortRange: "*" },
    { name: "DenyAllInBound", priority: 65500, direction: "Inbound", access: "Deny", sourceAddressPrefix: "*", destinationPortRange: "*" },
];

const AZURE_RESOURCES: Record<string, ResourceMock> = {
    "pulumi:providers:azure-native": providerMock("azure-native", ["location"]),
    "azure-native:resources:ResourceGroup": (a) => {
        const p = providerOf(a, "azure-native");
        if (a.inputs.location !== p.location) fail(a, `location ${a.inputs.location} differs from the provider's ${p.location}`);
        const name = autoName(a, a.inputs.resourceGroupName, "");
        return { id: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${name}`, state: { name, resourceGroupName: name, provisioningState: "Succeeded" } };
    },
    "azure-native:network:VirtualNetwork": azureResource("Microsoft.Network/virtualNetworks", "virtualNetworkName", ["addressSpace"], () => ({ subnets: [] })),
    "azure-native:network:Subnet": (a) => {
        providerOf(a, "azure-native");
        need(a, "resourceGroupName", "virtualNetworkName");
        if (!a.inputs.addressPrefix && !a.inputs.addressPrefixes) fail(a, "needs addressPrefix");
        const name = autoName(a, a.inputs.subnetName, "");
        const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${a.inputs.resourceGroupName}/providers/Microsoft.Network/virtualNetworks/${a.inputs.virtualNetworkName}/subnets/${name}`;
        return { id, state: { name, provisioningState: "Succeeded" } };
    },
    "azure-native:network:NetworkSecurityGroup": azureResource("Microsoft.Network/networkSecurityGroups", "networkSecurityGroupName", [], (a) => {
        const rules: any[] = a.inputs.securityRules ?? [];
        const seen = new Set<string>();
        for (const r of rules) {
            if (!(r.priority >= 100 && r.priority <= 4096)) fail(a, `rule ${r.name}: priority must be 100-4096`);
            const key = `${r.direction}:${r.priority}`;
            if (seen.has(key)) fail(a, `rule ${r.name}: two ${r.direction} rules with priority ${r.priority}`);
            seen.add(key);
            if (r.sourceAddressPrefix !== undefined && r.sourceAddressPrefixes !== undefined) fail(a, `rule ${r.name}: sourceAddressPrefix and sourceAddressPrefixes are exclusive`);
        }
        return { defaultSecurityRules: AZURE_DEFAULT_RULES, resourceGuid: guid(`nsg:${a.name}`) };
    }),
    "azure-native:network:PublicIPAddress": azureResource("Microsoft.Network/publicIPAddresses", "publicIpAddressName", [], (a) => {
        if (a.inputs.sku?.name === "Standard" && a.inputs.publicIPAllocationMethod !== "Static") fail(a, "a Standard public IP must be Static");
        return { ipAddress: docIp(a.name!), resourceGuid: guid(`pip:${a.name}`) };
    }),
    "azure-native:network:NetworkInterface": azureResource("Microsoft.Network/networkInterfaces", "networkInterfaceName", ["ipConfigurations"], (a) => ({
        macAddress: hex(`mac:${a.name}`, 12).toUpperCase().match(/../g)!.join("-"),
        ipConfigurations: (a.inputs.ipConfigurations as any[]).map((c) => ({ ...c, privateIPAddress: "10.42.1.4" })),
        resourceGuid: guid(`nic:${a.name}`),
    })),
    "azure-native:compute:VirtualMachine": (a, world) => azureResource("Microsoft.Compute/virtualMachines", "vmName", ["hardwareProfile", "storageProfile", "osProfile", "networkProfile"], (a) => {
        const i = a.inputs;
        if (i.priority === "Spot" && !i.evictionPolicy) fail(a, "a Spot VM needs an evictionPolicy");
        if (i.priority !== "Spot" && (i.evictionPolicy !== undefined || i.billingProfile !== undefined)) {
            fail(a, "evictionPolicy and billingProfile are for Spot VMs only");
        }
        const linux = i.osProfile.linuxConfiguration;
        if (linux?.disablePasswordAuthentication && !linux.ssh?.publicKeys?.length) fail(a, "password login is disabled but no SSH public key is given");
        if (i.osProfile.customData !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(i.osProfile.customData)) fail(a, "customData must be base64");
        if (i.osProfile.customData !== undefined && i.osProfile.customData.length > 87380) fail(a, "customData is over 64 KiB");
        const luns = new Set<number>();
        for (const d of (i.storageProfile.dataDisks ?? []) as any[]) {
            if (luns.has(d.lun)) fail(a, `two data disks at LUN ${d.lun}`);
            luns.add(d.lun);
            if (d.createOption === "Attach" && !String(d.managedDisk?.id ?? "").includes("/providers/Microsoft.Compute/disks/")) fail(a, `data disk at LUN ${d.lun}: Attach needs a managed disk's id`);
        }
        return { vmId: guid(`vm:${a.name}:${world.machineGeneration ?? 0}`), timeCreated: "2025-06-12T16:00:00.0000000+00:00" };
    })(a, world),
};

// A managed disk: an Empty one needs its size (ARM CreationData, createOption "Empty: Create an empty
// data disk of a size given by diskSizeGB"). No default is modelled: the program names its sku.
AZURE_RESOURCES["azure-native:compute:Disk"] = azureResource("Microsoft.Compute/disks", "diskName", ["creationData", "sku"], (a) => {
    if (a.inputs.creationData.createOption === "Empty" && !(a.inputs.diskSizeGB >= 1)) fail(a, "an Empty disk needs diskSizeGB");
    return { diskState: "Unattached", uniqueId: guid(`disk:${a.name}`) };
});

export const CLOUD_RESOURCES: Record<string, ResourceMock> = { ...AWS_RESOURCES, ...GCP_RESOURCES, ...AZURE_RESOURCES };

export const CLOUD_CALLS: Record<string, CallMock> = { ...AWS_CALLS, ...GCP_CALLS };
