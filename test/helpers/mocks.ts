// Strict Pulumi mocks: every resource type and invoke the program may use is listed here with
// realistic outputs; anything else fails the test, so a typo in a type token cannot pass silently.
import * as pulumi from "@pulumi/pulumi";
import { CLOUD_CALLS, CLOUD_RESOURCES } from "./cloudMocks";
import { TLS_RESOURCES } from "./tlsMocks";
import { hex } from "./ids";

/** The resource options the program sent the engine, as the engine's RegisterResource request carries them. */
export interface RecordedOptions {
    /** JSON of the replacementTrigger value, or undefined when none was set. */
    readonly replacementTrigger?: string;
    readonly deleteBeforeReplace: boolean;
    /** URN of the deletedWith resource, or "" when none. */
    readonly deletedWith: string;
    /** URNs this resource depends on (explicit dependsOn plus the resources its inputs come from). */
    readonly dependencies: readonly string[];
    readonly replaceWith: readonly string[];
    readonly ignoreChanges: readonly string[];
    readonly replaceOnChanges: readonly string[];
    readonly retainOnDelete: boolean;
    /** URN of the parent, or "" for the stack. */
    readonly parent: string;
}

export interface Recorded {
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly inputs: Record<string, any>;
    readonly provider?: string;
    readonly id: string;
    readonly urn: string;
    readonly options: RecordedOptions;
}

export type ResourceMock = (a: pulumi.runtime.MockResourceArgs, world: MockWorld) => { id?: string; state?: Record<string, any> };
export type CallMock = (a: pulumi.runtime.MockCallArgs) => Record<string, any>;

const STACK_REFERENCE = "pulumi:pulumi:StackReference";

// The stack's SSH key's stand-ins live with the other tls mocks (test/helpers/tlsMocks.ts).
export { fakeEd25519Public, fakeOpensshPrivate } from "./tlsMocks";

function commandStdout(a: pulumi.runtime.MockResourceArgs, world: MockWorld, otherwise: string): string {
    const create = String(a.inputs.create ?? "");
    // The readiness gate (infra/shell/readiness.ts) prints the engine's platform and, on a GPU
    // host (its script runs a --gpus all container), each GPU.
    if (create.includes("# gpu-hosts readiness gate.")) {
        return [
            ...(create.includes("--gpus all") ? ["GPU 0: Tesla T4 (UUID: GPU-0)"] : []),
            `gpu-hosts: docker platform ${world.localEnginePlatform ?? "linux/amd64"}`,
            ...(create.includes("--gpus all") ? ["GPU: Tesla T4, driver 570.172.08"] : []),
            "gpu-hosts: host ready",
            "",
        ].join("\n");
    }
    if (create.includes("docker version --format '{{.Server.Os}}/{{.Server.Arch}}'")) return `${world.localEnginePlatform ?? "linux/amd64"}\n`;
    const inspect = /^docker image inspect --format '\{\{\.Id\}\}' '?([^'\s]+)'?\n$/.exec(create);
    // A rebuilt image (a new VM) is a new image: its id follows the machine generation too.
    if (inspect) return `sha256:${hex(`image:${inspect[1]}:${world.machineGeneration ?? 0}`, 64)}\n`;
    return otherwise;
}

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
    // A container is replaced when its image changes, and the new one has a new id (Docker's); the
    // commands that follow a container by id (the key file, the CA root, the routes) see it.
    // A container given no name is named by the provider, "<resource name>-<7 hex>" (pulumi-docker
    // provider/resources.go: prov.SetAutonaming(255, "-"); the bridge's NewUniqueHex), at Check.
    "docker:index/container:Container": (a) => ({
        id: hex(`${a.name}:${a.inputs.image}`, 64),
        state: { name: a.inputs.name ?? `${a.name}-${hex(`autoname:${a.name}`, 7)}`, exitCode: 0, networkDatas: [] },
    }),
    // What the engine prints for the commands whose output the program uses: the local ready command
    // prints the engine's platform (infra/hosts/local.ts), an image-id command the image's id.
    "command:local:Command": (a, world) => ({ state: { stdout: commandStdout(a, world, `stdout of ${a.name}`), stderr: "" } }),
    "command:remote:Command": (a, world) => ({ state: { stdout: commandStdout(a, world, `GPU: NVIDIA T4, driver 570.172.08 (${a.name})`), stderr: "" } }),
    "random:index/randomPassword:RandomPassword": (a) => ({ state: { result: hex(`password:${a.name}`, a.inputs.length ?? 16) } }),
    // The stack's SSH key and its PKI (test/helpers/tlsMocks.ts).
    ...TLS_RESOURCES,
};

/** Knobs for behaviour a test varies between runs. */
export interface MockWorld {
    /**
     * Which incarnation of each VM the clouds hand out. A VM replaced (or recreated after a spot
     * interruption) comes back with a new id; a test bumps this to model that. Defaults to 0.
     */
    readonly machineGeneration?: number;
    /** What `docker version --format '{{.Server.Os}}/{{.Server.Arch}}'` prints for the local engine. Defaults to "linux/amd64". */
    readonly localEnginePlatform?: string;
    /**
     * The stack's outputs from its last update, as a StackReference to the stack itself reads them
     * (infra/contract/pins.ts keptPins). Defaults to none: a new stack.
     */
    readonly previousOutputs?: Readonly<Record<string, unknown>>;
}

/** RegisterResource request fields the stock MockMonitor drops (it hands mocks only type, name, inputs). */
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    hasReplacementTrigger(): boolean;
    getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
    getDeletebeforereplace(): boolean;
    getDeletedwith(): string;
    getDependenciesList(): string[];
    getReplaceWithList(): string[];
    getIgnorechangesList(): string[];
    getReplaceonchangesList(): string[];
    getRetainondelete(): boolean;
}

