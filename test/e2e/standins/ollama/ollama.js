#!/usr/bin/env node
// A stand-in for the ollama/ollama image, NOT Ollama: there is no model and no GPU on the machines
// that run the end-to-end tests, and no registry to pull the real image from. It answers the calls
// the stack makes, following Ollama's documented API (https://github.com/ollama/ollama/blob/main/docs/api.md):
//   ollama serve            the server on OLLAMA_HOST (default 0.0.0.0:11434), the image's default command
//   ollama list             GET /api/tags, printed as a table (the container's health check)
//   ollama pull MODEL       POST /api/pull (the stack's model pull); "success" once the model is "present"
// Server: GET /api/version, GET /api/tags, POST /api/pull, POST /api/generate and /api/chat
// (stream false or NDJSON). Pulled model names persist in /root/.ollama/stand-in-models.json, on the
// models volume, as real models do.
// Generation: a fixed latency, so that the e2e runs can measure throughput. Each generation takes
// delayMs (default 200) once it runs, and at most `parallel` run at once (0, the default: no limit),
// the rest wait in arrival order, as requests wait for a real Ollama's OLLAMA_NUM_PARALLEL slots on
// one GPU. A request whose client goes away is dropped (Ollama cancels it too). The settings come
// from STANDIN_DELAY_MS and STANDIN_PARALLEL, and a file on the models volume,
// /root/.ollama/stand-in.json ({"delayMs": 500, "parallel": 2}, STANDIN_CONFIG_FILE), overrides them,
// read at each request: the program gives the container Ollama's own environment only, so a test
// writes the file (docker exec) to set a host's "GPU" without a new container.
// GET /api/stand-in/stats (not Ollama's): {generated, active, waiting, delayMs, parallel}.
"use strict";
const fs = require("fs");
const http = require("http");

const STORE = process.env.STANDIN_MODELS_FILE || "/root/.ollama/stand-in-models.json";
const [host, port] = (process.env.OLLAMA_HOST || "0.0.0.0:11434").replace(/^https?:\/\//, "").split(":");
const CONFIG = process.env.STANDIN_CONFIG_FILE || "/root/.ollama/stand-in.json";
const count = (v, fallback) => (Number.isFinite(Number(v)) && Number(v) >= 0 && v !== "" && v !== null ? Number(v) : fallback);
/** The generation settings now: the file's, else the environment's. */
function settings() {
    const env = { delayMs: count(process.env.STANDIN_DELAY_MS, 200), parallel: count(process.env.STANDIN_PARALLEL, 0) };
    let file = {};
    try { file = JSON.parse(fs.readFileSync(CONFIG, "utf8")); } catch { /* none, or not JSON: the environment's */ }
    return { delayMs: count(file.delayMs, env.delayMs), parallel: Math.floor(count(file.parallel, env.parallel)) };
}
const stats = { generated: 0, active: 0 };
/** Generations waiting for a slot, first come first served: functions that start them. */
const waiting = [];
function next() {
    const { parallel } = settings();
    while (waiting.length && (parallel === 0 || stats.active < parallel)) waiting.shift()();
}
/** Runs `answer` after the latency, in a slot; `gone` is true when the client left first. */
function generate(req, res, answer) {
    let timer;
    let state = "waiting";
    const start = () => {
        state = "running";
        stats.active++;
        timer = setTimeout(() => {
            state = "done";
            stats.active--;
            stats.generated++;
            answer();
            next();
        }, settings().delayMs);
    };
    res.on("close", () => {
        if (state === "waiting") { const i = waiting.indexOf(start); if (i >= 0) waiting.splice(i, 1); }
        if (state === "running") { clearTimeout(timer); stats.active--; next(); }
        state = "gone";
    });
    waiting.push(start);
    next();
}

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
            if (req.method === "GET" && path === "/api/stand-in/stats") return send(res, 200, { ...stats, waiting: waiting.length, ...settings() });
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
                const started = Date.now();
                generate(req, res, () => {
                    const done = { model, created_at: new Date().toISOString(), done: true, done_reason: "stop", total_duration: (Date.now() - started) * 1e6, eval_count: 1 };
                    const chunk = path === "/api/chat" ? { message: { role: "assistant", content: text } } : { response: text, context: [] };
                    if (body.stream === false) return send(res, 200, { ...done, ...chunk });
                    res.writeHead(200, { "content-type": "application/x-ndjson" });
                    res.write(JSON.stringify({ model, done: false, ...chunk }) + "\n");
                    res.end(JSON.stringify({ ...done, ...(path === "/api/chat" ? { message: { role: "assistant", content: "" } } : { response: "" }) }) + "\n");
                });
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
