// Which failures of an Azure VM mean "no capacity or quota here". pulumi-azure-native prints
// `Code="SkuNotAvailable" Message="..."` (provider/pkg/azure/client_azcore.go,
// PulumiAzcoreResponseError.Error); azurerm's go-azure-sdk "with error: SkuNotAvailable: ..." or,
// after a failed poll, `Status: "AllocationFailed"`. OperationNotAllowed is capacity only when it is
// about a quota. test/unit/capacity.test.ts quotes a real sample of each, with its source.
import type { CapacityFailure } from "../types";

const CODES: Readonly<Record<string, CapacityFailure["reason"]>> = {
    SkuNotAvailable: "capacity",
    AllocationFailed: "capacity",
    ZonalAllocationFailed: "capacity",
    OverconstrainedAllocationRequest: "capacity",
    // The zonal twin Azure returns for the same condition (seen from azurerm: jenkins-infra/azure#1416).
    OverconstrainedZonalAllocationRequest: "capacity",
    OperationNotAllowed: "quota",
};
// Quotes may come escaped (\") where a tool logs the provider's text inside its own quoted string.
const CODE = new RegExp(`(?:Code=\\\\?"|with error: |Status: \\\\?")(${Object.keys(CODES).join("|")})(?:\\\\?"|:)`);

export function classifyAzureCapacity(message: string): CapacityFailure | undefined {
    const code = CODE.exec(message)?.[1];
    if (!code) return undefined;
    // OperationNotAllowed covers many refusals; only the quota one is about capacity.
    if (code === "OperationNotAllowed" && !/\bquota\b/i.test(message)) return undefined;
    return { code, reason: CODES[code], scope: "placement" };
}
