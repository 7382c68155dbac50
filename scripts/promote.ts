// npm run promote -- --stack S
// Makes the idle slot live: health gate, flip liveColor + up, verify, roll back by itself on failure.
import { main } from "./lib/cli";
import { promote } from "./lib/promote";

main({ name: "promote", releaseFlags: false }, (deps) => promote(deps));
