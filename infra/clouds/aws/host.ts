// One GPU VM on AWS EC2 in its own VPC, made a Docker host by cloud-init and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { awsGpu } from "./catalog";
import { CLOUD_PLATFORM, CloudHostArgs, byFamily, cidrId, cloudRemoteArgs, ingressRules, redisIngressRules, renderUserData, vmHostKey } from "../common";
import { AWS_HOST_TYPE, vmName } from "../../contract/names";
import type { MachineDetails } from "../../contract/details";
import { DataDiskRecord, MachineRecord, RemoteHost, connectRemote, sshAccess } from "../../hosts/remote";
import { awsEbsDevice } from "../../shell/dataDisk";

/** Canonical's AWS account, the publisher of the official Ubuntu AMIs. */
export const CANONICAL_AWS_OWNER = "099720109477";
/** Ubuntu 24.04 LTS (noble) server AMIs on gp3 root volumes. */
export const UBUNTU_2404_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

/**
 * The device name a fleet hub's data volume is attached as: one of those AWS reserves for EBS data
 * volumes on Linux (/dev/sd[f-p], https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html).
 * On Nitro it names nothing in the guest; the volume is found by its id (infra/shell/dataDisk.ts).
 */
export const AWS_DATA_DEVICE = "/dev/sdf";

const VPC_CIDR = "10.42.0.0/16";
const SUBNET_CIDR = "10.42.1.0/24";

export interface AwsGpuHostArgs extends CloudHostArgs {
    /**
     * Region, availability zone and GPU instance type (g4dn: T4, g5: A10G, g6: L4), as validated by
     * config. zone "" (or absent) is the first zone of the region that offers the type.
     */
    readonly aws: { readonly region: string; readonly zone?: string; readonly instanceType: string };
}

/** The EC2 instance and its network: what AwsGpuHost's machine is. */
export interface AwsMachine {
    readonly instance: aws.ec2.Instance;
    /** The availability zone the instance type is offered in. */
    readonly zone: pulumi.Output<string>;
    /** The rendered cloud-config handed to the instance as user data. */
    readonly userData: pulumi.Output<string>;
}

