// The firewall of an operator's own server (infra/shell/firewall.ts: firewall.sh, firewall-install.sh),
// with real iptables in network namespaces the test makes, for both of Debian's iptables backends
// (nf_tables and legacy): a "server" namespace that publishes two ports the way Docker does (nat
// DNAT from the host port to a "container" namespace's port, the filter table's FORWARD jumping to
// DOCKER-USER, then to Docker's own accept rules), a client inside operatorCidrs and one outside.
// The rules are applied by the real rendered scripts; the ports answer real TCP connections.
// Needs root, ip (iproute2) and iptables; under CI=true they must be there. Every namespace (and with
// it every veth and rule) is deleted in `after`.
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FIREWALL_CHAIN, FIREWALL_DROP_IN_PATH, FIREWALL_TOOL_PATH, FirewallOptions, firewallDropIn, firewallInstaller, firewallScript, validateFirewallOptions } from "../../infra/shell/firewall";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { findTool, isCI, requireTool } from "../helpers/tools";

const LIVE = 8000;
const IDLE = 8001;
/** The "container" ports behind them: the rules must match the published port, not these. */
const INNER: Readonly<Record<number, number>> = { [LIVE]: 9000, [IDLE]: 9001 };
const OPTIONS: FirewallOptions = { ports: [{ port: IDLE, from: ["198.51.100.0/24", "2001:db8::/32"] }] };

describe("the firewall of an operator's own server: options and text", () => {
    it("allows each guarded port from its IPv4 blocks, and drops the rest of it; nothing about other ports", () => {
        const script = firewallScript(OPTIONS);
        assert.match(script, /^readonly CHAIN=GPU-HOSTS\nreadonly PORTS=\(8001\)\nreadonly ALLOW=\('8001 198\.51\.100\.0\/24'\)\n/m, "the IPv6 block is left out: the port is published on IPv4 only");
        const two = firewallScript({ ports: [{ port: 8001, from: ["10.0.0.0/8", "10.0.0.0/8"] }, { port: 6380, from: [] }] });
        assert.match(two, /^readonly PORTS=\(8001 6380\)\nreadonly ALLOW=\('8001 10\.0\.0\.0\/8'\)\n/m, "a port with no block is closed to all but the server");
        const installer = firewallInstaller(OPTIONS);
        assert.ok(installer.includes(`readonly TOOL=${FIREWALL_TOOL_PATH}\n`));
        assert.ok(installer.includes(`readonly DROP_IN=${FIREWALL_DROP_IN_PATH}\n`));
        assert.match(firewallDropIn(), /^\[Service\]\nExecStartPre=\/usr\/local\/sbin\/gpu-hosts-firewall apply\n$/m);
    });

    it("refuses options that would not make sense in an iptables rule, naming each", () => {
        assert.deepStrictEqual(validateFirewallOptions({ ports: [{ port: 0, from: ["10.0.0.0/8; reboot"] }, { port: 8001, from: [] }, { port: 8001, from: [] }] }), [
            "firewall option ports[0].port must be an integer from 1 to 65535, got 0",
            'firewall option ports[0].from[0] must be a CIDR block, e.g. "203.0.113.0/24", got "10.0.0.0/8; reboot"',
            "firewall option ports[2].port must be a port no other entry names, got 8001",
        ]);
        assert.deepStrictEqual(validateFirewallOptions({ ports: [] }), ["firewall option ports must be a non-empty list of {port, from}, got []"]);
        assert.throws(() => firewallInstaller({ ports: [{ port: 70000, from: [] }] }), /^Error: firewall option ports\[0\]\.port must be an integer from 1 to 65535, got 70000$/);
    });

    it("shellcheck finds nothing in either script", function () {
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(firewallScript(OPTIONS), "firewall", "bash");
        assertScriptShellcheckClean(firewallInstaller(OPTIONS), "firewall installer", "bash");
    });
});

/** Runs `script` with bash in network namespace `ns` (and a mount namespace of its own if asked), iptables being the backend's. */
type Run = (ns: string, script: string, args?: string[], input?: string, mountNs?: boolean) => { status: number | null; stdout: string; stderr: string };

