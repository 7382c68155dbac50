// Which failures of an EC2 instance mean "no capacity or quota here": the error codes AWS documents
// for it, and only those. terraform-provider-aws (pulumi-aws bridges it) prints the EC2 code before
// its message: "api error InsufficientInstanceCapacity: ..." (AWS SDK v2) or
// "InsufficientInstanceCapacity: ..." after "creating EC2 Instance: " (SDK v1); the CLI and boto say
// "An error occurred (Code)". test/unit/capacity.test.ts quotes a real sample of each, with its source.
import type { CapacityFailure } from "../types";

const CODES: Readonly<Record<string, CapacityFailure["reason"]>> = {
    InsufficientInstanceCapacity: "capacity",
    // The instance type is not offered in the requested availability zone.
    Unsupported: "capacity",
    MaxSpotInstanceCountExceeded: "quota",
    VcpuLimitExceeded: "quota",
};
// The code as a whole token, then ":" (provider) or ")" (boto/CLI "An error occurred (Code)").
const CODE = new RegExp(`(?:^|[\\s(])(${Object.keys(CODES).join("|")})(?::|\\))`);

export function classifyAwsCapacity(message: string): CapacityFailure | undefined {
    const m = CODE.exec(message);
    return m ? { code: m[1], reason: CODES[m[1]], scope: "placement" } : undefined;
}
