// The rules that tie keys to each other, checked once every key has been read on its own: ports
// that must differ, CIDRs a cloud needs, what ACME needs, slot commits that are full ids. Each reports
// into the same list as the keys' own problems, so the operator sees them all at once.
import { COLORS, NAMESPACE, PORTS, SSH } from "../vocabulary";
import { COMMIT, WIDEST_PRODUCTION_PREFIX, isIp, isWorldOpen } from "../validators";
import { CLOUDS, isCloud } from "../clouds";
import { cloudHosts } from "../clouds/placement";
import { show } from "./reader";
import type { Reader } from "./reader";
import { checkRegistryLogin } from "./sections/registry";
import { checkFleet } from "./fleet";
import type { StackConfig } from ".";

/** Ports the proxy must not publish: SSH, Redis and Ollama would open to the port's CIDRs. */
const RESERVED_PORTS: readonly number[] = [PORTS.ssh, PORTS.redis, PORTS.ollama];

export function checkRules(r: Reader, cfg: StackConfig, slotsRead: boolean): void {
    const ports = [["apiPort", cfg.apiPort], ["idlePort", cfg.idlePort]] as const;
    if (cfg.apiPort === cfg.idlePort) r.fail("idlePort", `a port other than ${NAMESPACE}:apiPort (${cfg.apiPort})`, cfg.idlePort);
    for (const [key, port] of ports) {
        if (RESERVED_PORTS.includes(port)) r.fail(key, `a port other than ${PORTS.ssh} (SSH), ${PORTS.redis} (Redis) and ${PORTS.ollama} (Ollama)`, port);
    }

    // Cloud VMs get a firewall from the CIDRs; the operator's own servers (ssh) one for the idle port
    // (infra/shell/firewall.ts), which would otherwise answer the server alone: not the operator's release.
    const clouds = cfg.clouds.filter(isCloud);
    const servers = cfg.clouds.includes(SSH);
    if (clouds.length > 0) {
        if (cfg.operatorCidrs.length === 0) r.fail("operatorCidrs", "a non-empty list of CIDR blocks when a cloud host is enabled (it opens SSH and the idle slot)", cfg.operatorCidrs);
        if (cfg.apiCidrs.length === 0) r.fail("apiCidrs", "a non-empty list of CIDR blocks when a cloud host is enabled (it opens the live API port)", cfg.apiCidrs);
    } else if (servers && cfg.operatorCidrs.length === 0) {
        r.fail("operatorCidrs", `a non-empty list of CIDR blocks when "${SSH}" is in ${NAMESPACE}:clouds (your own servers open the idle slot to them alone)`, cfg.operatorCidrs);
    }
    if ((clouds.length > 0 || servers) && cfg.production) {
        const open = cfg.operatorCidrs.filter(isWorldOpen);
        if (open.length > 0) {
            r.fail("operatorCidrs", `a list of CIDR blocks no wider than /${WIDEST_PRODUCTION_PREFIX.ipv4} (IPv4) or /${WIDEST_PRODUCTION_PREFIX.ipv6} (IPv6) ` +
                `when ${NAMESPACE}:production is true (SSH and the idle slot are never open to the world in production)`, open.length === 1 ? open[0] : open);
        }
    }
    for (const c of clouds) CLOUDS[c].check(r, cfg[c] as never);

    cfg.ssh.hosts.forEach((h, i) => {
        for (const [key, port] of ports) {
            if (h.port === port) r.fail(`ssh.hosts[${i}].port`, `a port other than ${NAMESPACE}:${key} (${port}): the proxy publishes that one on the server`, h.port);
        }
    });

    // A cloud's second and later hosts are named "<cloud>-<n>" (gpu-hosts:<cloud>.count), which an own
    // server's name may also be; two hosts of one name would share their resources' names, outputs and containers.
    const hosts = cloudHosts(cfg);
    if (servers) {
        cfg.ssh.hosts.forEach((h, i) => {
            const clash = hosts.find((c) => c.name === h.name);
            if (!clash) return;
            const mine = hosts.filter((c) => c.cloud === clash.cloud);
            r.fail(`ssh.hosts[${i}].name`, `a name no cloud host of the stack has (${NAMESPACE}:${clash.cloud}.count is ${mine.length}: ` +
                `its hosts are ${mine.map((c) => show(c.name)).join(", ")})`, h.name);
        });
    }

    if (cfg.tls.mode === "acme") {
        for (const [key, port] of ports) {
            if (port === PORTS.acmeChallenge) r.fail(key, `a port other than ${PORTS.acmeChallenge} when ${NAMESPACE}:tls.mode is "acme" (${PORTS.acmeChallenge} answers the certificate challenge)`, port);
        }
        cfg.ssh.hosts.forEach((h, i) => {
            if (isIp(h.address)) {
                r.fail(`ssh.hosts[${i}].address`, `a DNS name when ${NAMESPACE}:tls.mode is "acme" (a public CA issues certificates for names; use "internal" for an address)`, h.address);
            }
        });
        for (const { name } of hosts) {
            if ((cfg.tls.domains[name] ?? "") === "") {
                r.fail(`tls.domains.${name}`, `the DNS name of the ${name} host when ${NAMESPACE}:tls.mode is "acme" (a public CA issues only for a name)`, "");
            }
        }
        // Each host answers for its own name: one name on two hosts would point its DNS at one of them only.
        const seen = new Map<string, string>();
        for (const { name } of hosts) {
            const d = cfg.tls.domains[name] ?? "";
            if (d === "") continue;
            const first = seen.get(d);
            if (first) r.fail(`tls.domains.${name}`, `a DNS name other than tls.domains.${first}'s (each host needs its own when ${NAMESPACE}:tls.mode is "acme")`, d);
            else seen.set(d, name);
        }
    }

    checkRegistryLogin(r);
    checkFleet(r, cfg);

    // A commit, when set, is the full id the slot is pinned to (an abbreviation could later become
    // ambiguous); none means the program pins the release name itself (infra/service/pin.ts).
    for (const c of slotsRead ? COLORS : []) {
        const commit = cfg.slots[c].commit;
        if (commit !== "" && !COMMIT.re.test(commit)) {
            r.fail(`slots.${c}.commit`, `${COMMIT.allowed}, or "" (the program then pins slots.${c}.release itself)`, commit);
        }
    }
}
