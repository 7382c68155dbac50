// The capacity classifier (scripts/lib/capacity.ts) and deploy's "API not enabled yet" rule
// (scripts/lib/deploy.ts apiNotReady, infra/clouds/gcp/apis.ts) on real error texts: each quoted
// verbatim from the public source named beside it (request ids and quota-portal URLs trimmed), as
// Terraform/Pulumi providers, gcloud or the consoles printed them.
import * as assert from "assert";
import { CapacityFailure, classifyCapacity, vmHostOf } from "../../scripts/lib/capacity";
import { apiNotReady, capacityFailures } from "../../scripts/lib/deploy";
import { UpFailedError } from "../../scripts/lib/engineErrors";
import type { ApiNotReady } from "../../infra/clouds/types";
import type { CloudName } from "../../infra/vocabulary";

interface Sample {
    readonly cloud: CloudName;
    readonly source: string;
    readonly text: string;
    readonly expect: Pick<CapacityFailure, "code" | "reason"> & Partial<CapacityFailure>;
}

const CAPACITY: readonly Sample[] = [
    {
        cloud: "aws", expect: { code: "InsufficientInstanceCapacity", reason: "capacity", scope: "placement" },
        source: "terraform-provider-aws, AWS SDK v1 (https://github.com/red-hat-storage/ocs-ci/issues/9263)",
        text: "Error: creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have sufficient m6i.xlarge capacity in the Availability Zone you requested (us-east-2a). Our system will be working on provisioning additional capacity. You can currently get m6i.xlarge capacity by not specifying an Availability Zone in your request or choosing us-east-2b, us-east-2c.\n\tstatus code: 500, request id: 889de2c1",
    },
    {
        cloud: "aws", expect: { code: "InsufficientInstanceCapacity", reason: "capacity" },
        source: "terraform-provider-aws, older wording (https://github.com/openshift/installer/issues/7088)",
        text: "Error: Error launching source instance: InsufficientInstanceCapacity: We currently do not have sufficient m6a.xlarge capacity in the Availability Zone you requested (us-east-1d).",
    },
    {
        cloud: "aws", expect: { code: "InsufficientInstanceCapacity", reason: "capacity" },
        source: "AWS SDK v2 form, terraform-provider-iterative (https://github.com/iterative/cml/issues/1440)",
        text: "terraform error: Error: Failed creating the machine: Not able to decode: operation error EC2: RunInstances, exceeded maximum number of attempts, 3, https response error StatusCode: 500, RequestID: 78dbfe11, api error InsufficientInstanceCapacity: We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-west-2a). Our system will be working on provisioning additional capacity. You can currently get p4d.24xlarge capacity by not specifying an Availability Zone in your request or choosing us-west-2b, us-west-2c.",
    },
    {
        cloud: "aws", expect: { code: "Unsupported", reason: "capacity" },
        source: "terraform-provider-aws, AWS SDK v2 (https://github.com/ned1313/Getting-Started-Terraform/issues/44)",
        text: "│ Error: creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: f5620d69, api error Unsupported: Your requested instance type (t3.micro) is not supported in your requested Availability Zone (us-east-1e). Please retry your request by not specifying an Availability Zone or choosing us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f.",
    },
    {
        cloud: "aws", expect: { code: "Unsupported", reason: "capacity" },
        source: "terraform-provider-aws, AWS SDK v1 (https://github.com/clong/DetectionLab/issues/424)",
        text: "Error: Error launching source instance: Unsupported: Your requested instance type (t2.medium) is not supported in your requested Availability Zone (us-west-1a). Please retry your request by not specifying an Availability Zone or choosing us-west-1b, us-west-1c.\n\tstatus code: 400, request id: 1",
    },
    {
        cloud: "aws", expect: { code: "VcpuLimitExceeded", reason: "quota" },
        source: "terraform-provider-aws (https://github.com/bentoml/bentoctl/issues/202)",
        text: "creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.",
    },
    {
        cloud: "aws", expect: { code: "MaxSpotInstanceCountExceeded", reason: "quota" },
        source: "EC2 RunInstances through boto (https://github.com/meadowdata/meadowrun/issues/84)",
        text: "botocore.exceptions.ClientError: An error occurred (MaxSpotInstanceCountExceeded) when calling the RunInstances operation: Max spot instance count exceeded",
    },
    {
        cloud: "gcp", expect: { code: "ZONE_RESOURCE_POOL_EXHAUSTED", reason: "capacity", scope: "placement" },
        source: "terraform-provider-google (https://github.com/forseti-security/terraform-google-forseti/issues/631)",
        text: "Error: Error waiting for instance to create: The zone 'projects/[project-id]/zones/us-west1-c' does not have enough resources available to fulfill the request.  Try a different zone, or try again later",
    },
    {
        cloud: "gcp", expect: { code: "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", reason: "capacity" },
        source: "terraform-provider-google, current (https://github.com/datosh/intro-to-cc/blob/main/README.md)",
        text: "│ Error: Error waiting for instance to create: The zone 'projects/kammel-dev/zones/europe-west3-c' does not have enough resources available to fulfill the request.  '(resource type:compute)'.\n│ \n│ A n2d-standard-2 VM instance with 1 local SSD(s) is not supported in the europe-west3-c zone with your configuration.  Retry your request in a zone that supports the machine type and configuration you require. For more information, view the troubleshooting documentation.\n│ \n│ Troubleshooting documentation\n│ https://cloud.google.com/compute/docs/resource-error",
    },
    {
        cloud: "gcp", expect: { code: "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", reason: "capacity" },
        source: "gcloud, a T4 (https://github.com/kubernetes/k8s.io/issues/9834)",
        text: "code: ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS\nmessage: A n1-standard-4 VM instance with 1 nvidia-tesla-t4 accelerator(s) is currently unavailable in the us-central1-b zone. Consider trying your request in the us-central1-a, us-central1-f zone(s), which currently has capacity to accommodate your request.",
    },
    {
        cloud: "gcp", expect: { code: "ZONE_RESOURCE_POOL_EXHAUSTED", reason: "capacity" },
        source: "Cloud Console (https://github.com/googlefonts/fontbakery-dashboard/issues/81)",
        text: "ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/fontbakery-168509/zones/us-central1-a' does not have enough resources available to fulfill the request. Try a different zone, or try again later.",
    },
    {
        cloud: "gcp", expect: { code: "QUOTA_EXCEEDED", reason: "quota", scope: "cloud", quota: "GPUS_ALL_REGIONS" },
        source: "terraform-provider-google (https://github.com/ObrienlabsDev/gcp-infrastructure-as-code/blob/e42faed45ed42937a362a880483e29b712419c36/m10-3rdparty/m11-nvidia-gce-terraform-ubuntu/README.md)",
        text: "│ Error: Error waiting for instance to create: Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.\n│       metric name = compute.googleapis.com/gpus_all_regions\n│       limit name = GPUS-ALL-REGIONS-per-project\n│       dimensions = map[global:global]",
    },
    {
        cloud: "gcp", expect: { code: "QUOTA_EXCEEDED", reason: "quota", scope: "placement", quota: "CPUS_PER_VM_FAMILY" },
        source: "terraform-provider-google's own CI (https://github.com/hashicorp/terraform-provider-google/issues/20573)",
        text: "Error: Error waiting for instance to create: Quota 'CPUS_PER_VM_FAMILY' exceeded.  Limit: 176.0 in region us-central1.\n\tmetric name = compute.googleapis.com/cpus_per_vm_family\n\tlimit name = CPUS-PER-VM-FAMILY-per-project-region\n\tlimit = 176\n\tdimensions = map[region:us-central1 vm_family:H3]",
    },
    {
        cloud: "gcp", expect: { code: "QUOTA_EXCEEDED", reason: "quota", quota: "SSD_TOTAL_GB" },
        source: "googleapi at insert time (https://github.com/googlecodelabs/feedback/issues/440)",
        text: "googleapi: Error 403: Quota 'SSD_TOTAL_GB' exceeded. Limit: 100.0 in region us-west1., quotaExceeded",
    },
    {
        cloud: "gcp", expect: { code: "MACHINE_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" },
        source: "gcloud, N1 not offered in a zone (https://github.com/GoogleCloudPlatform/bank-of-anthos/issues/1234)",
        text: "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n - Invalid value for field 'resource.machineType': 'https://compute.googleapis.com/compute/v1/projects/bank-of-anthos-xxxx/zones/europe-west8-a/machineTypes/n1-standard-1'. Machine type with name 'n1-standard-1' does not exist in zone 'europe-west8-a'.\"\n\nUse `gcloud compute machine-types list --zones` to see the available machine  types.",
    },
    {
        cloud: "gcp", expect: { code: "MACHINE_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" },
        source: "googleapi at insert time, via terratest (https://github.com/gruntwork-io/terratest/issues/1132)",
        text: "googleapi: Error 400: Invalid value for field 'resource.machineType': 'zones/europe-west8-a/machineTypes/f1-micro'. Machine type with name 'f1-micro' does not exist in zone 'europe-west8-a'., invalid",
    },
    {
        cloud: "gcp", expect: { code: "ACCELERATOR_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" },
        source: "gcloud, a P4 in a zone without it (https://github.com/fastai/course-v3/pull/430)",
        text: "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n - The resource 'projects/static-protocol-256618/zones/us-west1-b/acceleratorTypes/nvidia-tesla-p4' was not found",
    },
    {
        cloud: "gcp", expect: { code: "ACCELERATOR_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" },
        source: "gcloud, a P100 (https://github.com/fastai/course-v3/issues/493)",
        text: "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n - The resource 'projects/fastai-20200406/zones/us-central1-a/acceleratorTypes/nvidia-tesla-p100' was not found",
    },
    {
        cloud: "gcp", expect: { code: "ACCELERATOR_TYPE_NOT_IN_ZONE", reason: "capacity", scope: "placement" },
        source: "googleapi through terraform-provider-google's CI (https://github.com/hashicorp/terraform-provider-google/issues/5860)",
        text: "Error: Error creating Dataproc cluster: googleapi: Error 400: The resource 'projects/ci-test-project-188019/zones/us-central1-f/acceleratorTypes/nvidia-tesla-k80' was not found, badRequest",
    },
    {
        cloud: "azure", expect: { code: "SkuNotAvailable", reason: "capacity" },
        source: "azurerm 3.117.1, go-azure-sdk (https://github.com/Azure/terraform/blob/main/quickstart/201-private-link-sql-database/TestRecord.md)",
        text: "│ Error: creating Linux Virtual Machine (Subscription: \"0000\"\n│ Resource Group Name: \"rg-stag-rg\"\n│ Virtual Machine Name: \"vm-1\"): performing CreateOrUpdate: unexpected status 409 (409 Conflict) with error: SkuNotAvailable: The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_DS1_v2' is currently not available in location 'eastus'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.",
    },
    {
        cloud: "azure", expect: { code: "SkuNotAvailable", reason: "capacity" },
        source: "Pulumi, autorest era (https://github.com/pulumi/examples/issues/173)",
        text: "error: Plan apply failed: compute.VirtualMachinesClient#CreateOrUpdate: Failure sending request: StatusCode=0 -- Original Error: autorest/azure: Service returned an error. Status=<nil> Code=\"SkuNotAvailable\" Message=\"The requested size for resource '/subscriptions/",
    },
    {
        cloud: "azure", expect: { code: "OperationNotAllowed", reason: "quota" },
        source: "azurerm 3.117.1 (https://github.com/Azure/terraform/blob/main/quickstart/201-private-link-sql-database/TestRecord.md)",
        text: "performing CreateOrUpdate: unexpected status 409 (409 Conflict) with error: OperationNotAllowed: Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: 10, Current Usage: 10, Additional Required: 1, (Minimum) New Limit Required: 11. Setup Alerts when Quota reaches threshold.",
    },
    {
        cloud: "azure", expect: { code: "OperationNotAllowed", reason: "quota" },
        source: "azurerm, autorest era (https://github.com/DefensiveOrigins/APT-Lab-Terraform/issues/8)",
        text: "Error: compute.VirtualMachinesClient#CreateOrUpdate: Failure sending request: StatusCode=0 -- Original Error: autorest/azure: Service returned an error. Status=<nil> Code=\"OperationNotAllowed\" Message=\"Operation could not be completed as it results in exceeding approved Total Regional Cores quota.\"",
    },
    {
        cloud: "azure", expect: { code: "AllocationFailed", reason: "capacity" },
        source: "azurerm (https://github.com/hashicorp/terraform-provider-azurerm/issues/753)",
        text: "* azurerm_virtual_machine.node.23: compute.VirtualMachinesClient#CreateOrUpdate: Failure sending request: StatusCode=200 -- Original Error: Long running operation terminated with status 'Failed': Code=\"AllocationFailed\" Message=\"Allocation failed. Please try reducing the VM size or number of VMs, retry later, or try deploying to a different Availability Set or different Azure location.\"",
    },
    {
        cloud: "azure", expect: { code: "ZonalAllocationFailed", reason: "capacity" },
        source: "Terraform in openshift-install (https://github.com/openshift/release/pull/5181)",
        text: "level=error msg=\"Error: Code=\\\"ZonalAllocationFailed\\\" Message=\\\"Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance\\\"\"",
    },
    {
        cloud: "azure", expect: { code: "OverconstrainedZonalAllocationRequest", reason: "capacity" },
        source: "azurerm, a failed poll (https://github.com/jenkins-infra/azure/pull/1416)",
        text: "Error: creating Linux Virtual Machine (x): polling after CreateOrUpdate: polling failed: the Azure API returned the following error:\n\nStatus: \"OverconstrainedZonalAllocationRequest\"\nCode: \"\"\nMessage: \"Allocation failed. VM(s) with the following constraints cannot be allocated, because the condition is too restrictive. Please remove some constraints and try again. Constraints applied are:\\n  - Availability Zone\\n  - VM Size\\n\"",
    },
];

