// npm run rollback -- --stack S
// Makes the previous slot (the current idle one) live again, with the same health gate, preview and
// verification as promote.
import { main } from "./lib/cli";
import { rollback } from "./lib/swap";

main({ name: "rollback" }, (deps) => rollback(deps));
