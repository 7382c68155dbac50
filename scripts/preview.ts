// npm run preview [-- --stack S]: what `npm run up` would change, per slot. Pins unpinned slots first
// (config only), as up would.
import { main } from "./lib/cli";
import { pinRelease } from "./lib/pin";
import { preview } from "./lib/up";

main({ name: "preview", defaultStack: "local", createLocal: true }, (deps) => preview(deps, pinRelease));