const NOT_CAPACITY: readonly Omit<Sample, "expect">[] = [
    {
        cloud: "aws", source: "terraform-provider-aws, SDK v2 (https://github.com/rifaterdemsahin/Putty/blob/main/Semblance/image-id-error.md)",
        text: "│ Error: creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: eea342dc, api error InvalidAMIID.NotFound: The image id '[ami-0c55b159cbfafe1f0]' does not exist",
    },
    {
        cloud: "aws", source: "pulumi-aws (https://github.com/localstack/localstack/issues/13773)",
        text: "error:   sdk-v2/provider2.go:515: sdk.helper_schema: creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: 995c00fd, api error InvalidAMIID.NotFound: The image id '[['ami-pulumi-test-67890']]' does not exist: provider=aws@6.66.2",
    },
    {
        cloud: "aws", source: "terraform-provider-aws (https://github.com/hashicorp/terraform-provider-aws/issues/8720)",
        text: "│ Error: collecting instance settings: reading EC2 Instance Type (t2.micro): UnauthorizedOperation: You are not authorized to perform this operation.\n│       status code: 403, request id: 1",
    },
    {
        cloud: "gcp", source: "terraform-provider-google (https://github.com/rancher/harvester-cloud/issues/249)",
        text: "│ Error: Error creating instance: googleapi: Error 400: hyperdisk-balanced disk type cannot be used by n2-standard-16 machine type., badRequest",
    },
    {
        cloud: "gcp", source: "a zone that does not exist: a typo, not an offering (https://github.com/inspec/inspec-gcp/issues/301)",
        text: "Bad response: {\n       \"error\": {\n         \"code\": 400,\n         \"message\": \"Invalid value for field 'zone': 'us-east1'. Unknown zone.\",\n         \"errors\": [\n           {\n             \"message\": \"Invalid value for field 'zone': 'us-east1'. Unknown zone.\",\n             \"domain\": \"global\",\n             \"reason\": \"invalid\"\n           }\n         ]\n       }\n     }",
    },
    {
        cloud: "gcp", source: "\"was not found\" for an image, not a zone's accelerator (https://github.com/hashicorp/terraform/pull/724)",
        text: "* Error loading image 'ubuntu-1404-trusty-v20141212': googleapi: Error 404: The resource 'projects/famous-fiber-814/global/images/ubuntu-1404-trusty-v20141212' was not found, notFound",
    },
    {
        cloud: "gcp", source: "a GPU and machine that do not go together, anywhere (https://github.com/skypilot-org/skypilot/issues/212)",
        text: "googleapiclient.errors.HttpError: <HttpError 400 when requesting https://compute.googleapis.com/compute/v1/projects/intercloud-320520/zones/us-central1-a/instances?alt=json returned \"[nvidia-tesla-a100, n1-highmem-8] features are not compatible for creating instance.\". Details: \"[{'message': '[nvidia-tesla-a100, n1-highmem-8] features are not compatible for creating instance.', 'domain': 'global', 'reason': 'badRequest'}]\">",
    },
    {
        cloud: "gcp", source: "terraform-provider-iterative (https://github.com/iterative/cml/issues/1398)",
        text: "terraform error: Error: Failed creating the machine: googleapi: Error 400: Instances with guest accelerators do not support live migration., badRequest",
    },
    {
        cloud: "gcp", source: "Compute Engine not enabled yet: waited out, never a move (https://github.com/GoogleCloudPlatform/terraform-dynamic-python-webapp/issues/67)",
        text: "│ Error: Error creating Network: googleapi: Error 403: Compute Engine API has not been used in project 163272504585 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=163272504585 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
    },
    {
        cloud: "azure", source: "azurerm (https://github.com/hashicorp/terraform/issues/5793)",
        text: "Error : compute.VirtualMachinesClient#CreateOrUpdate: Failure sending request: StatusCode=400 -- Original Error: Code=\"InvalidParameter\" Message=\"The Admin Username specified is not allowed.\" Target=\"adminUsername\"",
    },
    {
        cloud: "azure", source: "pulumi-azure-native (https://github.com/pulumi/pulumi-azure-native/pull/4765)",
        text: "error: Status=409 Code=\"ConflictingConcurrentWriteNotAllowed\" Message=\"The operation was interrupted by a conflicting concurrent write on the same entity. Please retry later.\"",
    },
];

