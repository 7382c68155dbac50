// The names everything shares: the config namespace, the slot colors, the host kinds that are not a
// cloud, and the ports with a fixed meaning on every host. Imports nothing, so every layer can use it
// (test/unit/layers.test.ts keeps it that way).

/** The config namespace and the prefix of every type token: `gpu-hosts:<key>`, `gpu-hosts:<module>:<Type>`. */
export const NAMESPACE = "gpu-hosts";

/** A release slot. */
export type Color = "blue" | "green";
export const COLORS: readonly Color[] = ["blue", "green"];
/** The other slot: the idle one when `c` is live, and the other way round. */
export const otherColor = (c: Color): Color => (c === "blue" ? "green" : "blue");

/** The host kinds that are not a cloud: the operator's own Docker engine, and their own servers over SSH. */
export const LOCAL = "local";
export const SSH = "ssh";
export type LocalKind = typeof LOCAL;
export type SshKind = typeof SSH;

/**
 * Ports with one meaning on every host. Redis and Ollama stay on the host's private Docker network:
 * publishing either would open it to whoever reaches the port, so neither may be the API's port.
 */
export const PORTS = {
    ssh: 22,
    redis: 6379,
    ollama: 11434,
    /** Where a public CA's HTTP-01 challenge connects (RFC 8555 section 8.3). */
    acmeChallenge: 80,
} as const;

/**
 * The clouds there are. Each cloud's folder adds its own name to this interface
 * (`declare module "../../vocabulary"` in infra/clouds/<cloud>/index.ts), and the registry
 * (infra/clouds/index.ts) must then hold its driver or tsc fails: a new cloud touches its folder and
 * one registry line, never this file.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface CloudNames {}
export type CloudName = keyof CloudNames & string;
/** Every kind of host: the local engine, a cloud's VM, or the operator's own servers. */
export type HostKind = LocalKind | CloudName | SshKind;
