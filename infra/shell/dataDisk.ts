// The script that mounts a fleet hub's data disk on its VM (data-disk.sh): the cloud disk that holds
// Redis's data and outlives the VM (infra/clouds/<cloud>/host.ts make and attach it). It waits, within
// a bound, for the cloud to attach the disk; formats it ext4 only when it is blank; puts it in fstab by
// UUID with nofail; mounts it; grows its filesystem after the cloud grew the disk. Idempotent: run
// again (a changed script, a new VM), it finds the filesystem and leaves the data alone. A pure
// function of its options.
//
// Where each cloud's disk appears on Linux, as the clouds document it:
// - AWS (every GPU type here is Nitro: an EBS volume is an NVMe device whose name is not the one
//   given at attach, and whose serial number is the volume id,
//   https://docs.aws.amazon.com/ebs/latest/userguide/identify-nvme-ebs-device.html): udev's
//   persistent-storage rules link it as /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<volume id
//   without its '-'> (model, then serial).
// - GCP: /dev/disk/by-id/google-<device name>, the device name given at attach, SCSI or NVMe alike
//   (https://cloud.google.com/compute/docs/disks/format-mount-disk-linux).
// - Azure: /dev/disk/azure/scsi1/lun<N>, the LUN given at attach, linked by the Azure Linux agent's
//   udev rules (https://learn.microsoft.com/troubleshoot/azure/virtual-machines/linux/troubleshoot-device-names-problems);
//   on sizes whose data disks are NVMe, azure-vm-utils links /dev/disk/azure/data/by-lun/<N> instead
//   (https://github.com/Azure/azure-vm-utils, doc/disk-identification.md).
import { renderShell } from "./render";

/** What the data-disk script needs; every value resolved by the caller. */
export interface DataDiskOptions {
    /** The paths the disk may appear at, in order; the first that is a block device wins. */
    readonly devices: readonly string[];
    /** Where it is mounted (infra/config/fixed.ts DATA_DISK_DIR). */
    readonly mountDir: string;
    /** The disk's size as the cloud made it, in GiB (all three clouds size disks in GiB). */
    readonly sizeGb: number;
    /** Seconds to wait for the device to appear (and for a grown disk's new size). */
    readonly timeoutSeconds: number;
    /** The fstab to keep the line in. Defaults to /etc/fstab; a test passes its own. */
    readonly fstab?: string;
}

/** The system's fstab: the script edits it only through a whole-file rename. */
export const FSTAB = "/etc/fstab";
/** The ext4 label a new data disk gets (at most 16 bytes): what `lsblk -f` shows an operator. */
export const DATA_DISK_LABEL = "gpu-hosts-data";

const ABSOLUTE = /^\/[A-Za-z0-9._/-]+$/;

/** Every problem with `o`, each naming the option, the bad value and what is allowed. */
export function validateDataDiskOptions(o: DataDiskOptions): string[] {
    const problems: string[] = [];
    const bad = (key: string, allowed: string, value: unknown) => problems.push(`data disk option ${key} must be ${allowed}, got ${JSON.stringify(value)}`);
    if (o.devices.length === 0) bad("devices", "a non-empty list of device paths", o.devices);
    o.devices.forEach((d, i) => {
        if (!ABSOLUTE.test(d) || !d.startsWith("/dev/")) bad(`devices[${i}]`, "a path under /dev/", d);
    });
    if (!ABSOLUTE.test(o.mountDir) || o.mountDir === "/" || o.mountDir.endsWith("/")) bad("mountDir", "an absolute directory path other than /", o.mountDir);
    if (!Number.isSafeInteger(o.sizeGb) || o.sizeGb < 1) bad("sizeGb", "a positive whole number of GiB", o.sizeGb);
    if (!Number.isSafeInteger(o.timeoutSeconds) || o.timeoutSeconds < 1) bad("timeoutSeconds", "a positive whole number of seconds", o.timeoutSeconds);
    if (o.fstab !== undefined && !ABSOLUTE.test(o.fstab)) bad("fstab", "an absolute file path", o.fstab);
    return problems;
}

/** The script (bash), run as root as `bash -s -- mount` or `bash -s -- unmount`. Throws one Error listing every problem with `o`. */
export function dataDiskScript(o: DataDiskOptions): string {
    const problems = validateDataDiskOptions(o);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    return renderShell({
        file: "data-disk.sh",
        header: {
            DEVICES: o.devices,
            MOUNT_DIR: o.mountDir,
            FSTAB: o.fstab ?? FSTAB,
            TIMEOUT_SECONDS: o.timeoutSeconds,
            MIN_BYTES: o.sizeGb * 1024 ** 3,
            LABEL: DATA_DISK_LABEL,
        },
    });
}

/** The AWS path of an EBS volume ("vol-0abc..."): its serial is the id without the '-'. */
export function awsEbsDevice(volumeId: string): string {
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

/** The GCP path of a disk attached with `deviceName`. */
export function gcpDiskDevice(deviceName: string): string {
    return `/dev/disk/by-id/google-${deviceName}`;
}

/** The Azure paths of a data disk at `lun`: SCSI sizes, then NVMe ones. */
export function azureLunDevices(lun: number): string[] {
    return [`/dev/disk/azure/scsi1/lun${lun}`, `/dev/disk/azure/data/by-lun/${lun}`];
}
