// Loaded by mocha before any suite (.mocharc.json): the program writes the stack's SSH key files
// under ~ and asks the docker CLI for the local engine, so tests run with a throwaway HOME and a
// fixed DOCKER_HOST, never the operator's own.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const TEST_HOME = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-test-home-"));
process.env.HOME = TEST_HOME;
process.env.DOCKER_HOST = "unix:///var/run/docker.sock";
delete process.env.DOCKER_CONTEXT;
process.on("exit", () => fs.rmSync(TEST_HOME, { recursive: true, force: true }));

// Pulumi's SDK takes `new Error().stack` for every resource and every internal promise
// (runtime/debuggable.js, resource.js sourcePosition), and ts-node's source-map-support rewrites each
// of those stacks through the source maps: two thirds of a program run's time under the mocks
// (measured with --cpu-prof: a dev stack 3.7 s, 1.3 s without it). Stacks keep the transpiled line
// numbers instead, which transpile-only keeps close to the TypeScript ones.
(Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
