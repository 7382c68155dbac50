#!/usr/bin/env node
// The API key check behind the proxy's forward_auth, and the writer of its key file. Plain Node
// (http, crypto, fs): no dependency, no registry, built on the host from this directory.
//
//   node server.js               serve GET /check and GET /healthz on $PORT (default 9000); on
//                                SIGTERM stop accepting, answer the checks in flight, exit 0
//   node server.js write-keys    read a key file from stdin, validate it, install it atomically
//   node server.js healthcheck   exit 0 while the local service answers /healthz 200
//
// The key file ($KEYS_FILE, default /keys/api-keys) holds one sha256 hex digest per line ("#"
// comments and blank lines allowed), so not even the file holds a key. Each check stats the file
// and re-reads it when its inode, size or times change: rotation is writing a new file (renamed into
// place, so a reader sees the old set or the new one, never half), with no proxy reload. The bearer
// token is hashed and compared with crypto.timingSafeEqual against every stored digest, without
// stopping at a match. Nothing here logs a header, a token or a digest.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const path = require("path");

const DEFAULT_KEYS_FILE = "/keys/api-keys";
const DEFAULT_PORT = 9000;
const REALM = "gpu-hosts";
/** Response header naming the key that matched: a sha256 prefix, not a secret; for per-key limits. */
const KEY_ID_HEADER = "X-Api-Key-Id";
const DIGEST = /^[0-9a-f]{64}$/;
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;
const MAX_FILE_BYTES = 1 << 20;

function sha256(text) {
    return crypto.createHash("sha256").update(text, "utf8").digest();
}

/** Digests in a key file's text; throws naming the first bad line by number only. */
function parseKeysFile(text) {
    const digests = [];
    text.split("\n").forEach((raw, i) => {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) return;
        if (!DIGEST.test(line)) throw new Error(`line ${i + 1} is not a lower-case sha256 hex digest`);
        digests.push(Buffer.from(line, "hex"));
    });
    return digests;
}

/**
 * True when sha256(token) equals one of `digests`. Every digest is compared (timingSafeEqual on
 * equal-length buffers), and the result is folded without a branch on it, so the time taken does
 * not depend on which key, or how much of one, matched.
 */
function tokenMatches(token, digests) {
    const d = sha256(token);
    let hit = 0;
    for (const stored of digests) hit |= crypto.timingSafeEqual(d, stored) ? 1 : 0;
    return hit === 1;
}

/** The bearer token of an Authorization header, or undefined. */
function bearerToken(header) {
    if (typeof header !== "string") return undefined;
    const m = BEARER.exec(header);
    return m ? m[1] : undefined;
}

/**
 * The key set behind `file`, re-read whenever the file's identity (inode, size, mtime, ctime)
 * changes. A missing file is "missing" (fail closed); a file that fails to parse keeps the last good
 * set, or is "invalid" if there never was one.
 */