describe("capacity classifier: real error texts", () => {
    for (const s of CAPACITY) {
        it(`${s.cloud}: ${s.expect.code} from ${s.source}`, () => {
            const got = classifyCapacity(s.cloud, s.text);
            assert.ok(got, "classified as capacity");
            for (const [k, v] of Object.entries(s.expect)) assert.strictEqual((got as unknown as Record<string, unknown>)[k], v, k);
        });
    }
    for (const s of NOT_CAPACITY) {
        it(`${s.cloud}: not capacity: ${s.source}`, () => {
            assert.strictEqual(classifyCapacity(s.cloud, s.text), undefined);
        });
    }

    it("reads a code only as a whole token, and only the cloud's own", () => {
        assert.strictEqual(classifyCapacity("aws", "api error UnsupportedOperation: The instance type is not supported"), undefined);
        assert.strictEqual(classifyCapacity("aws", "api error InsufficientInstanceCapacityX: no"), undefined);
        // An AWS code in a GCP VM's error is not GCP's capacity.
        assert.strictEqual(classifyCapacity("gcp", "api error InsufficientInstanceCapacity: x"), undefined);
        assert.strictEqual(classifyCapacity("azure", "ZONE_RESOURCE_POOL_EXHAUSTED"), undefined);
    });

    it("takes Azure's OperationNotAllowed as capacity only when it is about a quota", () => {
        assert.strictEqual(classifyCapacity("azure", "Code=\"OperationNotAllowed\" Message=\"The operation is not allowed on a VM that is being deallocated.\""), undefined);
    });

    it("recognises GCP's UNSUPPORTED_OPERATION by its code (no provider sample prints one; gcloud does)", () => {
        assert.deepStrictEqual(classifyCapacity("gcp", "code: UNSUPPORTED_OPERATION"), { code: "UNSUPPORTED_OPERATION", reason: "capacity", scope: "placement" });
    });
});

