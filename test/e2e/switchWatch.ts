// The switch as a client sees it: keep-alive clients that ask the live URL's health back to back
// (a public path: no key, so any proxy in front of the slots can be measured the same way) and read
// which slot answered. It gives the seconds from the start of a command until the first answer of the
// new slot, and every request that failed meanwhile (a transport error or any status but 200). The
// e2e measures the project's promote/rollback and kamal-proxy's deploy with it, side by side.
import * as http from "node:http";

export interface SwitchFigures {
    /** Seconds from start() to the first answer of the new slot; undefined if none came. */
    readonly switchedAfterS?: number;
    readonly sent: number;
    readonly failed: number;
    /** The first few failures, for the notes. */
    readonly failures: readonly string[];
    /**
     * Answers from the old slot to requests sent after the first answer of the new one (a flapping
     * switch). The clients run concurrently, so a request another client sent before the switch can
     * still finish on the old slot after it: that one is served as routed when it arrived, not a flap.
     */
    readonly backAfterSwitch: number;
}

export class SwitchWatch {
    private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    /** Set by stop(): when the clients end. Unset while the command runs. */
    private done?: () => boolean;
    private loops: Promise<void>[] = [];
    private started = 0;
    private firstNew?: number;
    private sent = 0;
    private back = 0;
    private readonly failures: string[] = [];

    /** `url` is the proxy's base URL; `to` the slot that is to go live. */
    constructor(private readonly url: string, private readonly to: string, private readonly clients = 4) {}

    start(): void {
        this.done = undefined;
        this.started = Date.now();
        this.loops = Array.from({ length: this.clients }, () => this.loop());
    }

    /**
     * Call when the command has returned. A command may return the moment it switched (kamal-proxy's
     * deploy takes 0.3 s), before any request sent after the switch has come back, so the clients
     * go on until the new slot answers, for `graceMs` at most: a switch that happened is then seen,
     * and one that did not is reported as never.
     */
    async stop(graceMs = 5_000): Promise<SwitchFigures> {
        const deadline = Date.now() + graceMs;
        this.done = () => this.firstNew !== undefined || Date.now() >= deadline;
        await Promise.all(this.loops);
        this.agent.destroy();
        return {
            switchedAfterS: this.firstNew === undefined ? undefined : (this.firstNew - this.started) / 1000,
            sent: this.sent, failed: this.failures.length, failures: this.failures.slice(0, 5), backAfterSwitch: this.back,
        };
    }

    private async loop(): Promise<void> {
        while (!this.done?.()) {
            const sentAt = Date.now();
            const r = await this.get();
            this.sent++;
            if ("error" in r) {
                this.failures.push(r.error);
            } else if (r.status !== 200) {
                this.failures.push(`GET /health -> ${r.status}`);
            } else if (r.slot === this.to) {
                this.firstNew ??= Date.now();
            } else if (this.firstNew !== undefined && sentAt > this.firstNew) {
                this.back++;
            }
            await new Promise((res) => setTimeout(res, 20));
        }
    }

    private get(): Promise<{ status: number; slot?: string } | { error: string }> {
        return new Promise((resolve) => {
            const req = http.get(`${this.url}/health`, { agent: this.agent, timeout: 10_000 }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (body += c));
                res.on("end", () => {
                    let slot: string | undefined;
                    try {
                        slot = (JSON.parse(body) as { slot?: string }).slot;
                    } catch {
                        slot = undefined;
                    }
                    resolve({ status: res.statusCode ?? 0, slot });
                });
                res.on("error", (e) => resolve({ error: `GET /health: ${e.message}` }));
            });
            req.on("timeout", () => req.destroy(new Error("timed out after 10 s")));
            req.on("error", (e) => resolve({ error: `GET /health: ${e.message}` }));
        });
    }
}
