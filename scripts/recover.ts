// npm run recover -- --stack S
// Brings back hosts whose VM is gone (a spot interruption): refresh the machines only, drop what
// died with them from the state, then up. See scripts/lib/recover.ts for why not `up --refresh`.
import { main } from "./lib/cli";
import { recover } from "./lib/recover";

main({ name: "recover" }, (deps) => recover({ stack: deps.stack, log: deps.log }));
