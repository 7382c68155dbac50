// One host per entry of `clouds`; every kind yields the same GpuHost shape.
import * as pulumi from "@pulumi/pulumi";
import { HostKind, StackConfig } from "../config";
import { AwsGpuHost } from "./aws";
import { AzureGpuHost } from "./azure";
import { StackSshKey, cloudHostArgs } from "./cloud";
import { GcpGpuHost } from "./gcp";
import { GpuHost } from "./gpuHost";
import { LocalHost } from "./local";
import { createStackKey } from "./ssh";

function createHost(kind: HostKind, cfg: StackConfig, key: () => StackSshKey): GpuHost {
    switch (kind) {
        case "local":
            return new LocalHost("local", cfg.local);
        case "aws":
            return new AwsGpuHost("aws", { ...cloudHostArgs(cfg, key()), aws: cfg.aws });
        case "gcp":
            return new GcpGpuHost("gcp", { ...cloudHostArgs(cfg, key()), gcp: cfg.gcp });
        case "azure":
            return new AzureGpuHost("azure", { ...cloudHostArgs(cfg, key()), azure: cfg.azure });
        default: {
            const unreachable: never = kind;
            throw new Error(`unknown host kind ${unreachable}`);
        }
    }
}

/** The stack's hosts, in `clouds` order. One generated SSH key serves every cloud host. */
export function createHosts(cfg: StackConfig): GpuHost[] {
    let key: StackSshKey | undefined;
    const stackKey = (): StackSshKey => {
        if (!key) {
            const k = createStackKey("ssh-key");
            key = { publicKey: k.publicKeyOpenssh, privateKey: pulumi.secret(k.privateKeyOpenssh) };
        }
        return key;
    };
    return cfg.clouds.map((kind) => createHost(kind, cfg, stackKey));
}