/** One GPU VM on EC2, connected as a GpuHost. */
export class AwsGpuHost extends pulumi.ComponentResource {
    /** The host as the service sees it. */
    public readonly host: RemoteHost;
    /** The EC2 instance id. */
    public readonly instanceId: pulumi.Output<string>;
    /** The availability zone. */
    public readonly zone: pulumi.Output<string>;
    /** The rendered cloud-config. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: AwsGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super(AWS_HOST_TYPE, name, {}, opts);
        const remote = cloudRemoteArgs(args);
        const access = sshAccess(name, remote);
        const { vm, record } = awsMachine(this, name, args);
        this.host = connectRemote(this, name, remote, access, record);
        this.instanceId = vm.instance.id;
        this.zone = vm.zone;
        this.userData = vm.userData;
        this.registerOutputs({ address: this.host.address, machineId: this.host.machineId, sshCommand: this.host.sshCommand });
    }
}

/** The instance in its own VPC, with an Elastic IP and a firewall from the shared policy. */
function awsMachine(parent: pulumi.Resource, name: string, args: AwsGpuHostArgs): { vm: AwsMachine; record: MachineRecord } {
    const { region, instanceType } = args.aws;
    const prefix = `${args.tags.project}-${args.tags.stack}-${name}`;
    const tags = (suffix: string) => ({ ...args.tags, Name: `${prefix}-${suffix}` });
    // The region comes from config, not from the operator's AWS_REGION or profile.
    const provider = new aws.Provider(`${name}-provider`, { region }, { parent });
    const child = { parent, provider };

    // GPU types are not offered in every zone of a region: without a zone of its own (a candidate's),
    // put the subnet where this one is.
    const zone = args.aws.zone ? pulumi.output(args.aws.zone) : aws.ec2.getInstanceTypeOfferingsOutput({
        locationType: "availability-zone",
        filters: [{ name: "instance-type", values: [instanceType] }],
    }, child).apply((o) => {
        const zones = [...o.locations].sort();
        if (zones.length === 0) throw new Error(`AwsGpuHost ${name}: ${instanceType} is not offered in any availability zone of ${region}`);
        return zones[0];
    });
    const ami = aws.ec2.getAmiOutput({
        owners: [CANONICAL_AWS_OWNER],
        mostRecent: true,
        filters: [
            { name: "name", values: [UBUNTU_2404_AMI_NAME] },
            { name: "architecture", values: ["x86_64"] },
            { name: "virtualization-type", values: ["hvm"] },
            { name: "root-device-type", values: ["ebs"] },
        ],
    }, child);

    const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
        cidrBlock: VPC_CIDR, enableDnsSupport: true, enableDnsHostnames: true, tags: tags("vpc"),
    }, child);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, child);
    const subnet = new aws.ec2.Subnet(`${name}-subnet`, {
        vpcId: vpc.id, cidrBlock: SUBNET_CIDR, availabilityZone: zone, tags: tags("subnet"),
    }, child);
    const routes = new aws.ec2.RouteTable(`${name}-routes`, {
        vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags("routes"),
    }, child);
    const routesAssoc = new aws.ec2.RouteTableAssociation(`${name}-routes-assoc`, { subnetId: subnet.id, routeTableId: routes.id }, child);

    // Rules as separate resources, one CIDR each, as the provider docs advise over inline rules.
    const sg = new aws.ec2.SecurityGroup(`${name}-sg`, {
        vpcId: vpc.id, description: `gpu-hosts ${prefix}: SSH and idle slot from operators, live API from clients`, tags: tags("sg"),
    }, child);
    const firewall: pulumi.Resource[] = [];
    for (const rule of ingressRules(args)) {
        const { ipv4, ipv6 } = byFamily(rule.cidrs);
        for (const cidr of [...ipv4, ...ipv6]) {
            firewall.push(new aws.vpc.SecurityGroupIngressRule(`${name}-${rule.name}-${cidrId(cidr)}`, {
                securityGroupId: sg.id,
                ipProtocol: "tcp",
                fromPort: rule.port,
                toPort: rule.port,
                ...(ipv6.includes(cidr) ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
                description: rule.description,
                tags: tags(`${rule.name}-${cidrId(cidr)}`),
            }, child));
        }
    }
    // A fleet hub's Redis: one rule per worker host, named after it. Its address may be known only at
    // deploy time, so the rule's IP version is decided when it resolves, the other field left unset.
    for (const rule of redisIngressRules(args)) {
        const family = (v6: boolean) => pulumi.all([rule.cidr, rule.ipv6]).apply(([c, ipv6]) => (ipv6 === v6 ? c : undefined)) as pulumi.Output<string>;
        new aws.vpc.SecurityGroupIngressRule(`${name}-${rule.name}`, {
            securityGroupId: sg.id,
            ipProtocol: "tcp",
            fromPort: rule.port,
            toPort: rule.port,
            cidrIpv4: family(false),
            cidrIpv6: family(true),
            description: rule.description,
            tags: tags(rule.name),
        }, child);
    }
    // A security group managed by Pulumi starts without AWS's default allow-all egress.
    new aws.vpc.SecurityGroupEgressRule(`${name}-egress`, {
        securityGroupId: sg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "all outbound", tags: tags("egress"),
    }, child);

    const keyPair = new aws.ec2.KeyPair(`${name}-key`, {
        publicKey: pulumi.output(args.sshPublicKey).apply((k) => k.trim()), tags: tags("key"),
    }, child);

    // The Elastic IP goes on a network interface made before the instance, so the instance
    // has its public address (and internet access for cloud-init's apt) from its first boot.
    const eni = new aws.ec2.NetworkInterface(`${name}-eni`, {
        subnetId: subnet.id, securityGroups: [sg.id], description: `gpu-hosts ${prefix}`, tags: tags("eni"),
    }, child);
    const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags: tags("eip") }, child);
    // An EIP needs the VPC's internet gateway attached first.
    const eipAssoc = new aws.ec2.EipAssociation(`${name}-eip-assoc`, {
        allocationId: eip.allocationId, networkInterfaceId: eni.id,
    }, { ...child, dependsOn: [igw] });

    const hostKey = vmHostKey(parent, name);
    const userData = renderUserData(args, true, hostKey, false);
    const instance = new aws.ec2.Instance(vmName(name), {
        ami: ami.id,
        instanceType,
        keyName: keyPair.keyName,
        primaryNetworkInterface: { networkInterfaceId: eni.id },
        userData,
        // cloud-init runs once per instance: new user data only takes effect on a new one.
        userDataReplaceOnChange: true,
        // IMDSv2 only; a hop limit of 1 keeps containers (one hop further) off the metadata service.
        // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        rootBlockDevice: {
            volumeType: "gp3", volumeSize: args.diskGb, encrypted: true, deleteOnTermination: true, tags: tags("root"),
        },
        // One-time spot requests can only terminate on interruption (stop/hibernate need a
        // persistent request). The host is disposable: the EIP, key and network stay, and
        // `npm run recover` builds an identical one (README: spot interruptions).
        // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html
        instanceMarketOptions: args.spot
            ? { marketType: "spot", spotOptions: { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" } }
            : undefined,
        tags: tags("vm"),
    }, {
        ...child,
        dependsOn: [eipAssoc, routesAssoc],
        // The new instance needs the ENI (and so the Elastic IP) the old one holds: delete first.
        deleteBeforeReplace: true,
        // getAmi follows Canonical's newest build; move to it deliberately with `pulumi up --replace`.
        ignoreChanges: ["ami"],
    });
    const dataDisk = args.fleetHub ? awsDataDisk(name, args, { zone, instance, tags: tags("data"), child }) : undefined;
    const address = eip.publicIp;
    const details: MachineDetails<"aws"> = { kind: "aws", region, zone, instanceType, spot: args.spot };
    return {
        vm: { instance, zone, userData },
        record: {
            address, machineId: instance.id, hostKey: hostKey.publicKey, machine: instance, dependsOn: [...firewall, eipAssoc, routesAssoc],
            setup: { by: "cloud-init" }, gpuModel: awsGpu(instanceType), platform: CLOUD_PLATFORM, details,
            ...(dataDisk ? { dataDisk } : {}),
        },
    };
}

