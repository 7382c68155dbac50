// One host per entry of `clouds`; every kind yields the same GpuHost shape.
import { HostKind, StackConfig } from "../config";
import { GpuHost } from "./gpuHost";
import { LocalHost } from "./local";

export function createHost(kind: HostKind, cfg: StackConfig): GpuHost {
    switch (kind) {
        case "local":
            return new LocalHost("local", cfg.local);
        case "aws":
        case "gcp":
        case "azure":
            throw new Error(`host kind ${kind} is not wired yet`);
        default: {
            const unreachable: never = kind;
            throw new Error(`unknown host kind ${unreachable}`);
        }
    }
}
