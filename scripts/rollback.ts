// npm run rollback -- --stack S
// Makes the previous slot (the current idle one) live again, health-gated and verified like promote.
import { main } from "./lib/cli";
import { rollback } from "./lib/promote";

main({ name: "rollback", releaseFlags: false }, (deps) => rollback(deps));
