// npm run promote -- --stack S
// Makes the idle slot live on every host: health-gated, refused over config no update applied,
// switched on each host by the routes command itself, verified, then recorded with an update of the
// routes alone; put back automatically if the live URL does not serve the new slot.
import { main } from "./lib/cli";
import { hostRoutes } from "./lib/routes";
import { promote } from "./lib/swap";

main({ name: "promote" }, (deps) => promote({ ...deps, routes: (s) => hostRoutes(s) }));
