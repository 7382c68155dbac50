// nvidia-smi --query-gpu output, parsed from real outputs quoted from public sources (each named
// beside it), for this query and for others (the parser reads by the fields asked for).
import * as assert from "node:assert/strict";
import { GPU_FIELDS, NVIDIA_SMI_ARGS, gpuDevices, gpuStatus, parseQueryGpuCsv } from "../../scripts/lib/status/gpu";

describe("status: nvidia-smi --query-gpu parsing", () => {
    it("asks for name, utilisation, memory and temperature, one CSV row per GPU without header or units", () => {
        assert.deepEqual(NVIDIA_SMI_ARGS, ["--query-gpu=name,utilization.gpu,memory.used,memory.total,temperature.gpu", "--format=csv,noheader,nounits"]);
    });

    it("two GPUs, with units (plain --format=csv)", () => {
        // https://github.com/Cyclenerd/ethereum_nvidia_miner/pull/51 (2018-03-08): `nvidia-smi --format=csv
        // --query-gpu=index,name,power.draw,temperature.gpu,fan.speed,clocks.gr,clocks.mem`, shown there
        // through `column -s, -t`; here with nvidia-smi's own ", " separators back.
        const out = [
            "index, name, power.draw [W], temperature.gpu, fan.speed [%], clocks.current.graphics [MHz], clocks.current.memory [MHz]",
            "0, GeForce GTX 1080, 131.17 W, 38, 70 %, 1708 MHz, 4873 MHz",
            "1, GeForce GTX 1080, 131.13 W, 35, 70 %, 1721 MHz, 4873 MHz",
        ].join("\n");
        const fields = ["index", "name", "power.draw", "temperature.gpu", "fan.speed", "clocks.current.graphics", "clocks.current.memory"];
        assert.deepEqual(gpuDevices(out, fields), [
            { index: 0, name: "GeForce GTX 1080", utilizationPercent: null, memoryUsedMiB: null, memoryTotalMiB: null, temperatureC: 38 },
            { index: 1, name: "GeForce GTX 1080", utilizationPercent: null, memoryUsedMiB: null, memoryTotalMiB: null, temperatureC: 35 },
        ]);
        assert.equal(parseQueryGpuCsv(out, fields)[1]["power.draw"], "131.13 W");
    });

    it("one GPU with every field status shows, units and header included", () => {
        // https://github.com/hakandundar34coding/system-monitoring-center/issues/57 (2022-04-18), a GeForce RTX 2060.
        const out = "name, pci.bus_id, driver_version, utilization.gpu [%], utilization.memory [%], memory.total [MiB], memory.free [MiB], memory.used [MiB], temperature.gpu, clocks.current.graphics [MHz], clocks.max.graphics [MHz]\n" +
            "GeForce RTX 2060, 00000000:09:00.0, 460.91.03, 20 %, 8 %, 5934 MiB, 5252 MiB, 682 MiB, 36, 300 MHz, 2160 MHz\n";
        const fields = ["name", "pci.bus_id", "driver_version", "utilization.gpu", "utilization.memory", "memory.total", "memory.free", "memory.used", "temperature.gpu", "clocks.current.graphics", "clocks.max.graphics"];
        assert.deepEqual(gpuDevices(out, fields), [
            { index: 0, name: "GeForce RTX 2060", utilizationPercent: 20, memoryUsedMiB: 682, memoryTotalMiB: 5934, temperatureC: 36 },
        ]);
    });

    it("[N/A] and [Not Supported] fields are null, not 0", () => {
        // https://github.com/enkore/i3pystatus/pull/776 (2020-04-02): the same card before and after a driver update,
        // `--query-gpu=memory.total,memory.free,memory.used,temperature.gpu,fan.speed,utilization.gpu,utilization.memory --format=csv,noheader,nounits`.
        const fields = ["memory.total", "memory.free", "memory.used", "temperature.gpu", "fan.speed", "utilization.gpu", "utilization.memory"];
        for (const out of ["2004, 2004, 0, 44, [N/A], 0, 0", "2004, 2004, 0, 44, [Not Supported], 0, 0"]) {
            const [row] = parseQueryGpuCsv(out, fields);
            assert.equal(row["fan.speed"], null, out);
            assert.equal(row["memory.used"], "0");
            assert.deepEqual(gpuDevices(out, fields)[0], { index: 0, name: "unknown GPU", utilizationPercent: 0, memoryUsedMiB: 0, memoryTotalMiB: 2004, temperatureC: 44 });
        }
        // https://github.com/mostlygeek/llama-swap/issues/782 (2026-05-23): a DGX Spark (GB10, unified memory),
        // `--query-gpu=memory.used,memory.total,utilization.memory`.
        assert.deepEqual(parseQueryGpuCsv("[N/A], [N/A], 0\n", ["memory.used", "memory.total", "utilization.memory"]),
            [{ "memory.used": null, "memory.total": null, "utilization.memory": "0" }]);
        // https://github.com/unslothai/unsloth/pull/10703 (2026-09-10): the same machine, `--query-gpu=index,name,memory.total,memory.free --format=csv`.
        const gb10 = "index, name, memory.total [MiB], memory.free [MiB]\n0, NVIDIA GB10, [N/A], [N/A]\n";
        assert.deepEqual(gpuDevices(gb10, ["index", "name", "memory.total", "memory.free"]),
            [{ index: 0, name: "NVIDIA GB10", utilizationPercent: null, memoryUsedMiB: null, memoryTotalMiB: null, temperatureC: null }]);
    });

    it("this query's own rows, a name with a comma kept whole, a warning line dropped (constructed, not quoted)", () => {
        const out = "Tesla T4, 0, 0, 15360, 34\r\nNVIDIA A100-SXM4-40GB, 97, 39000, 40960, 61\r\nWARNING: infoROM is corrupted at gpu 0000:00:04.0\r\nGRID A100X-4C, MIG 1g.5gb, 5, 100, 4096, [N/A]\r\n";
        const d = gpuDevices(out);
        assert.deepEqual(d.map((x) => x.name), ["Tesla T4", "NVIDIA A100-SXM4-40GB", "GRID A100X-4C, MIG 1g.5gb"]);
        assert.deepEqual(d[1], { index: 1, name: "NVIDIA A100-SXM4-40GB", utilizationPercent: 97, memoryUsedMiB: 39000, memoryTotalMiB: 40960, temperatureC: 61 });
        assert.equal(d[2].temperatureC, null);
        assert.equal(GPU_FIELDS.length, 5);
    });

    it("every failure is \"no GPU\" with the reason, never an error", () => {
        // https://github.com/GoogleCloudPlatform/compute-gpu-installation/issues/33 (2024-03-11): the driver not loaded.
        // (The exit codes here are illustrative: the text decides.)
        const failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
        assert.deepEqual(gpuStatus(9, failed, 10), { state: "none", note: `the NVIDIA driver does not answer: ${failed.trim()}`, devices: [] });
        // https://github.com/NVIDIA/nvidia-docker/issues/341 (2017-03-16): no nvidia-smi, under bash.
        assert.deepEqual(gpuStatus(127, "bash: nvidia-smi: command not found\n", 10), { state: "none", note: "nvidia-smi is not installed", devices: [] });
        // dash (Debian's sh, what the probe runs) and coreutils timeout on this machine, which has no NVIDIA driver.
        assert.equal(gpuStatus(127, "sh: 1: nvidia-smi: not found\n", 10).note, "nvidia-smi is not installed");
        assert.equal(gpuStatus(127, "timeout: failed to run command ‘nvidia-smi’: No such file or directory\n", 10).note, "nvidia-smi is not installed");
        // https://github.com/lyulyul/shine-cluster/issues/50 (2021-07-13): after a driver upgrade without a reboot.
        assert.deepEqual(gpuStatus(18, "Failed to initialize NVML: Driver/library version mismatch\n", 10),
            { state: "none", note: "nvidia-smi exited 18: Failed to initialize NVML: Driver/library version mismatch", devices: [] });
        assert.equal(gpuStatus(6, "No devices were found\n", 10).note, "nvidia-smi found no NVIDIA device");
        assert.equal(gpuStatus(124, "", 10).note, "nvidia-smi did not answer within 10 s");
        assert.equal(gpuStatus(0, "", 10).state, "none");
    });

    it("a working answer is \"ok\" with its devices", () => {
        const s = gpuStatus(0, "Tesla T4, 12, 1034, 15360, 41\n", 10);
        assert.equal(s.state, "ok");
        assert.deepEqual(s.devices, [{ index: 0, name: "Tesla T4", utilizationPercent: 12, memoryUsedMiB: 1034, memoryTotalMiB: 15360, temperatureC: 41 }]);
    });
});