function keyStore(file, opts = {}) {
    const fsx = opts.fs || fs;
    const log = opts.log || ((msg) => process.stderr.write(`${JSON.stringify({ level: "warn", msg })}\n`));
    let stamp;
    let state = { status: "missing", digests: [] };
    let reads = 0;
    return {
        current() {
            let st;
            try {
                st = fsx.statSync(file);
            } catch (e) {
                if (stamp !== "missing") log(`key file ${file} unavailable (${e.code || "error"}); refusing every key`);
                stamp = "missing";
                state = { status: "missing", digests: [] };
                return state;
            }
            const id = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
            if (id === stamp) return state;
            stamp = id;
            reads++;
            try {
                if (st.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
                state = { status: "ok", digests: parseKeysFile(fsx.readFileSync(file, "utf8")) };
            } catch (e) {
                log(`key file ${file} rejected: ${e.message}; ${state.status === "ok" ? "keeping the previous key set" : "refusing every key"}`);
                if (state.status !== "ok") state = { status: "invalid", digests: [] };
            }
            return state;
        },
        /** How many times the file was (re-)read; for tests. */
        reads: () => reads,
    };
}

function send(res, status, body, headers = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store", ...headers });
    res.end(text);
}

const UNAUTHORIZED = { error: "Unauthorized", message: "missing or invalid API key" };

/** The request handler: /check for forward_auth, /healthz for Docker. */
function handler(store) {
    return (req, res) => {
        const url = (req.url || "").split("?")[0];
        // Liveness for Docker: 200 while the process serves, so the container turns healthy before its
        // first key file is written. Says whether keys are loaded, never how many or which.
        if (url === "/healthz") return send(res, 200, { status: "ok", keys: store.current().status });
        if (url !== "/check") return send(res, 404, { error: "Not Found", message: "no such endpoint" });
        const s = store.current();
        if (s.status !== "ok") return send(res, 503, { error: "Service Unavailable", message: "API keys are not provisioned on this host" });
        const token = bearerToken(req.headers.authorization);
        if (token === undefined) return send(res, 401, UNAUTHORIZED, { "WWW-Authenticate": `Bearer realm="${REALM}"` });
        if (!tokenMatches(token, s.digests)) {
            return send(res, 401, UNAUTHORIZED, { "WWW-Authenticate": `Bearer realm="${REALM}", error="invalid_token"` });
        }
        res.writeHead(200, { [KEY_ID_HEADER]: sha256(token).toString("hex").slice(0, 16), "Content-Length": 0, "Cache-Control": "no-store" });
        res.end();
    };
}

function createServer(store) {
    const listener = handler(store);
    const server = http.createServer((req, res) => {
        // Draining (drain() below): this answer is the connection's last, so Caddy opens its next
        // check on another connection, i.e. another key service.
        if (server.draining) res.setHeader("Connection", "close");
        listener(req, res);
    });
    server.draining = false;
    // Caddy pools its connections to the key service (caddy.ts): Node must outlive Caddy's 2-minute
    // idle timeout rather than close a connection Caddy is about to reuse. A check is headers only:
    // 10 s bounds a slow or stuck client.
    server.keepAliveTimeout = 180_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    return server;
}

/** How long a stopping service waits for the checks in flight, in ms: requestTimeout bounds each. */
const DRAIN_MS = 10_000;

/**
 * Stops `server` without failing a check: the listener closes at once, so a new connection is
 * refused and the proxy's dialer moves on to the other address its "auth" alias resolves to (the
 * new key service, during a replacement: infra/service/proxy.ts); idle kept-alive connections are
 * closed; checks in flight are answered (with Connection: close) and their connections closed after.
 * Resolves once every connection is gone, or after `graceMs`, when the rest are cut.
 */
function drain(server, graceMs = DRAIN_MS) {
    server.draining = true;
    return new Promise((resolve) => {
        const timer = setTimeout(() => {
            server.closeAllConnections();
            resolve("timeout");
        }, graceMs);
        timer.unref();
        server.close(() => {
            clearTimeout(timer);
            resolve("drained");
        });
        server.closeIdleConnections();
    });
}

/** Installs `text` as `file`: validated, written to a temporary file beside it, fsynced, renamed. */
function writeKeysFile(file, text) {
    const digests = parseKeysFile(text);
    if (digests.length === 0) throw new Error("the key file names no key; refusing to lock every client out");
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
    const fd = fs.openSync(tmp, "w", 0o640);
    try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(dir, "r");
    try {
        fs.fsyncSync(dfd);
    } finally {
        fs.closeSync(dfd);
    }
    return digests.length;
}

function readStdin() {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        process.stdin.on("data", (c) => {
            size += c.length;
            if (size > MAX_FILE_BYTES) reject(new Error(`key file on stdin is larger than ${MAX_FILE_BYTES} bytes`));
            chunks.push(c);
        });
        process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        process.stdin.on("error", reject);
    });
}

async function main(argv, env) {
    const file = env.KEYS_FILE || DEFAULT_KEYS_FILE;
    const port = Number(env.PORT || DEFAULT_PORT);
    switch (argv[0]) {
        case "write-keys": {
            const n = writeKeysFile(file, await readStdin());
            process.stdout.write(`api key file ${file} installed: ${n} key(s)\n`);
            return;
        }
        case "healthcheck": {
            const ok = await new Promise((resolve) => {
                const req = http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 3000 }, (res) => {
                    res.resume();
                    resolve(res.statusCode === 200);
                });
                req.on("timeout", () => req.destroy());
                req.on("error", () => resolve(false));
            });
            process.exitCode = ok ? 0 : 1;
            return;
        }
        case undefined: {
            const server = createServer(keyStore(file));
            server.listen(port, env.HOST || "0.0.0.0", () => process.stdout.write(`${JSON.stringify({ level: "info", msg: `api key check listening on :${port}, keys from ${file}` })}\n`));
            // `docker stop` (and the provider's delete, with destroyGraceSeconds) sends SIGTERM first.
            const stop = (signal) => {
                process.stdout.write(`${JSON.stringify({ level: "info", msg: `${signal}: draining; new connections are refused, checks in flight are answered` })}\n`);
                drain(server).then((how) => {
                    process.stdout.write(`${JSON.stringify({ level: "info", msg: how === "drained" ? "drained, exiting" : `drain cut after ${DRAIN_MS} ms, exiting` })}\n`);
                    process.exit(0);
                });
            };
            process.once("SIGTERM", stop);
            process.once("SIGINT", stop);
            return;
        }
        default:
            throw new Error(`unknown command ${JSON.stringify(argv[0])}; use write-keys, healthcheck or nothing`);
    }
}

module.exports = { parseKeysFile, tokenMatches, bearerToken, keyStore, handler, createServer, drain, writeKeysFile, KEY_ID_HEADER, REALM };

if (require.main === module) {
    main(process.argv.slice(2), process.env).catch((e) => {
        process.stderr.write(`auth: ${e.message}\n`);
        process.exit(1);
    });
}
