// The machines the stack makes in a cloud: market, disk, login and driver. gpu-hosts:spot, diskGb,
// sshUser, sshPublicKey, nvidiaDriverBranch. A cloud's own section (where and what shape) is in
// infra/clouds/<cloud>/section.ts.
import { DRIVER_BRANCH, LINUX_USER, SSH_PUBLIC_KEY } from "../../validators";
import { defineKey } from "../schema";

/** What every cloud VM gets. */
export interface MachinesConfig {
    readonly spot: boolean;
    readonly sshUser: string;
    /** An operator's own public key, authorised beside the stack's generated one; "" for none. */
    readonly sshPublicKey: string;
    readonly diskGb: number;
    readonly nvidiaDriverBranch: string;
}

export const spot = defineKey<boolean>({
    key: "spot",
    schema: { type: "boolean", description: "Run cloud hosts on spot/preemptible capacity.", default: false },
    read: (r, raw, _ctx, fb) => r.bool("spot", raw, fb),
});

export const sshUser = defineKey<string>({
    key: "sshUser",
    schema: { type: "string", description: "Login user on cloud hosts.", default: "ubuntu" },
    read: (r, raw, _ctx, fb) => {
        const allowed = "a Linux user name other than root, e.g. \"ubuntu\"";
        const user = r.pattern("sshUser", raw, fb, LINUX_USER, allowed);
        // Root logs in without sudo and owns the Docker socket: the setup and the gates assume a user.
        if (user === "root") r.fail("sshUser", allowed, user);
        return user;
    },
});

export const sshPublicKey = defineKey<string>({
    key: "sshPublicKey",
    // Optional keys default to "" (unset): a key Pulumi.yaml declares without a default is required
    // on every stack by the engine.
    schema: {
        type: "string",
        description: "An operator's own OpenSSH public key, authorised beside the stack's generated key. \"\" for none.",
        default: "",
    },
    read: (r, raw) => (raw === "" || raw === undefined ? "" : r.pattern("sshPublicKey", raw, "", SSH_PUBLIC_KEY, `${SSH_PUBLIC_KEY.allowed}, or "" for none`)),
});

export const diskGb = defineKey<number>({
    key: "diskGb",
    schema: { type: "integer", description: "Encrypted SSD boot disk size of cloud hosts, at least 100.", default: 100 },
    read: (r, raw, _ctx, fb) => r.int("diskGb", raw, fb, 100, 4096),
});

export const nvidiaDriverBranch = defineKey<string>({
    key: "nvidiaDriverBranch",
    schema: {
        type: "string",
        // 580-server: Ubuntu ended 570-server, whose packages are now transitional ones to 580-server's
        // (nvidia-graphics-drivers-570-server 570.211.01-0ubuntu1, LP: #2147038), and Canonical builds
        // the signed modules of current kernels for the branches it still ships.
        description: "Ubuntu NVIDIA server driver branch the setup installs on GPU hosts (\"-open\" for the open kernel modules). Its packages are held against unattended upgrades; a change here upgrades them.",
        default: "580-server",
    },
    read: (r, raw, _ctx, fb) => r.pattern("nvidiaDriverBranch", raw, fb, DRIVER_BRANCH),
});

export const MACHINE_KEYS = [spot, sshUser, sshPublicKey, diskGb, nvidiaDriverBranch] as const;