/** A Google 403 for an API that is not enabled, or enabled minutes ago, and what deploy makes of it. */
const API_NOT_READY: readonly { readonly source: string; readonly text: string; readonly expect: Omit<ApiNotReady, "fix"> }[] = [
    {
        source: "terraform-provider-google, older wording (https://github.com/terraform-google-modules/cloud-foundation-training/issues/17)",
        expect: { service: "compute.googleapis.com", project: "1025699268247" },
        text: "Error: Error creating Network: googleapi: Error 403: Access Not Configured. Compute Engine API has not been used in project 1025699268247 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=1025699268247 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured",
    },
    {
        source: "terraform-provider-google, 2023 (https://github.com/GoogleCloudPlatform/terraform-dynamic-python-webapp/issues/67)",
        expect: { service: "compute.googleapis.com", project: "163272504585" },
        text: "│ Error: Error creating Network: googleapi: Error 403: Compute Engine API has not been used in project 163272504585 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=163272504585 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
    },
    {
        source: "a lookup before any create, with a service account that owns the project (https://github.com/hashicorp/terraform/issues/29006)",
        expect: { service: "compute.googleapis.com", project: "406281436678" },
        text: "Error: Error loading zone 'us-central1-a': googleapi: Error 403: Compute Engine API has not been used in project 406281436678 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=406281436678 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured",
    },
    {
        source: "a project minutes old (https://github.com/terraform-google-modules/terraform-google-project-factory/issues/296)",
        expect: { service: "compute.googleapis.com", project: "620995150025" },
        text: "Error: Error deleting default network in project test-project-autocreated-cb88: Error listing firewall\nrules in proj: googleapi: Error 403: Project 620995150025 is not found and cannot be used for API\ncalls. If it is recently created, enable Compute Engine API by visiting\nhttps://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=620995150025\nthen retry. If you enabled this API recently, wait a few minutes for the action to propagate to our\nsystems and retry., accessNotConfigured",
    },
    {
        source: "Cloud Resource Manager, as gcp.projects.Service's read needs it (https://github.com/appvia/kore/issues/286)",
        expect: { service: "cloudresourcemanager.googleapis.com", project: "606999393380" },
        text: "googleapi: Error 403: Cloud Resource Manager API has not been used in project 606999393380 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/cloudresourcemanager.googleapis.com/overview?project=606999393380 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry., accessNotConfigured",
    },
    {
        source: "the JSON body with ErrorInfo SERVICE_DISABLED, wrapped by a terminal (https://github.com/google-gemini/gemini-cli/issues/1343)",
        expect: { service: "cloudaicompanion.googleapis.com", project: "sciortino-test-sandbox-395446" },
        text: "✕ [API Error: {\n    \"error\": {\n      \"code\": 403,\n      \"message\": \"Gemini for Google Cloud API has not been used in project sciortino-test-sandbox-395446 before or it is disabled. Enable it by visiting \n  https://console.developers.google.com/apis/api/cloudaicompanion.googleapis.com/overview?project=sciortino-test-sandbox-395446 then retry. If you enabled this API recently, wait a few minutes \n  for the action to propagate to our systems and retry.\",\n      \"status\": \"PERMISSION_DENIED\",\n      \"details\": [\n        {\n          \"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\",\n          \"reason\": \"SERVICE_DISABLED\",",
    },
];

