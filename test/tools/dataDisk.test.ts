// The data-disk mount (infra/shell/dataDisk.ts, data-disk.sh): its options' checks, and the script
// run for real as root against a loop device standing in for the cloud disk, with an fstab and a
// mount point of the test's own (the machine's /etc/fstab is never touched): formats a blank disk
// only, keeps the data on every later run, one fstab line by UUID with nofail, refuses a disk that
// holds something else, waits within its bound for a device that never comes, and unmounts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DataDiskOptions, awsEbsDevice, azureLunDevices, dataDiskScript, gcpDiskDevice, validateDataDiskOptions } from "../../infra/shell/dataDisk";
import { findTool } from "../helpers/tools";

const OK: DataDiskOptions = { devices: ["/dev/disk/by-id/google-gpu-hosts-data"], mountDir: "/var/lib/gpu-hosts/data", sizeGb: 50, timeoutSeconds: 300 };

describe("data disk script options", () => {
    it("names where each cloud's disk appears", () => {
        assert.strictEqual(awsEbsDevice("vol-0123456789abcdef0"), "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0");
        assert.strictEqual(gcpDiskDevice("gpu-hosts-data"), "/dev/disk/by-id/google-gpu-hosts-data");
        assert.deepStrictEqual(azureLunDevices(0), ["/dev/disk/azure/scsi1/lun0", "/dev/disk/azure/data/by-lun/0"]);
    });

    it("reports every bad option at once, each with its value and what is allowed", () => {
        assert.deepStrictEqual(validateDataDiskOptions(OK), []);
        assert.deepStrictEqual(validateDataDiskOptions({ devices: ["/tmp/x", "/dev/$(reboot)"], mountDir: "/", sizeGb: 0.5, timeoutSeconds: 0, fstab: "fstab" }), [
            'data disk option devices[0] must be a path under /dev/, got "/tmp/x"',
            'data disk option devices[1] must be a path under /dev/, got "/dev/$(reboot)"',
            'data disk option mountDir must be an absolute directory path other than /, got "/"',
            "data disk option sizeGb must be a positive whole number of GiB, got 0.5",
            "data disk option timeoutSeconds must be a positive whole number of seconds, got 0",
            'data disk option fstab must be an absolute file path, got "fstab"',
        ]);
        assert.throws(() => dataDiskScript({ ...OK, devices: [] }), /^Error: data disk option devices must be a non-empty list of device paths, got \[\]$/);
    });
});

/** Why the loop-device runs cannot happen here, or undefined when they can. */
function loopUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) return "not root";
    for (const tool of ["losetup", "mkfs.ext4", "blkid", "findmnt", "mountpoint", "resize2fs", "sfdisk", "wipefs"]) {
        if (!findTool(tool)) return `${tool} is not on PATH`;
    }
    return undefined;
}