export class StrictMocks implements pulumi.runtime.Mocks {
    readonly resources: Recorded[] = [];
    readonly calls: { token: string; inputs: Record<string, any> }[] = [];
    private readonly pending = new Map<string, { urn: string; options: RecordedOptions }>();
    private projectName = "";
    private stackName = "";

    private reject: (e: Error) => void = () => undefined;
    /**
     * Rejects with the first strict failure (an unknown type, a mock's refusal). The SDK turns a mock
     * that throws into a resource that never resolves, so a run that awaits its outputs would hang;
     * racing this makes it fail with the reason instead.
     */
    readonly failure: Promise<never> = new Promise<never>((_, reject) => {
        this.reject = reject;
    });

    constructor(readonly world: MockWorld = {}) {
        this.failure.catch(() => undefined);
    }

    private strict<T>(fn: () => T): T {
        try {
            return fn();
        } catch (e) {
            this.reject(e as Error);
            throw e;
        }
    }

    /**
     * Wraps the installed mock monitor so every resource also records the options the program set
     * (replacementTrigger, deleteBeforeReplace, deletedWith, dependencies...), which the engine acts on
     * and the stock MockMonitor never shows. Call right after pulumi.runtime.setMocks.
     */
    recordOptions(project: string, stack: string): void {
        this.projectName = project;
        this.stackName = stack;
        const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RegisterRequest, cb: unknown): Promise<void> };
        const original = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: RegisterRequest, cb: unknown) => {
            const parent = req.getParent();
            // The URN the MockMonitor hands back (its newUrn: the parent's last type only), so it matches
            // the URNs the SDK puts in dependencies and deletedWith.
            const parentType = parent ? parent.split("::")[2].split("$").pop() : "";
            const urn = `urn:pulumi:${stack}::${project}::${parentType ? `${parentType}$` : ""}${req.getType()}::${req.getName()}`;
            const trigger = req.hasReplacementTrigger() ? req.getReplacementTrigger()?.toJavaScript() : undefined;
            this.pending.set(`${req.getType()}::${req.getName()}`, {
                urn,
                options: {
                    replacementTrigger: trigger === undefined ? undefined : JSON.stringify(trigger),
                    deleteBeforeReplace: req.getDeletebeforereplace(),
                    deletedWith: req.getDeletedwith(),
                    dependencies: req.getDependenciesList(),
                    replaceWith: req.getReplaceWithList(),
                    ignoreChanges: req.getIgnorechangesList(),
                    replaceOnChanges: req.getReplaceonchangesList(),
                    retainOnDelete: req.getRetainondelete(),
                    parent,
                },
            });
            return original(req, cb);
        };
    }

    private optionsOf(type: string, name: string): { urn: string; options: RecordedOptions } {
        const found = this.pending.get(`${type}::${name}`);
        if (!found) throw new Error(`strict mocks: ${type} ${name} was registered without recordOptions()`);
        return found;
    }

    newResource(a: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        return this.strict(() => this.newResourceStrict(a));
    }

    private newResourceStrict(a: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        if (a.type === STACK_REFERENCE) return this.stackReference(a);
        const { urn, options } = this.optionsOf(a.type, a.name);
        if (!a.custom) {
            if (!a.type.startsWith("gpu-hosts:")) throw new Error(`strict mocks: unexpected component type ${a.type} (${a.name})`);
            this.resources.push({ type: a.type, name: a.name, custom: false, inputs: a.inputs, id: "", urn, options });
            return { id: undefined, state: {} };
        }
        const mock = CORE_RESOURCES[a.type] ?? CLOUD_RESOURCES[a.type];
        if (!mock) throw new Error(`strict mocks: unknown resource type ${a.type} (${a.name})`);
        const r = mock(a, this.world);
        const id = r.id ?? `${a.name}-${hex(a.type + a.name, 8)}`;
        this.resources.push({ type: a.type, name: a.name, custom: true, inputs: a.inputs, provider: a.provider, id, urn, options });
        return { id, state: { ...a.inputs, ...r.state } };
    }

    /**
     * A StackReference is read, not registered (the SDK's readResource: recordOptions never sees it).
     * The engine answers it with the named stack's outputs (pulumi/pulumi pkg/resource/deploy/builtins.go
     * readStackReference: name, outputs, secretOutputNames); here only the stack itself can be named.
     */
    private stackReference(a: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
        const self = [this.stackName, `organization/${this.projectName}/${this.stackName}`];
        if (!self.includes(a.inputs.name)) throw new Error(`strict mocks: a StackReference to ${a.inputs.name}, not to this stack (${self.join(" or ")})`);
        const urn = `urn:pulumi:${this.stackName}::${this.projectName}::${STACK_REFERENCE}::${a.name}`;
        const options: RecordedOptions = {
            deleteBeforeReplace: false, deletedWith: "", dependencies: [], replaceWith: [], ignoreChanges: [], replaceOnChanges: [], retainOnDelete: false, parent: "",
        };
        this.resources.push({ type: a.type, name: a.name, custom: true, inputs: a.inputs, id: a.inputs.name, urn, options });
        return { id: a.inputs.name, state: { name: a.inputs.name, outputs: { ...(this.world.previousOutputs ?? {}) }, secretOutputNames: [] } };
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
        return this.strict(() => {
            const mock = CLOUD_CALLS[a.token];
            if (!mock) throw new Error(`strict mocks: unknown invoke ${a.token}`);
            this.calls.push({ token: a.token, inputs: a.inputs });
            return mock(a);
        });
    }
}
