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
