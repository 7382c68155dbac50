// The real program's config and placement logic (infra/config/index.ts, infra/clouds/placement.ts,
// loaded through ts-node) with cloud hosts whose "VM" is a real command that fails the way a cloud
// does for the placements listed in capacityTest:failures ("<describePlacement>": "<error text>", or
// "<host> <describePlacement>" for one host of a cloud's count).
// Same component types and resource names as the real hosts (gpu-hosts:hosts:AwsGpuHost, child
// "aws-vm"), so the driver reads the engine's diagnostics exactly as it does for a real stack.
require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
module.exports = require("./program.ts");
