/**
 * A throw-away PKI for TLS tests, made with the real openssl CLI (Node's crypto can verify
 * certificates but not issue them): a CA and a server certificate it signs for the loopback
 * address, as the stack's CA signs each host's certificate for its address (an IP or DNS SAN).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
    readonly dir: string;
    /** PEM file of the CA certificate (what REDIS_CA_FILE names). */
    readonly caFile: string;
    readonly caPem: string;
    /** The server's certificate and its private key (PEM files). */
    readonly certFile: string;
    readonly keyFile: string;
    /** The name a client must check the server certificate against: 127.0.0.1 when it is in the SANs, else the first DNS name. */
    readonly serverName: string;
    remove(): void;
}

/** Runs openssl; its chatter goes nowhere, its errors into the exception. */
function openssl(args: string[], cwd: string): void {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * A CA named `name` and a server certificate it signs, valid for `sans` (default: the loopback
 * address and localhost). P-256 keys: fast to make, and what @pulumi/tls's ECDSA keys would be.
 */
export function makePki(name = "gpu-hosts test CA", sans: readonly string[] = ["IP:127.0.0.1", "DNS:localhost"]): TestPki {
    const dir = mkdtempSync(join(tmpdir(), "app-test-pki-"));
    try {
        const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(["req", "-x509", ...key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", `/CN=${name}`,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
        openssl(["req", ...key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=redis"], dir);
        writeFileSync(join(dir, "server.ext"), [
            `subjectAltName=${sans.join(",")}`,
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth",
            "",
        ].join("\n"));
        openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "server.ext"], dir);
    } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`openssl could not make the test PKI: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
    }
    const caFile = join(dir, "ca.crt");
    return {
        dir,
        caFile,
        caPem: readFileSync(caFile, "utf8"),
        certFile: join(dir, "server.crt"),
        keyFile: join(dir, "server.key"),
        serverName: sans.includes("IP:127.0.0.1") ? "127.0.0.1" : (sans.find((s) => s.startsWith("DNS:")) ?? "").slice(4),
        remove: () => rmSync(dir, { recursive: true, force: true }),
    };
}