/**
 * A fleet hub's data volume (`<host>-data`) and its attachment to the instance (`<host>-data-attach`).
 * The volume is no part of the instance: not a block device in its args, nothing of it in the
 * volume's inputs but the zone, and neither the machine's replacementTrigger nor deletedWith; so a
 * replaced or recovered instance leaves it, and recover drops only the attachment (it depends on the
 * instance). A volume attached after launch has DeleteOnTermination false, so terminating the instance
 * keeps it (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/preserving-volumes-on-termination.html).
 * `pulumi destroy` deletes it like any other resource, data and all: the stack owns it.
 */
function awsDataDisk(name: string, args: AwsGpuHostArgs, on: {
    zone: pulumi.Output<string>; instance: aws.ec2.Instance; tags: Record<string, string>; child: pulumi.CustomResourceOptions;
}): DataDiskRecord {
    const sizeGb = args.fleetHub!.dataDiskGb;
    const volume = new aws.ebs.Volume(`${name}-data`, {
        availabilityZone: on.zone, size: sizeGb, type: "gp3", encrypted: true, tags: on.tags,
    }, on.child);
    const attachment = new aws.ec2.VolumeAttachment(`${name}-data-attach`, {
        instanceId: on.instance.id,
        volumeId: volume.id,
        deviceName: AWS_DATA_DEVICE,
        // Detaching stops the instance first, so Redis is shut down (and its AOF synced) by the
        // instance's own shutdown before the volume leaves it; the provider then detaches, and takes a
        // volume already "available" (a terminated instance's) as detached
        // (terraform-provider-aws internal/service/ec2/ebs_volume_attachment.go, resourceVolumeAttachmentDelete).
        // A one-time spot instance cannot be stopped; a hub is never spot (config).
        stopInstanceBeforeDetaching: !args.spot,
    }, {
        ...on.child,
        // A new volume on the same instance would take the device name the old one still holds.
        deleteBeforeReplace: true,
    });
    return { devices: volume.id.apply((id) => [awsEbsDevice(id)]), sizeGb, diskId: volume.id, attachment };
}
