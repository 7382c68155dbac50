/**
 * ollama-stand-in: a tiny HTTP server that follows Ollama's documented REST API
 * (POST /api/generate and /api/chat with stream false, GET /api/tags, GET /api/version).
 * It is a stand-in for tests, not Ollama: there is no model and no GPU here. Knobs make it
 * fail the next N generations with 500, hang them, delay them, 404 an unknown model, or refuse
 * connections altogether (refuse() / accept(), same port).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
    readonly path: string;
    readonly body: Record<string, unknown>;
    /** True once the client went away before an answer was sent (an aborted request). */
    aborted: boolean;
    /** HTTP status of the answer, once one was sent. */
    status?: number;
}

export class OllamaStandIn {
    /** Models GET /api/tags lists; generating with any other one answers 404. */
    models: string[] = ["stand-in:latest"];
    /** Fail this many generate/chat calls with HTTP 500 before answering normally. */
    failNext = 0;
    /** Never answer generate/chat calls (until the client aborts or the stand-in stops). */
    hang = false;
    /** Wait this long before answering generate/chat calls. */
    delayMs = 0;
    /** The answer text for a prompt. */
    answer: (prompt: string, model: string) => string = (prompt) => `stand-in analysis: ${prompt.split("\n")[0]}`;

    readonly calls: RecordedCall[] = [];
    private server?: Server;
    private refusedPort?: number;
    private readonly pending = new Set<ServerResponse>();

    get url(): string {
        if (this.refusedPort !== undefined) return `http://127.0.0.1:${this.refusedPort}`;
        const addr = this.server?.address() as AddressInfo | null;
        if (!addr) throw new Error("stand-in not started");
        return `http://127.0.0.1:${addr.port}`;
    }

    generateCalls(): RecordedCall[] {
        return this.calls.filter((c) => c.path === "/api/generate" || c.path === "/api/chat");
    }

    async start(): Promise<string> {
        this.server = createServer((req, res) => void this.handle(req, res));
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        return this.url;
    }

    /** Stops listening (connections are refused) but keeps the port, for accept() to reopen. */
    async refuse(): Promise<void> {
        const port = Number(new URL(this.url).port);
        this.refusedPort = port;
        await this.stop();
    }

    /** Listens again on the port refuse() closed. */
    async accept(): Promise<void> {
        const port = this.refusedPort;
        if (port === undefined) throw new Error("accept() without refuse()");
        this.refusedPort = undefined;
        this.server = createServer((req, res) => void this.handle(req, res));
        await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    }

    async stop(): Promise<void> {
        for (const res of this.pending) res.destroy();
        this.server?.closeAllConnections();
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }

    reset(): void {
        if (this.refusedPort !== undefined) throw new Error("the stand-in is refusing connections: accept() first");
        this.failNext = 0;
        this.hang = false;
        this.delayMs = 0;
        this.models = ["stand-in:latest"];
        this.calls.length = 0;
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const path = (req.url ?? "/").split("?")[0];
        if (req.method === "GET" && path === "/api/version") return json(res, 200, { version: "0.6.8-stand-in" });
        if (req.method === "GET" && path === "/api/tags") {
            return json(res, 200, {
                models: this.models.map((name) => ({
                    name,
                    model: name,
                    modified_at: "2024-05-10T00:00:00Z",
                    size: 1,
                    digest: "0".repeat(64),
                    details: { format: "gguf", family: "stand-in", parameter_size: "0B", quantization_level: "Q4_0" },
                })),
            });
        }
        if (req.method === "POST" && (path === "/api/generate" || path === "/api/chat")) {
            let body: Record<string, unknown>;
            try {
                body = JSON.parse(await readBody(req));
            } catch {
                return json(res, 400, { error: "invalid JSON body" });
            }
            const call: RecordedCall = { path, body, aborted: false };
            this.calls.push(call);
            this.pending.add(res);
            res.on("close", () => {
                if (!res.writableFinished) call.aborted = true;
                else call.status = res.statusCode;
                this.pending.delete(res);
            });
            return this.generate(path, body, res);
        }
        return json(res, 404, { error: "404 page not found" });
    }

    private async generate(path: string, body: Record<string, unknown>, res: ServerResponse): Promise<void> {
        const model = String(body.model ?? "");
        if (!this.models.includes(model) && !this.models.includes(`${model}:latest`)) {
            return json(res, 404, { error: `model "${model}" not found, try pulling it first` });
        }
        if (this.failNext > 0) {
            this.failNext--;
            return json(res, 500, { error: "stand-in: simulated server error" });
        }
        if (this.hang) return; // the response stays open until the client aborts
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        if (res.destroyed) return;
        const prompt =
            path === "/api/chat"
                ? String((body.messages as Array<{ content?: string }> | undefined)?.at(-1)?.content ?? "")
                : String(body.prompt ?? "");
        const text = this.answer(prompt, model);
        const common = { model, created_at: new Date().toISOString(), done: true, done_reason: "stop", total_duration: 1, eval_count: 1 };
        if (body.stream === false) {
            return json(res, 200, path === "/api/chat" ? { ...common, message: { role: "assistant", content: text } } : { ...common, response: text, context: [] });
        }
        // Ollama streams by default: newline-delimited JSON, the last object carrying done: true.
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        const chunk = path === "/api/chat" ? { message: { role: "assistant", content: text } } : { response: text };
        res.write(JSON.stringify({ model, created_at: common.created_at, done: false, ...chunk }) + "\n");
        res.end(JSON.stringify({ ...common, ...(path === "/api/chat" ? { message: { role: "assistant", content: "" } } : { response: "" }) }) + "\n");
    }
}

function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        let data = "";
        req.setEncoding("utf8");
        req.on("data", (d) => (data += d));
        req.on("end", () => resolve(data));
        req.on("error", reject);
    });
}

function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
}
