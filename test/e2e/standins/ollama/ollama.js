#!/usr/bin/env node
// A stand-in for the ollama/ollama image, NOT Ollama: there is no model and no GPU on the machines
// that run the end-to-end tests, and no registry to pull the real image from. It answers the calls
// the stack makes, following Ollama's documented API (https://github.com/ollama/ollama/blob/main/docs/api.md):
//   ollama serve            the server on OLLAMA_HOST (default 0.0.0.0:11434), the image's default command
//   ollama list             GET /api/tags, printed as a table (the container's health check)
//   ollama pull MODEL       POST /api/pull (the stack's model pull); "success" once the model is "present"
// Server: GET /api/version, GET /api/tags, POST /api/pull, POST /api/generate and /api/chat
// (stream false or NDJSON). Pulled model names persist in /root/.ollama/stand-in-models.json, on the
// models volume, as real models do. Generation answers after STANDIN_DELAY_MS (default 200 ms).
"use strict";
const fs = require("fs");
const http = require("http");

const STORE = process.env.STANDIN_MODELS_FILE || "/root/.ollama/stand-in-models.json";
const [host, port] = (process.env.OLLAMA_HOST || "0.0.0.0:11434").replace(/^https?:\/\//, "").split(":");
const delayMs = Number(process.env.STANDIN_DELAY_MS || 200);

const models = () => { try { return JSON.parse(fs.readFileSync(STORE, "utf8")); } catch { return []; } };
const withTag = (m) => (m.includes(":") ? m : `${m}:latest`);

function serve() {
    const send = (res, code, body) => { res.writeHead(code, { "content-type": "application/json; charset=utf-8" }); res.end(JSON.stringify(body)); };
    http.createServer((req, res) => {
        let raw = "";
        req.on("data", (c) => (raw += c));
        req.on("end", () => {
            let body = {};
            try { body = raw ? JSON.parse(raw) : {}; } catch { return send(res, 400, { error: "invalid JSON body" }); }
            const path = req.url.split("?")[0];
            if (req.method === "GET" && path === "/") { res.end("Ollama is running (stand-in)"); return; }
            if (req.method === "GET" && path === "/api/version") return send(res, 200, { version: "0.6.8-stand-in" });
            if (req.method === "GET" && path === "/api/tags") {
                return send(res, 200, { models: models().map((name) => ({ name, model: name, modified_at: "2024-05-10T00:00:00Z", size: 1, digest: "0".repeat(64), details: { family: "stand-in" } })) });
            }
            if (req.method === "POST" && path === "/api/pull") {
                const name = withTag(String(body.model || body.name || ""));
                if (!/^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9._-]+$/.test(name)) return send(res, 400, { error: "invalid model name" });
                const list = models();
                if (!list.includes(name)) { fs.mkdirSync(require("path").dirname(STORE), { recursive: true }); fs.writeFileSync(STORE, JSON.stringify([...list, name])); }
                if (body.stream === false) return send(res, 200, { status: "success" });
                res.writeHead(200, { "content-type": "application/x-ndjson" });
                res.write(JSON.stringify({ status: "pulling manifest" }) + "\n");
                res.end(JSON.stringify({ status: "success" }) + "\n");
                return;
            }
            if (req.method === "POST" && (path === "/api/generate" || path === "/api/chat")) {
                const model = String(body.model || "");
                if (!models().includes(withTag(model))) return send(res, 404, { error: `model "${model}" not found, try pulling it first` });
                const text = `stand-in answer for ${model}`;
                const done = { model, created_at: new Date().toISOString(), done: true, done_reason: "stop", total_duration: delayMs * 1e6, eval_count: 1 };
                setTimeout(() => {
                    const chunk = path === "/api/chat" ? { message: { role: "assistant", content: text } } : { response: text, context: [] };
                    if (body.stream === false) return send(res, 200, { ...done, ...chunk });
                    res.writeHead(200, { "content-type": "application/x-ndjson" });
                    res.write(JSON.stringify({ model, done: false, ...chunk }) + "\n");
                    res.end(JSON.stringify({ ...done, ...(path === "/api/chat" ? { message: { role: "assistant", content: "" } } : { response: "" }) }) + "\n");
                }, delayMs);
                return;
            }
            send(res, 404, { error: "404 page not found" });
        });
    }).listen(Number(port || 11434), host || "0.0.0.0", () => console.log(`ollama stand-in listening on ${host}:${port}`));
    process.on("SIGTERM", () => process.exit(0));
}

function client(method, path, body) {
    const url = `http://127.0.0.1:${port || 11434}${path}`;
    return fetch(url, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } })
        .then(async (r) => { if (!r.ok) throw new Error(`${r.status} ${await r.text()}`); return r.json(); });
}

const [cmd, arg] = process.argv.slice(2);
const fail = (e) => { console.error(`Error: ${e.message || e}`); process.exit(1); };
if (!cmd || cmd === "serve") serve();
else if (cmd === "list" || cmd === "ls") client("GET", "/api/tags").then((t) => { console.log("NAME\tID\tSIZE\tMODIFIED"); for (const m of t.models) console.log(`${m.name}\t000000000000\t1 B\tstand-in`); }, fail);
else if (cmd === "pull" && arg) client("POST", "/api/pull", { model: arg, stream: false }).then((r) => console.log(r.status), fail);
else if (cmd === "--version" || cmd === "-v") console.log("ollama version is 0.6.8-stand-in");
else fail(`unknown command ${JSON.stringify(cmd)} (this stand-in knows serve, list, pull)`);