for (const backend of ["nft", "legacy"] as const) {
    describe(`the firewall with real iptables (${backend} backend) in network namespaces`, function () {
        this.timeout(60_000);
        const id = `${process.pid % 10000}${backend === "nft" ? "n" : "l"}`;
        const NS = { host: `ghfw-${id}-host`, ctr: `ghfw-${id}-ctr`, in: `ghfw-${id}-in`, out: `ghfw-${id}-out` };
        let dir = "";
        let server: ChildProcess | undefined;
        let run: Run;
        const made: string[] = [];

        const must = (ns: string, script: string, args: string[] = []) => {
            const r = run(ns, script, args);
            assert.strictEqual(r.status, 0, `${script}\n${r.stderr}`);
            return r.stdout;
        };
        /** What Docker does on each start (moby libnetwork setupUserChain, and the bridge driver's rules for two published ports). */
        const dockerStarts = () => must(NS.host, [
            // NewChain keeps an existing DOCKER-USER; Docker before 28 appends a RETURN; EnsureJumpRule puts FORWARD's jump first.
            "iptables -n -L DOCKER-USER >/dev/null 2>&1 || iptables -N DOCKER-USER",
            "iptables -C DOCKER-USER -j RETURN 2>/dev/null || iptables -A DOCKER-USER -j RETURN",
            "iptables -D FORWARD -j DOCKER-USER 2>/dev/null || true",
            "iptables -I FORWARD 1 -j DOCKER-USER",
            "iptables -P FORWARD DROP",
            "iptables -n -L DOCKER >/dev/null 2>&1 && iptables -F DOCKER || iptables -N DOCKER",
            "iptables -C FORWARD -o hc -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null || iptables -A FORWARD -o hc -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "iptables -C FORWARD -o hc -j DOCKER 2>/dev/null || iptables -A FORWARD -o hc -j DOCKER",
            "iptables -C FORWARD -i hc -j ACCEPT 2>/dev/null || iptables -A FORWARD -i hc -j ACCEPT",
            ...[LIVE, IDLE].map((p) => `iptables -A DOCKER -d 172.31.0.2/32 -o hc -p tcp --dport ${INNER[p]} -j ACCEPT`),
            "iptables -t nat -n -L DOCKER >/dev/null 2>&1 && iptables -t nat -F DOCKER || iptables -t nat -N DOCKER",
            "iptables -t nat -C PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            ...[LIVE, IDLE].map((p) => `iptables -t nat -A DOCKER -p tcp --dport ${p} -j DNAT --to-destination 172.31.0.2:${INNER[p]}`),
        ].join("\n"));
        /** A reboot: the kernel's tables start empty. */
        const reboot = () => must(NS.host, "for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done; iptables -P FORWARD ACCEPT");
        /** The firewall itself, run as the docker.service drop-in runs it. */
        const firewall = (action: "apply" | "remove") => must(NS.host, firewallScript(OPTIONS), [action]);
        /** The installer, with /usr/local/sbin and /etc/systemd/system on a tmpfs of its own, so nothing of this machine changes. */
        const installer = (steps: string) => {
            const file = path.join(dir, "install.sh");
            fs.writeFileSync(file, firewallInstaller(OPTIONS));
            return run(NS.host, ["set -e", "mount -t tmpfs tmpfs /usr/local/sbin", "mount -t tmpfs tmpfs /etc/systemd/system", ...steps.split("\n").map((s) => s.replace("INSTALLER", file))].join("\n"), [], undefined, true);
        };

        /** What each client gets from the live and the idle port on the server's address: the container's answer, or "timeout". */
        const reach = (client: "in" | "out") => {
            const address = client === "in" ? "198.51.100.1" : "203.0.113.1";
            const js = `const net=require("net");Promise.all([${LIVE},${IDLE}].map((port)=>new Promise((done)=>{const s=net.connect({host:"${address}",port});` +
                `s.setTimeout(1500,()=>{s.destroy();done("timeout")});s.on("data",(d)=>{s.destroy();done(String(d))});s.on("error",(e)=>done(e.code))})))` +
                `.then((r)=>console.log(JSON.stringify({live:r[0],idle:r[1]})))`;
            const r = spawnSync("ip", ["netns", "exec", NS[client], process.execPath, "-e", js], { encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            return JSON.parse(r.stdout) as { live: string; idle: string };
        };
        const GUARDED = { in: { live: "live", idle: "idle" }, out: { live: "live", idle: "timeout" } };
        const OPEN = { in: { live: "live", idle: "idle" }, out: { live: "live", idle: "idle" } };
        const reachAll = () => ({ in: reach("in"), out: reach("out") });
        const filterRules = () => must(NS.host, "iptables -S").split("\n").filter(Boolean);

        before(function () {
            const why = process.getuid?.() !== 0 ? "it runs as root (network namespaces, iptables)" : undefined;
            if (why) {
                if (isCI()) throw new Error(`CI=true: ${why}`);
                console.warn(`      skipping: ${why}`);
                this.skip();
            }
            requireTool("ip", this);
            requireTool("unshare", this);
            const multi = findTool(`xtables-${backend}-multi`);
            if (!multi) {
                if (isCI()) throw new Error(`CI=true: xtables-${backend}-multi (Debian's iptables) is required`);
                this.skip();
            }
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-firewall-"));
            // iptables, iptables-restore and iptables-save of one backend, first on PATH: the scripts call them by name.
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            for (const tool of ["iptables", "iptables-restore", "iptables-save"]) fs.symlinkSync(multi!, path.join(bin, tool));
            const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` };
            run = (ns, script, args = [], input, mountNs = false) => {
                const argv = ["netns", "exec", ns, ...(mountNs ? ["unshare", "-m", "--propagation", "private"] : []), "bash", "--norc", "-c", script, "bash", ...args];
                const r = spawnSync("ip", argv, { encoding: "utf8", env, input });
                return { status: r.status, stdout: r.stdout, stderr: r.stderr };
            };
            const ip = (...args: string[]) => {
                const r = spawnSync("ip", args, { encoding: "utf8" });
                assert.strictEqual(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
            };
            for (const ns of Object.values(NS)) {
                ip("netns", "add", ns);
                made.push(ns);
                ip("-n", ns, "link", "set", "lo", "up");
            }
            // The server's links: to the container (as docker0 is), and to each client's network.
            const links = [["hc", NS.ctr, "ch", "172.31.0.1", "172.31.0.2"], ["hi", NS.in, "ih", "198.51.100.1", "198.51.100.10"], ["ho", NS.out, "oh", "203.0.113.1", "203.0.113.10"]];
            for (const [mine, peerNs, theirs, myIp, theirIp] of links) {
                ip("link", "add", `${mine}${id}`, "netns", NS.host, "type", "veth", "peer", "name", `${theirs}${id}`, "netns", peerNs);
                ip("-n", NS.host, "link", "set", `${mine}${id}`, "name", mine);
                ip("-n", peerNs, "link", "set", `${theirs}${id}`, "name", theirs);
                ip("-n", NS.host, "addr", "add", `${myIp}/24`, "dev", mine);
                ip("-n", peerNs, "addr", "add", `${theirIp}/24`, "dev", theirs);
                ip("-n", NS.host, "link", "set", mine, "up");
                ip("-n", peerNs, "link", "set", theirs, "up");
                ip("-n", peerNs, "route", "add", "default", "via", myIp);
            }
            must(NS.host, "sysctl -qw net.ipv4.ip_forward=1");
            // The "container": the proxy's two listeners. A client that hangs up first (the probe below
            // does) resets the connection: that error is the client's business, not a reason to exit.
            const js = `const net=require("net");for(const [port,name] of [[${INNER[LIVE]},"live"],[${INNER[IDLE]},"idle"]])` +
                `net.createServer((s)=>{s.on("error",()=>{});s.end(name)}).listen(port,"172.31.0.2");setInterval(()=>{},1e6)`;
            server = spawn("ip", ["netns", "exec", NS.ctr, process.execPath, "-e", js], { stdio: "ignore" });
            const until = Date.now() + 10_000;
            while (spawnSync("ip", ["netns", "exec", NS.ctr, "bash", "--norc", "-c", `exec 3<>/dev/tcp/172.31.0.2/${INNER[IDLE]}`]).status !== 0) {
                if (Date.now() > until) throw new Error("the container's listeners did not start");
            }
            dockerStarts();
            // A rule the operator put in DOCKER-USER, which must stay.
            must(NS.host, "iptables -I DOCKER-USER 1 -s 192.0.2.0/24 -j DROP");
        });

        after(() => {
            server?.kill();
            for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it(`uses iptables' ${backend} backend`, () => {
            assert.match(must(NS.host, "iptables -V"), backend === "nft" ? /\(nf_tables\)/ : /\(legacy\)/);
        });

        it("without it, Docker's published ports reach everyone, even past an INPUT rule that drops them (docker/for-linux#690)", () => {
            must(NS.host, `iptables -A INPUT -p tcp --dport ${IDLE} -j DROP`);
            assert.deepStrictEqual(reachAll(), OPEN);
        });

        it("installed: the idle port only from operatorCidrs, the live port from everyone; its files in place; the operator's rule kept, after its jump", () => {
            const r = installer(`bash INSTALLER install\necho "--- tool"\ncat ${FIREWALL_TOOL_PATH}\necho "--- drop-in"\ncat ${FIREWALL_DROP_IN_PATH}`);
            assert.strictEqual(r.status, 0, r.stderr);
            const [log, tool, dropIn] = r.stdout.split(/^--- (?:tool|drop-in)\n/m);
            assert.strictEqual(log, "gpu-hosts-firewall: no systemd: the rules are in place until the next reboot; run /usr/local/sbin/gpu-hosts-firewall apply after each one\n" +
                `gpu-hosts-firewall: applied: 2 rules in ${FIREWALL_CHAIN}, which DOCKER-USER jumps to\n`);
            assert.strictEqual(tool, firewallScript(OPTIONS));
            assert.strictEqual(dropIn, firewallDropIn());
            assert.deepStrictEqual(reachAll(), GUARDED);
            assert.deepStrictEqual(filterRules().filter((l) => /^-A (DOCKER-USER|GPU-HOSTS) /.test(l)), [
                `-A DOCKER-USER -j ${FIREWALL_CHAIN}`,
                "-A DOCKER-USER -s 192.0.2.0/24 -j DROP",
                "-A DOCKER-USER -j RETURN",
                `-A ${FIREWALL_CHAIN} -s 198.51.100.0/24 -p tcp -m conntrack --ctstate DNAT --ctorigdstport ${IDLE} --ctdir ORIGINAL -j RETURN`,
                `-A ${FIREWALL_CHAIN} -p tcp -m conntrack --ctstate DNAT --ctorigdstport ${IDLE} --ctdir ORIGINAL -j DROP`,
            ]);
        });

        it("applied again, changes nothing (one jump, the same rules)", () => {
            const before = filterRules();
            firewall("apply");
            firewall("apply");
            assert.deepStrictEqual(filterRules(), before);
            assert.deepStrictEqual(reachAll(), GUARDED);
        });

        it("survives a Docker restart: Docker keeps DOCKER-USER and what is in it, and puts FORWARD's jump first again", () => {
            dockerStarts();
            assert.deepStrictEqual(reachAll(), GUARDED);
        });

        it("survives a reboot: docker.service's drop-in applies it to the empty tables before Docker starts, and Docker keeps the chain it finds", () => {
            reboot();
            firewall("apply"); // ExecStartPre
            dockerStarts();
            assert.deepStrictEqual(reachAll(), GUARDED);
            assert.strictEqual(filterRules().filter((l) => l === `-A DOCKER-USER -j ${FIREWALL_CHAIN}`).length, 1);
        });

        it("after DOCKER-USER is recreated without it (tables flushed while Docker runs, Docker rebuilding its chains), applying again closes the idle port", () => {
            reboot();
            dockerStarts();
            assert.deepStrictEqual(reachAll(), OPEN, "a recreated DOCKER-USER is empty");
            firewall("apply");
            assert.deepStrictEqual(reachAll(), GUARDED);
        });

        it("refuses to install where Docker does not filter through DOCKER-USER (\"iptables\": false), rather than guard nothing", () => {
            must(NS.host, "iptables -D FORWARD -j DOCKER-USER");
            try {
                const r = installer("bash INSTALLER install");
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /^gpu-hosts-firewall: Docker does not filter the ports it publishes through DOCKER-USER \("iptables": false, or the nftables firewall backend, in \/etc\/docker\/daemon\.json\?\)/);
            } finally {
                dockerStarts();
            }
        });

        it("uninstalled: takes away its chain, its jump and its files, and only those (DOCKER-USER and the operator's rule stay)", () => {
            must(NS.host, "iptables -C DOCKER-USER -s 192.0.2.0/24 -j DROP 2>/dev/null || iptables -A DOCKER-USER -s 192.0.2.0/24 -j DROP");
            firewall("apply");
            const r = installer(`bash INSTALLER install >/dev/null\nbash INSTALLER uninstall\nls -A /usr/local/sbin /etc/systemd/system`);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "gpu-hosts-firewall: removed\n/etc/systemd/system:\n\n/usr/local/sbin:\n");
            const rules = filterRules();
            assert.ok(!rules.some((l) => l.includes(FIREWALL_CHAIN)), rules.join("\n"));
            assert.ok(rules.includes("-A DOCKER-USER -s 192.0.2.0/24 -j DROP"), rules.join("\n"));
            assert.deepStrictEqual(reachAll(), OPEN);
        });
    });
}
