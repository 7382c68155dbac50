// The Google APIs the program calls, and the 403 an API answers while it is not enabled in a
// project, or was enabled minutes ago and has not propagated yet.
//
// The program calls one API: Compute Engine (compute.googleapis.com). The image lookup, the
// network, subnet, address, firewall and VM are all Compute Engine calls on gcp.project. The
// operator enables it once per project (docs/clouds.md#prerequisites), before the first deploy.
//
// Why the program does not enable it itself (it used to, with a gcp.projects.Service):
// - That resource needs more than it enables. terraform-provider-google's google_project_service
//   (google/services/resourcemanager/resource_google_project_service.go) lists the enabled services
//   through Service Usage, enables through Service Usage, then reads the project back through Cloud
//   Resource Manager (Projects.Get), an API Google checks in the project the credentials bill (a
//   service account's own project). A new project has neither Compute Engine nor Cloud Resource
//   Manager on, only Service Usage and a few others
//   (https://cloud.google.com/service-usage/docs/enabled-service#default), so with a service
//   account made in it the resource fails; and it cannot enable Cloud Resource Manager either,
//   since that needs Cloud Resource Manager (hashicorp/terraform-provider-google#6101, #11435).
// - Enabling an API is a one-time, project-wide act that the stack does not own, like billing and
//   GPU quota: the stack could never disable it again (other things in the project use it), and
//   each deploy identity would need serviceusage.services.enable for it.
// So the operator enables Compute Engine once, and `npm run deploy` waits out the minutes it takes
// to propagate (scripts/lib/deploy.ts).
import type { ApiNotReady } from "../types";

/** The command that enables an API in a project. */
export function enableCommand(service: string, project: string): string {
    return `gcloud services enable ${service} --project=${project}`;
}

// Google's text for a disabled API, the same in every API and through every client (googleapi in
// terraform-provider-google and pulumi-gcp, gcloud, gRPC): "<Title> has not been used in project
// <p> before or it is disabled. Enable it by visiting
// https://console.developers.google.com/apis/api/<service>/overview?project=<p> then retry. If you
// enabled this API recently, wait a few minutes for the action to propagate to our systems and
// retry." (reason accessNotConfigured; the ErrorInfo detail says SERVICE_DISABLED). The last
// sentence is Google's own statement that the same 403 is what a just-enabled API answers until it
// propagates, so it is the one this matches: it is in every variant (also "Project <p> is not found
// and cannot be used for API calls. If it is recently created, enable <Title> by visiting ..."), and
// not in the SERVICE_DISABLED an API gives for a missing ADC quota project, which waiting never
// fixes. test/unit/capacity.test.ts quotes real samples of each, with their sources.
// Words apart by any white space: a terminal or a log may have wrapped the line.
const PROPAGATING = new RegExp("If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry".split(" ").join("\\s+"));
const ACTIVATION = /console\.developers\.google\.com\/apis\/api\/([a-z0-9.-]+\.googleapis\.com)\/overview\?project=([A-Za-z0-9:.-]+)/;

/**
 * The API a Google 403 says is not enabled (or not propagated yet), and the project it names, which
 * is where it must be enabled (for Compute Engine, gcp.project); undefined for any other failure.
 */
export function classifyGcpApiNotReady(message: string): ApiNotReady | undefined {
    if (!PROPAGATING.test(message)) return undefined;
    const m = ACTIVATION.exec(message);
    if (!m) return undefined;
    const [, service, project] = m;
    return { service, project, fix: enableCommand(service, project) };
}
