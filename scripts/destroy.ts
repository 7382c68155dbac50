// npm run destroy [-- --stack S]: removes the stack's resources, keeps the model volume and the
// images, and prints exactly how to remove those.
import { main } from "./lib/cli";
import { destroy } from "./lib/up";

main({ name: "destroy", defaultStack: "local" }, (deps) => destroy(deps));
