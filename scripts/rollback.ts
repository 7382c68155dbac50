// npm run rollback -- --stack S
// Makes the previous slot (the current idle one) live again, with the same health gate, switch on
// each host, verification and record as promote.
import { main } from "./lib/cli";
import { hostRoutes } from "./lib/routes";
import { rollback } from "./lib/swap";

main({ name: "rollback" }, (deps) => rollback({ ...deps, routes: (s) => hostRoutes(s) }));
