// Cloud resource types and invokes (AWS, GCP, Azure) for the strict mocks, with realistic outputs.
import type { CallMock, ResourceMock } from "./mocks";
// hex() and docIp() in ./ids make ids and addresses deterministic.

export const CLOUD_RESOURCES: Record<string, ResourceMock> = {};

export const CLOUD_CALLS: Record<string, CallMock> = {};
