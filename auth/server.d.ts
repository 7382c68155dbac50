// Types for server.js, so the TypeScript tests and benchmarks can use it.
import * as http from "http";

export interface KeyState {
    readonly status: "ok" | "missing" | "invalid";
    readonly digests: Buffer[];
}
export interface KeyStore {
    current(): KeyState;
    reads(): number;
}
export interface FsLike {
    statSync(file: string): { ino: number; size: number; mtimeMs: number; ctimeMs: number };
    readFileSync(file: string, encoding: "utf8"): string;
}
export const KEY_ID_HEADER: string;
export const REALM: string;
export function parseKeysFile(text: string): Buffer[];
export function tokenMatches(token: string, digests: readonly Buffer[]): boolean;
export function bearerToken(header: string | undefined): string | undefined;
export function keyStore(file: string, opts?: { fs?: FsLike; log?: (msg: string) => void }): KeyStore;
export function handler(store: KeyStore): http.RequestListener;
/** The key service's server; `draining` is set by drain(). */
export function createServer(store: KeyStore): http.Server & { draining: boolean };
/** Closes the listener, answers the checks in flight (Connection: close), resolves when all connections are gone or after `graceMs`. */
export function drain(server: http.Server & { draining: boolean }, graceMs?: number): Promise<"drained" | "timeout">;
export function writeKeysFile(file: string, text: string): number;
