// Strict Pulumi mocks: every resource type and invoke the program may use is listed here with
// realistic outputs; anything else fails the test, so a typo in a type token cannot pass silently.
import * as pulumi from "@pulumi/pulumi";
import { CLOUD_CALLS, CLOUD_RESOURCES } from "./cloudMocks";
import { hex } from "./ids";

export interface Recorded {
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly inputs: Record<string, any>;
    readonly provider?: string;
    readonly id: string;
}

export type ResourceMock = (a: pulumi.runtime.MockResourceArgs) => { id?: string; state?: Record<string, any> };
export type CallMock = (a: pulumi.runtime.MockCallArgs) => Record<string, any>;

const FAKE_ED25519_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMockMo gpu-hosts";

/** Resource types shared by every stack: providers, Docker objects, commands, generated secrets. */
const CORE_RESOURCES: Record<string, ResourceMock> = {
    "pulumi:providers:docker": () => ({}),
    "pulumi:providers:command": () => ({}),
    "docker:index/network:Network": (a) => ({ state: { driver: a.inputs.driver ?? "bridge", scope: "local" } }),
    "docker:index/volume:Volume": (a) => ({ state: { driver: "local", mountpoint: `/var/lib/docker/volumes/${a.inputs.name}/_data` } }),
    "docker:index/image:Image": (a) => ({
        id: `sha256:${hex(a.name, 64)}`,
        state: { repoDigest: `${a.inputs.imageName}@sha256:${hex(a.inputs.imageName ?? a.name, 64)}`, baseImageName: a.inputs.imageName },
    }),
    "docker:index/remoteImage:RemoteImage": (a) => ({
        id: `sha256:${hex(a.inputs.name, 64)}`,
        state: { imageId: `sha256:${hex(a.inputs.name, 64)}`, repoDigest: `${a.inputs.name}@sha256:${hex(a.inputs.name, 64)}` },
    }),
    "docker:index/container:Container": (a) => ({ id: hex(a.name, 64), state: { exitCode: 0, networkDatas: [] } }),
    "command:local:Command": (a) => ({ state: { stdout: `stdout of ${a.name}`, stderr: "" } }),
    "command:remote:Command": (a) => ({ state: { stdout: `GPU: NVIDIA T4, driver 570.172.08 (${a.name})`, stderr: "" } }),
    "random:index/randomPassword:RandomPassword": (a) => ({ state: { result: hex(`password:${a.name}`, a.inputs.length ?? 16) } }),
    "tls:index/privateKey:PrivateKey": (a) => ({
        state: {
            privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${hex(a.name, 64)}\n-----END OPENSSH PRIVATE KEY-----\n`,
            privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${hex(a.name, 64)}\n-----END PRIVATE KEY-----\n`,
            publicKeyOpenssh: `${FAKE_ED25519_PUB}\n`,
            publicKeyFingerprintSha256: `SHA256:${hex(a.name, 43)}`,
        },
    }),
};

export class StrictMocks implements pulumi.runtime.Mocks {
    readonly resources: Recorded[] = [];
    readonly calls: { token: string; inputs: Record<string, any> }[] = [];

    newResource(a: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        if (!a.custom) {
            if (!a.type.startsWith("gpu-hosts:")) throw new Error(`strict mocks: unexpected component type ${a.type} (${a.name})`);
            this.resources.push({ type: a.type, name: a.name, custom: false, inputs: a.inputs, id: "" });
            return { id: undefined, state: {} };
        }
        const mock = CORE_RESOURCES[a.type] ?? CLOUD_RESOURCES[a.type];
        if (!mock) throw new Error(`strict mocks: unknown resource type ${a.type} (${a.name})`);
        const r = mock(a);
        const id = r.id ?? `${a.name}-${hex(a.type + a.name, 8)}`;
        this.resources.push({ type: a.type, name: a.name, custom: true, inputs: a.inputs, provider: a.provider, id });
        return { id, state: { ...a.inputs, ...r.state } };
    }

    /** Resolves once no resource has registered for five 5 ms ticks: the program has finished. */
    async settle(): Promise<void> {
        let last = -1;
        let stable = 0;
        while (stable < 5) {
            await new Promise((r) => setTimeout(r, 5));
            if (this.resources.length === last) stable++;
            else { stable = 0; last = this.resources.length; }
        }
    }

    /** Custom resources of a type. */
    byType(type: string): Recorded[] {
        return this.resources.filter((r) => r.custom && r.type === type);
    }

    /** The one custom resource with this name; throws unless there is exactly one. */
    get(name: string): Recorded {
        const custom = this.resources.filter((r) => r.custom);
        const found = custom.filter((r) => r.name === name);
        if (found.length !== 1) throw new Error(`expected one resource named ${name}, found ${found.length}: ${custom.map((r) => r.name).join(", ")}`);
        return found[0];
    }

    call(a: pulumi.runtime.MockCallArgs): Record<string, any> {
        const mock = CLOUD_CALLS[a.token];
        if (!mock) throw new Error(`strict mocks: unknown invoke ${a.token}`);
        this.calls.push({ token: a.token, inputs: a.inputs });
        return mock(a);
    }
}
