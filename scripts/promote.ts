// npm run promote -- --stack S
// Makes the idle slot live on every host: health-gated, previewed (only the routes may change),
// verified, and rolled back automatically if the live URL does not serve the new slot.
import { main } from "./lib/cli";
import { promote } from "./lib/swap";

main({ name: "promote" }, (deps) => promote(deps));