describe("data disk script on a loop device (root)", function () {
    this.timeout(60000);
    let dir = "";
    let image = "";
    let loop = "";
    let opts: DataDiskOptions;
    const run = (o: DataDiskOptions, verb: "mount" | "unmount") => spawnSync("bash", ["-s", "--", verb], { input: dataDiskScript(o), encoding: "utf8" });
    const fstab = () => fs.readFileSync(opts.fstab!, "utf8");
    const blkid = (what: string) => spawnSync("blkid", ["-p", "-o", "value", "-s", what, loop], { encoding: "utf8" }).stdout.trim();
    const mounted = () => spawnSync("mountpoint", ["-q", opts.mountDir]).status === 0;

    before(function () {
        const why = loopUnavailable();
        if (why) {
            console.warn(`      skipping: ${why}`);
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-data-disk-"));
        image = path.join(dir, "disk.img");
        fs.writeFileSync(image, "");
        fs.truncateSync(image, 64 * 1024 * 1024);
        const r = spawnSync("losetup", ["-f", "--show", image], { encoding: "utf8" });
        if (r.status !== 0) {
            console.warn(`      skipping: losetup could not attach a loop device: ${r.stderr.trim()}`);
            this.skip();
        }
        loop = r.stdout.trim();
        const fstabPath = path.join(dir, "fstab");
        fs.writeFileSync(fstabPath, "# the machine's own lines stay\nUUID=1111 / ext4 defaults 0 1\n");
        // sizeGb is whole GiB; the loop device is 64 MiB, so the grow wait is checked apart (below).
        opts = { devices: ["/dev/gpu-hosts-test-absent", loop], mountDir: path.join(dir, "data"), sizeGb: 1, timeoutSeconds: 5, fstab: fstabPath };
    });

    after(() => {
        if (dir && mounted()) spawnSync("umount", ["-l", opts.mountDir]);
        if (loop) spawnSync("losetup", ["-d", loop]);
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    // MIN_BYTES is the cloud's size; the loop device is smaller than 1 GiB, so the first runs stand in
    // with a script whose MIN_BYTES is the device's own size (the only change: one header line).
    const fits = (o: DataDiskOptions) => dataDiskScript(o).replace(/^readonly MIN_BYTES=\d+$/m, "readonly MIN_BYTES=67108864");
    const runFitting = (verb: "mount" | "unmount") => spawnSync("bash", ["-s", "--", verb], { input: fits(opts), encoding: "utf8" });

    it("formats a blank disk ext4, adds one fstab line by UUID with nofail, and mounts it", () => {
        const r = runFitting("mount");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /no filesystem on .*: making an ext4 one/);
        assert.strictEqual(blkid("TYPE"), "ext4");
        assert.strictEqual(blkid("LABEL"), "gpu-hosts-data");
        const uuid = blkid("UUID");
        assert.strictEqual(fstab(), `# the machine's own lines stay\nUUID=1111 / ext4 defaults 0 1\nUUID=${uuid} ${opts.mountDir} ext4 defaults,nofail 0 2\n`);
        assert.ok(mounted());
    });

    it("run again, keeps the data and the one line (idempotent)", () => {
        fs.writeFileSync(path.join(opts.mountDir, "appendonly.aof"), "job 1\n");
        const before = fstab();
        const r = runFitting("mount");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /making an ext4 one/);
        assert.strictEqual(fstab(), before);
        assert.strictEqual(fs.readFileSync(path.join(opts.mountDir, "appendonly.aof"), "utf8"), "job 1\n");
    });

    it("unmounts and leaves fstab as it found it, the data on the disk; a later mount finds it again", () => {
        let r = runFitting("unmount");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(!mounted());
        assert.strictEqual(fstab(), "# the machine's own lines stay\nUUID=1111 / ext4 defaults 0 1\n");
        r = runFitting("mount");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /making an ext4 one/);
        assert.strictEqual(fs.readFileSync(path.join(opts.mountDir, "appendonly.aof"), "utf8"), "job 1\n", "a new VM finds the jobs");
    });

    it("waits, within its bound, for a disk the cloud has not grown yet", () => {
        // sizeGb 1 is more than the 64 MiB device: the script waits, then fails saying why.
        const t = Date.now();
        const r = run(opts, "mount");
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, new RegExp(`${loop} is smaller than the 1073741824 bytes the cloud gave it after 5s`));
        assert.ok(Date.now() - t < 15000);
    });

    it("fails within its bound, naming the paths, when the disk never appears", () => {
        const r = run({ ...opts, devices: ["/dev/gpu-hosts-test-absent"], timeoutSeconds: 2 }, "mount");
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /the data disk did not appear within 2s at any of: \/dev\/gpu-hosts-test-absent/);
    });

    it("never formats a disk that holds something, even without a filesystem", () => {
        const u = runFitting("unmount");
        assert.strictEqual(u.status, 0, u.stderr);
        const w = spawnSync("wipefs", ["-a", "-q", loop], { encoding: "utf8" });
        assert.strictEqual(w.status, 0, w.stderr);
        const sf = spawnSync("sfdisk", ["-q", loop], { input: "label: gpt\n", encoding: "utf8" });
        assert.strictEqual(sf.status, 0, sf.stderr);
        const r = runFitting("mount");
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /holds no filesystem but is not blank \(.*PTTYPE=gpt.*\): refusing to format it/);
        assert.strictEqual(blkid("TYPE"), "");
        assert.ok(!mounted());
    });
});
