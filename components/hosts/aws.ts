// One GPU VM on AWS EC2 in its own VPC, made a Docker host by cloud-init and reached over SSH.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import { AWS_ALLOWED, AWS_REGION, GpuModel, awsGpu } from "./catalog";
import {
    CLOUD_PLATFORM, CloudHostArgs, HostDetails, byFamily, cidrId, ingressRules, renderUserData, resolveCloudHostArgs,
} from "./cloud";
import { GpuHost, HostResourceOptions, HostRunner } from "./gpuHost";
import { connectHost } from "./ssh";

/** Canonical's AWS account, the publisher of the official Ubuntu AMIs. */
export const CANONICAL_AWS_OWNER = "099720109477";
/** Ubuntu 24.04 LTS (noble) server AMIs on gp3 root volumes. */
export const UBUNTU_2404_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

const VPC_CIDR = "10.42.0.0/16";
const SUBNET_CIDR = "10.42.1.0/24";

export interface AwsGpuHostArgs extends CloudHostArgs {
    /** Region and GPU instance type (g4dn: T4, g5: A10G, g6: L4), as validated by config. */
    readonly aws: { readonly region: string; readonly instanceType: string };
}

export class AwsGpuHost extends pulumi.ComponentResource implements GpuHost {
    /** Logical name. */
    public readonly name: string;
    /** Always "aws". */
    public readonly kind = "aws" as const;
    /** Always true. */
    public readonly gpu = true;
    /** The instance type's GPU. */
    public readonly gpuModel: GpuModel;
    /** The Elastic IP. */
    public readonly address: pulumi.Output<string>;
    /** All interfaces: the public IP is NAT'd onto a private address, and the security group decides who gets in. */
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
    /** The region. */
    public readonly region: string;
    /** The availability zone the instance type is offered in. */
    public readonly zone: pulumi.Output<string>;
    /** The EC2 instance type. */
    public readonly instanceType: string;
    /** Whether the instance is a one-time spot instance. */
    public readonly spot: boolean;
    /** The EC2 instance id. */
    public readonly instanceId: pulumi.Output<string>;
    /** `ssh ...` command line for the operator. */
    public readonly sshCommand: pulumi.Output<string>;
    /** The rendered cloud-config handed to the instance as user data. */
    public readonly userData: pulumi.Output<string>;

    constructor(name: string, args: AwsGpuHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-hosts:hosts:AwsGpuHost", name, {}, opts);
        const who = `AwsGpuHost ${name}`;
        const { region, instanceType } = args.aws;
        const gpuModel = awsGpu(instanceType);
        const problems: string[] = [];
        if (!AWS_REGION.test(region)) problems.push(`${who}: aws.region must be an AWS region, e.g. "us-east-1", got ${JSON.stringify(region)}`);
        if (!gpuModel) problems.push(`${who}: aws.instanceType must be ${AWS_ALLOWED}, got ${JSON.stringify(instanceType)}`);
        const r = resolveCloudHostArgs(who, args, problems);

        this.name = name;
        this.gpuModel = gpuModel!;
        this.sshUser = r.sshUser;
        this.region = region;
        this.instanceType = instanceType;
        this.spot = r.spot;
        const prefix = `${r.tags.project ?? pulumi.getProject()}-${r.tags.stack ?? pulumi.getStack()}-${name}`;
        const tags = (suffix: string) => ({ ...r.tags, Name: `${prefix}-${suffix}` });

        // The region comes from config, not from the operator's AWS_REGION or profile.
        const provider = new aws.Provider(`${name}-provider`, { region }, { parent: this });
        const child = { parent: this, provider };

        // GPU types are not offered in every zone of a region; put the subnet where this one is.
        this.zone = aws.ec2.getInstanceTypeOfferingsOutput({
            locationType: "availability-zone",
            filters: [{ name: "instance-type", values: [instanceType] }],
        }, child).apply((o) => {
            const zones = [...o.locations].sort();
            if (zones.length === 0) throw new Error(`${who}: ${instanceType} is not offered in any availability zone of ${region}`);
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
            vpcId: vpc.id, cidrBlock: SUBNET_CIDR, availabilityZone: this.zone, tags: tags("subnet"),
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
        for (const rule of ingressRules(r)) {
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

        this.userData = renderUserData(r, args.sshPublicKey, true);
        const instance = new aws.ec2.Instance(`${name}-vm`, {
            ami: ami.id,
            instanceType,
            keyName: keyPair.keyName,
            primaryNetworkInterface: { networkInterfaceId: eni.id },
            userData: this.userData,
            // cloud-init runs once per instance: new user data only takes effect on a new one.
            userDataReplaceOnChange: true,
            // IMDSv2 only; a hop limit of 1 keeps containers (one hop further) off the metadata service.
            // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            rootBlockDevice: {
                volumeType: "gp3", volumeSize: r.diskGb, encrypted: true, deleteOnTermination: true, tags: tags("root"),
            },
            // One-time spot requests can only terminate on interruption (stop/hibernate need a
            // persistent request). The host is disposable: the EIP, key and network stay, and
            // `npm run recover` builds an identical one (README: spot interruptions).
            // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html
            instanceMarketOptions: r.spot
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
        this.instanceId = instance.id;
        this.address = eip.publicIp;

        const conn = connectHost(this, name, {
            address: this.address,
            user: r.sshUser,
            privateKey: args.sshPrivateKey,
            machineId: instance.id,
            machine: instance,
            gpuCheckImage: r.gpuCheckImage,
            readinessTimeoutSeconds: r.readinessTimeoutSeconds,
            keyDir: r.keyDir,
            networkDependsOn: [...firewall, eipAssoc, routesAssoc],
        });
        this.run = conn.run;
        this.ready = conn.ready;
        this.provider = conn.provider;
        this.onHost = conn.onHost;
        this.sshCommand = conn.sshCommand;
        this.details = {
            region, zone: this.zone, instanceType, spot: r.spot, ssh: this.sshCommand,
        };
        this.registerOutputs({
            address: this.address, instanceId: this.instanceId, zone: this.zone, sshCommand: this.sshCommand,
        });
    }
}
