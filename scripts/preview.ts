// npm run preview [-- --stack S]: what `npm run up` would change, per slot. Writes no config: a slot
// the next up pins is previewed from what its release names now.
import { main } from "./lib/cli";
import { preview } from "./lib/up";

main({ name: "preview", defaultStack: "local", createLocal: true }, (deps) => preview(deps));