/** 403s that waiting never fixes. */
const NOT_API_NOT_READY: readonly { readonly source: string; readonly text: string }[] = [
    {
        source: "SERVICE_DISABLED for a missing ADC quota project, pulumi-gcp (https://github.com/pulumi/pulumi-gcp/issues/2896)",
        text: "sdk-v2/provider2.go:515: sdk.helper_schema: Error when reading or editing ApikeysKey \"projects/855590905560/locations/global/keys/test2\": googleapi: Error 403: Your application is authenticating by using local Application Default Credentials. The apikeys.googleapis.com API requires a quota project, which is not set by default. To learn how to set your quota project, see https://cloud.google.com/docs/authentication/adc-troubleshooting/user-creds .\n    Details:\n    [\n      {\n        \"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\",\n        \"domain\": \"googleapis.com\",\n        \"metadata\": {\n          \"consumer\": \"projects/764086051850\",\n          \"service\": \"apikeys.googleapis.com\"\n        },\n        \"reason\": \"SERVICE_DISABLED\"\n      },",
    },
    {
        source: "a missing IAM permission (https://github.com/hashicorp/terraform/issues/18873)",
        text: "* google_compute_network.rain-net: Error creating network: googleapi: Error 403: Required 'compute.networks.create' permission for 'projects/deepsource-production/global/networks/rain-net', forbidden",
    },
    {
        source: "a quota, which is a 403 too (https://github.com/googlecodelabs/feedback/issues/440)",
        text: "googleapi: Error 403: Quota 'SSD_TOTAL_GB' exceeded. Limit: 100.0 in region us-west1., quotaExceeded",
    },
];

