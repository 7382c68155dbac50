// npm run deploy -- --stack S [--cheapest]
// `pulumi up` that survives a cloud without GPUs: when a VM fails for capacity or quota, the host
// moves to its next candidate (gpu-hosts:<cloud>.candidates), the choice is written to
// gpu-hosts:placements, and up runs again; a cloud API enabled minutes ago (GCP's 403 for a new
// project) is waited out, within 10 minutes; any other failure stops it as it is. Ends with a table of
// what was tried, why each failed, where each host runs and its price. --cheapest tries candidates
// cheapest first (catalog prices) instead of in the listed order.
import { main } from "./lib/cli";
import { deploy } from "./lib/deploy";
import { pinnerFor } from "./lib/pin";

main({ name: "deploy", switches: ["cheapest"] }, (deps, args) => deploy(deps, pinnerFor(deps.stack.name, deps.log), { cheapest: args.cheapest }));
