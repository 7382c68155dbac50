// A stack CA and a host's server certificate as infra/service/pki.ts has the tls provider make them,
// minted with openssl for the tests and benchmarks that run the real Caddy: ECDSA P-256 keys in SEC1
// PEM ("EC PRIVATE KEY", what the provider writes for ECDSA), a CA with basicConstraints CA:TRUE
// (no path length) and keyCertSign/cRLSign/digitalSignature, and a server certificate with
// digitalSignature, serverAuth and one SAN: an IP SAN for an IP, a DNS SAN for a name
// (pki.ts subjectAltNames decides, here as in the program).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { subjectAltNames } from "../../infra/service/pki";

export interface TestPki {
    /** PEM of the CA certificate (what caRootCert holds). */
    readonly caPem: string;
    /** Path of the server certificate PEM. */
    readonly certFile: string;
    /** Path of the server key PEM (mode 0600). */
    readonly keyFile: string;
}

function openssl(args: string[], cwd: string): void {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Writes ca.key, ca.crt, server.key and server.crt for `address` into `dir`. */
export function mintTestPki(dir: string, address: string, commonName = "gpu-hosts test CA"): TestPki {
    fs.mkdirSync(dir, { recursive: true });
    const ecKey = (out: string) => {
        // -noout: the key only, in SEC1 ("EC PRIVATE KEY") as the tls provider writes an ECDSA key.
        openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", out], dir);
        fs.chmodSync(path.join(dir, out), 0o600);
    };
    ecKey("ca.key");
    openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650", "-subj", `/O=gpu-hosts/CN=${commonName}`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-addext", "subjectKeyIdentifier=hash", "-out", "ca.crt"], dir);
    ecKey("server.key");
    const sans = subjectAltNames(address);
    const san = [...sans.ipAddresses.map((ip) => `IP:${ip}`), ...sans.dnsNames.map((d) => `DNS:${d}`)].join(",");
    openssl(["req", "-new", "-key", "server.key", "-subj", `/O=gpu-hosts/CN=${address}`, "-out", "server.csr"], dir);
    fs.writeFileSync(path.join(dir, "server.ext"), [
        "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
        `subjectAltName=${san}`, "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid", "",
    ].join("\n"));
    openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-sha256", "-days", "800",
        "-extfile", "server.ext", "-out", "server.crt"], dir);
    return { caPem: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"), certFile: path.join(dir, "server.crt"), keyFile: path.join(dir, "server.key") };
}