const VM_URN = "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:GcpGpuHost$gcp:compute/instance:Instance::gcp-vm";
const NETWORK_URN = "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:GcpGpuHost$gcp:compute/network:Network::gcp-network";
const failedUp = (errors: { urn: string; message: string }[], programErrors: string[] = []) => new UpFailedError("pulumi up on stack dev failed", errors, [], programErrors);

describe("API not enabled yet: real Google 403 texts", () => {
    for (const s of API_NOT_READY) {
        it(`${s.expect.service} for project ${s.expect.project}: ${s.source}`, () => {
            const got = apiNotReady(failedUp([{ urn: NETWORK_URN, message: s.text }]));
            assert.deepStrictEqual(got, { ...s.expect, fix: `gcloud services enable ${s.expect.service} --project=${s.expect.project}` });
            // Waited out, never counted as capacity, even on the VM.
            assert.strictEqual(classifyCapacity("gcp", s.text), undefined);
        });
    }
    for (const s of NOT_API_NOT_READY) {
        it(`not an API to wait for: ${s.source}`, () => {
            assert.strictEqual(apiNotReady(failedUp([{ urn: NETWORK_URN, message: s.text }])), undefined);
        });
    }

    it("waits only when every error of the up is one: a program's failed lookup too, the engine's closing line aside", () => {
        const api = API_NOT_READY[1].text;
        const lookup = `Running program '/p/index.ts' failed with an unhandled exception:\nError: ${API_NOT_READY[2].text}`;
        assert.strictEqual(apiNotReady(failedUp([], [lookup]))?.project, "406281436678");
        assert.strictEqual(apiNotReady(failedUp([{ urn: NETWORK_URN, message: api }], ["update failed"]))?.project, "163272504585");
        // Anything else in the same up: the engine's error as it is, no wait.
        assert.strictEqual(apiNotReady(failedUp([{ urn: NETWORK_URN, message: api }, { urn: VM_URN, message: NOT_API_NOT_READY[1].text }])), undefined);
        assert.strictEqual(apiNotReady(failedUp([{ urn: NETWORK_URN, message: api }], ["Running program failed: TypeError: x is undefined"])), undefined);
        assert.strictEqual(apiNotReady(failedUp([], ["update failed"])), undefined);
        assert.strictEqual(apiNotReady(failedUp([])), undefined);
    });

    it("is GCP's alone: other clouds' drivers have no such state", () => {
        assert.strictEqual(apiNotReady(failedUp([{ urn: VM_URN, message: "api error UnauthorizedOperation: You are not authorized to perform this operation." }])), undefined);
    });
});

