// The real program's pinning (infra/contract/pins.ts pinStack: the self StackReference, decidePin,
// pinSlots) and build sources (infra/service/release.ts: git archive, the fetch from origin), loaded
// through ts-node, on the real engine; each slot is a real command that follows its build (commit and
// content tag) where the real program builds an image, so no Docker is needed. The project root is
// the directory the engine runs it in: a clone the test made.
require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
module.exports = require("./program.ts");
