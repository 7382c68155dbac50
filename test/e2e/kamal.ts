// kamal-proxy v0.9.2, the blue/green switch operators know, run against the e2e's own two slots for a
// side-by-side figure: its binary (built from basecamp/kamal-proxy's source, /work/shared/bench/
// README.md; checked against the SHA256SUMS there) in a container of the stand-in Debian image on the
// stack's private network, its HTTP port published on loopback. `kamal-proxy deploy <service>
// --target <host:port>` is Kamal's switch: health-gated, and draining the old target
// (basecamp/kamal-proxy README "Deploying"; a second deploy with another target moves the service).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { Run, run } from "./harness";

/**
 * ../shared/bench beside this checkout, else beside the checkout it was cloned from: CI runs in a
 * fresh clone elsewhere (as scripts/engine.sh finds ../shared/engine).
 */
export function benchDir(repo: string = path.resolve(__dirname, "..", "..")): string {
    const beside = path.resolve(repo, "..", "shared", "bench");
    if (fs.existsSync(beside)) return beside;
    const origin = spawnSync("git", ["remote", "get-url", "origin"], { cwd: repo, encoding: "utf8" }).stdout?.trim() ?? "";
    const fromOrigin = origin && fs.existsSync(origin) ? path.resolve(origin, "..", "shared", "bench") : "";
    return fromOrigin && fs.existsSync(fromOrigin) ? fromOrigin : beside;
}
const CONTAINER = "gpu-hosts-e2e-kamal-proxy";
const IMAGE = "gpu-hosts-standin/debian:bookworm";

export interface Kamal {
    readonly url: string;
    readonly version: string;
    /** `kamal-proxy deploy app --target <target> --health-check-path <path>`, timed. */
    deploy(target: string, healthPath: string): Promise<Run>;
    stop(): Promise<void>;
}

/** Starts kamal-proxy on `network`, its HTTP port on 127.0.0.1:`port`; the binary unpacked into `dir`. */
export async function startKamal(o: { bench?: string; dir: string; network: string; port: number; log: string }): Promise<Kamal> {
    const bench = o.bench ?? process.env.GPU_HOSTS_BENCH_DIR ?? benchDir();
    const archive = path.join(bench, "kamal-proxy.tar.xz");
    const sums = fs.readFileSync(path.join(bench, "SHA256SUMS"), "utf8");
    const want = /^([0-9a-f]{64})\s+kamal-proxy\.tar\.xz$/m.exec(sums)?.[1];
    const got = createHash("sha256").update(fs.readFileSync(archive)).digest("hex");
    if (!want || want !== got) throw new Error(`kamal-proxy.tar.xz: sha256 ${got}, SHA256SUMS says ${want ?? "nothing"}`);
    fs.mkdirSync(o.dir, { recursive: true });
    const x = await run("tar", ["-xJf", archive, "-C", o.dir], { cwd: o.dir, log: o.log });
    if (x.code !== 0) throw new Error(`unpacking kamal-proxy: ${x.output}`);
    const docker = (...args: string[]) => run("docker", args, { cwd: o.dir, log: o.log });
    await docker("rm", "-f", CONTAINER);
    const started = await docker("run", "-d", "--name", CONTAINER, "--network", o.network, "-p", `127.0.0.1:${o.port}:80`,
        "-v", `${o.dir}:/kp:ro`, IMAGE, "/kp/kamal-proxy", "run");
    if (started.code !== 0) throw new Error(`starting kamal-proxy: ${started.output}`);
    // The binary has no version command: the bench README's table names the tag it was built from.
    const version = /^\| kamal-proxy \| (v[0-9.]+) \|/m.exec(fs.readFileSync(path.join(bench, "README.md"), "utf8"))?.[1] ?? "unknown version";
    const deadline = Date.now() + 30_000;
    for (;;) {
        const l = await docker("exec", CONTAINER, "/kp/kamal-proxy", "list");
        if (l.code === 0) break;
        if (Date.now() > deadline) throw new Error(`kamal-proxy did not answer within 30 s: ${l.output}`);
        await new Promise((r) => setTimeout(r, 300));
    }
    return {
        url: `http://127.0.0.1:${o.port}`,
        version,
        deploy: (target, healthPath) => docker("exec", CONTAINER, "/kp/kamal-proxy", "deploy", "app", "--target", target, "--health-check-path", healthPath),
        stop: async () => {
            await docker("rm", "-f", CONTAINER);
        },
    };
}