describe("vmHostOf: which cloud's VM an engine diagnostic is about", () => {
    it("is the `<cloud>-vm` child of the cloud's host component", () => {
        assert.strictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::aws-vm")?.cloud, "aws");
        assert.strictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:GcpGpuHost$gcp:compute/instance:Instance::gcp-vm")?.cloud, "gcp");
        assert.strictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AzureGpuHost$azure-native:compute:VirtualMachine::azure-vm")?.cloud, "azure");
    });

    it("is nothing for any other resource, a mismatched name, or a VM outside a host", () => {
        for (const urn of [
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/subnet:Subnet::aws-subnet",
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::gcp-vm",
            "urn:pulumi:dev::gpu-hosts::aws:ec2/instance:Instance::aws-vm",
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:app:AppStack$docker:index/container:Container::aws-vm",
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::gcp-2-vm",
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::aws-1-vm",
            "urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::aws-2-vmx",
            "not a urn",
        ]) assert.strictEqual(vmHostOf(urn), undefined, urn);
    });

    it("names the host of a cloud's count whose VM it is (gpu-hosts:<cloud>.count)", () => {
        assert.deepStrictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::aws-2-vm"), { host: "aws-2", cloud: "aws" });
        assert.deepStrictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:GcpGpuHost$gcp:compute/instance:Instance::gcp-10-vm"), { host: "gcp-10", cloud: "gcp" });
        assert.deepStrictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AzureGpuHost$azure-native:compute:VirtualMachine::azure-vm"), { host: "azure", cloud: "azure" });
        assert.strictEqual(vmHostOf("urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:AwsGpuHost$aws:ec2/instance:Instance::aws-3-vm")?.cloud, "aws");
    });
});

describe("capacityFailures: each failed VM's capacity failure, by host", () => {
    const GCP_EXHAUSTED = "Error waiting for instance to create: The zone 'projects/gpu-hosts-dev/zones/us-central1-a' does not have enough resources available to fulfill the request.  Try a different zone, or try again later";
    const vmUrn = (host: string) => `urn:pulumi:dev::gpu-hosts::gpu-hosts:hosts:GcpGpuHost$gcp:compute/instance:Instance::${host}-vm`;

    it("keys two hosts of one cloud apart, so each moves on its own", () => {
        const got = capacityFailures(failedUp([{ urn: vmUrn("gcp-2"), message: GCP_EXHAUSTED }, { urn: vmUrn("gcp"), message: GCP_EXHAUSTED }]));
        assert.deepStrictEqual([...got!.keys()], ["gcp-2", "gcp"]);
        assert.strictEqual(got!.get("gcp-2")!.code, "ZONE_RESOURCE_POOL_EXHAUSTED");
    });

    it("is undefined when any error is not a VM's capacity failure", () => {
        assert.strictEqual(capacityFailures(failedUp([{ urn: vmUrn("gcp-2"), message: GCP_EXHAUSTED }, { urn: NETWORK_URN, message: GCP_EXHAUSTED }])), undefined);
        assert.strictEqual(capacityFailures(failedUp([])), undefined);
    });
});
