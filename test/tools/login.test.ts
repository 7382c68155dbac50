// The login check `npm run up`, `preview`, `deploy` and `release` run before the engine
// (scripts/lib/logins.ts), against a real OpenSSH server on loopback (test/helpers/sshd.ts) and the
// real ssh and ssh-keyscan clients: a server whose authorized_keys lacks the stack's key stops the
// up within seconds with the one line to authorise, and the engine is never asked to run. The
// stack is an in-memory stand-in whose engine calls are recorded (and refused), with the real
// config loader and a state shaped as `pulumi stack export --show-secrets` gives it (the tls
// PrivateKey's secret outputs as {<sig>, plaintext}; checked against the real engine's export).
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describeKey } from "../../infra/hosts/hostKeys";
import { LOCAL_COMMAND_TYPE, SERVER_HOST_TYPE, STACK_KEY_NAME, TLS_PRIVATE_KEY_TYPE, hostKeyName, serverIdentityName } from "../../infra/contract/names";
import { isOpsError } from "../../scripts/lib/errors";
import { RawConfig, StackOps } from "../../scripts/lib/stackOps";
import type { StackState, StateResource } from "../../scripts/lib/recover";
import { preview, up } from "../../scripts/lib/up";
import { LoopbackSshd, loopbackSshdUnavailable, realClientsPath } from "../helpers/sshd";

const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const secret = (v: string) => ({ ...SECRET_SIG, plaintext: JSON.stringify(v) });
const PINNED_SLOTS = JSON.stringify({ blue: { release: "v1", commit: "a".repeat(40) }, green: { release: "v1", commit: "a".repeat(40) } });
const ENGINE = "the engine ran";

interface Recorded extends StackOps {
    /** Every engine operation and config write asked of the stack. */
    readonly engine: string[];
}

function stackOf(values: Record<string, string>, secrets: string[], state: StackState | undefined): Recorded {
    const engine: string[] = [];
    const refuse = (what: string) => async (): Promise<never> => {
        engine.push(what);
        throw new Error(ENGINE);
    };
    return {
        name: "dev",
        engine,
        allConfig: async (): Promise<RawConfig> => ({ values: { ...values }, secrets }),
        exportState: async () => {
            if (!state) throw new Error("no stack state");
            return state;
        },
        outputs: async () => ({}),
        setConfig: async (k) => void engine.push(`setConfig ${k}`),
        preview: refuse("preview"), up: refuse("up"), destroy: refuse("destroy"), refresh: refuse("refresh"), importState: refuse("importState"), history: refuse("history"),
    };
}

/** A state with the stack's generated key pair and, when given, the host key recorded for server "box". */
function stateWith(key: { privateKey: string; publicKey: string } | undefined, recordedHostKey?: string): StackState {
    const stackUrn = "urn:pulumi:dev::gpu-hosts::pulumi:pulumi:Stack::gpu-hosts-dev";
    const host = `urn:pulumi:dev::gpu-hosts::${SERVER_HOST_TYPE}::box`;
    const resources: StateResource[] = [{ urn: stackUrn, type: "pulumi:pulumi:Stack" }];
    if (key) {
        resources.push({
            urn: `urn:pulumi:dev::gpu-hosts::${TLS_PRIVATE_KEY_TYPE}::${STACK_KEY_NAME}`, type: TLS_PRIVATE_KEY_TYPE, custom: true, parent: stackUrn,
            outputs: { algorithm: "ED25519", privateKeyOpenssh: secret(key.privateKey), publicKeyOpenssh: `${key.publicKey}\n` },
        });
    }
    if (recordedHostKey) {
        resources.push({ urn: host, type: SERVER_HOST_TYPE, parent: stackUrn });
        for (const [n, t] of [[hostKeyName("box"), recordedHostKey], [serverIdentityName("box"), "0".repeat(32)]]) {
            resources.push({ urn: `${host}$${LOCAL_COMMAND_TYPE}::${n}`, type: LOCAL_COMMAND_TYPE, custom: true, parent: host, outputs: { triggers: [t] } });
        }
    }
    return { version: 3, deployment: { resources } };
}

describe("login check before the engine (scripts/lib/logins.ts), against a real sshd on loopback", function () {
    this.timeout(120_000);
    let sshd: LoopbackSshd;
    let savedPath = "";
    let generated: { privateKey: string; publicKey: string };
    let ownPublic = "";
    const config = (extra: Record<string, string> = {}) => ({
        clouds: JSON.stringify(["ssh"]),
        ssh: JSON.stringify({ hosts: [{ name: "box", address: "127.0.0.1", port: sshd.port, user: "root", gpu: false }] }),
        slots: PINNED_SLOTS,
        operatorCidrs: JSON.stringify(["127.0.0.0/8"]),
        ...extra,
    });
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<{ result: T | undefined; error: unknown; seconds: number }> => {
        const started = process.hrtime.bigint();
        let result: T | undefined;
        let error: unknown;
        try {
            result = await f();
        } catch (e) {
            error = e;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        console.log(`      ${what}: ${seconds.toFixed(2)} s`);
        return { result, error, seconds };
    };

    before(async function () {
        const why = loopbackSshdUnavailable();
        if (why) {
            console.warn(`      skipping: ${why}`);
            this.skip();
        }
        savedPath = process.env.PATH ?? "";
        // The real ssh and ssh-keyscan, not test/helpers/setup.ts's stubs.
        process.env.PATH = realClientsPath();
        sshd = new LoopbackSshd();
        await sshd.start();
        // The stack's generated key: another key than the one the server authorises.
        const file = path.join(sshd.dir, "stack_key");
        const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        generated = { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
        ownPublic = fs.readFileSync(`${sshd.clientKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    });

    after(async () => {
        if (savedPath) process.env.PATH = savedPath;
        await sshd?.stop();
    });

    it("an up whose server lacks the stack's generated key stops in seconds with the line to authorise, and the engine never runs", async () => {
        sshd.authorize(true); // the server authorises the client key only, not the stack's
        const stack = stackOf(config(), [], stateWith(generated));
        const lines: string[] = [];
        const r = await timed("up, stack's key not authorised", () => up({ stack, log: (l) => lines.push(l) }, () => assert.fail("nothing is pinned")));
        assert.ok(isOpsError(r.error, "login"), String(r.error));
        const want = `box: root@127.0.0.1 port ${sshd.port} refuses the stack's SSH key; authorise it (one line, in ~root/.ssh/authorized_keys on the server), ` +
            `then run again: ${generated.publicKey}`;
        assert.equal((r.error as Error).message, want);
        assert.doesNotMatch((r.error as Error).message, /\n/, "one line");
        assert.deepEqual(stack.engine, [], "no engine call, no config written");
        assert.ok(lines.some((l) => l.startsWith("checking the login to box over SSH")), lines.join("\n"));
        // Not a timing assertion: a bound far above the check's own (two SSH round trips on loopback)
        // and far below any engine run of this program (48 s and more, issue 23 item 15).
        assert.ok(r.seconds < 30, `${r.seconds} s`);
    });

    it("the line works: authorised as it says, the same up gets past the check to the engine (host key first used, then as the state recorded it)", async () => {
        fs.appendFileSync(path.join(sshd.dir, "authorized_keys"), `${generated.publicKey}\n`);
        const first = stackOf(config(), [], stateWith(generated));
        const lines: string[] = [];
        const r = await timed("up, key authorised, first use of the host key", () => up({ stack: first, log: (l) => lines.push(l) }, () => assert.fail("nothing is pinned")));
        assert.equal((r.error as Error)?.message, ENGINE);
        assert.deepEqual(first.engine, ["up"]);
        assert.ok(lines.includes(`      box: logged in (host key ${describeKey(sshd.hostKey())}, first use: the up records it)`), lines.join("\n"));
        const recorded = stackOf(config(), [], stateWith(generated, sshd.hostKey()));
        const p = await timed("preview, key authorised, host key as recorded", () => preview({ stack: recorded, log: () => undefined }));
        assert.equal((p.error as Error)?.message, ENGINE);
        assert.deepEqual(recorded.engine, ["preview"]);
    });

    it("the operator's own key (gpu-hosts:sshPrivateKey) refused: the line is its public half, derived here", async () => {
        sshd.authorize(false);
        const stack = stackOf(config({ sshPrivateKey: fs.readFileSync(sshd.clientKey, "utf8") }), ["sshPrivateKey"], undefined);
        const r = await timed("up, own key not authorised", () => up({ stack, log: () => undefined }, () => assert.fail("nothing is pinned")));
        assert.equal((r.error as Error)?.message, `box: root@127.0.0.1 port ${sshd.port} refuses the key in gpu-hosts:sshPrivateKey; authorise its public half ` +
            `(one line, in ~root/.ssh/authorized_keys on the server), then run again: ${ownPublic}`);
        assert.deepEqual(stack.engine, []);
        sshd.authorize(true);
    });

    it("a server presenting another host key than the state recorded is refused with the program's own line; nothing logs in", async () => {
        const stack = stackOf(config(), [], stateWith(generated, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBszT9VXdGaRiWZzhoRya5djW1Qd/WIHvTMDI1vMRZkg"));
        const before = fs.readFileSync(path.join(sshd.dir, "sshd.log"), "utf8").length;
        const r = await timed("up, host key changed", () => up({ stack, log: () => undefined }, () => assert.fail("nothing is pinned")));
        assert.match((r.error as Error)?.message ?? "", new RegExp(`^box: root@127\\.0\\.0\\.1 port ${sshd.port} presents a new SSH host key \\(${describeKey(sshd.hostKey()).replace(/[+/]/g, "\\$&")}\\); ` +
            "if the server was reinstalled, run `npm run recover -- --stack dev`.*nothing was sent to it$"));
        assert.deepEqual(stack.engine, []);
        assert.doesNotMatch(fs.readFileSync(path.join(sshd.dir, "sshd.log"), "utf8").slice(before), /Accepted|Failed publickey|Connection closed by authenticating user/, "no login was attempted");
    });

    it("a server that does not answer stops the up with one line within the scan's timeout", async () => {
        await sshd.pause();
        try {
            const stack = stackOf(config(), [], stateWith(generated));
            const r = await timed("up, server down", () => up({ stack, log: () => undefined }, () => assert.fail("nothing is pinned")));
            assert.match((r.error as Error)?.message ?? "", new RegExp(`^box: no SSH answer from 127\\.0\\.0\\.1 port ${sshd.port} within 10 s`));
            assert.deepEqual(stack.engine, []);
        } finally {
            await sshd.restart();
        }
    });

    it("a new stack (no generated key in the state yet) says so and lets the engine make the key", async () => {
        const stack = stackOf(config(), [], stateWith(undefined));
        const lines: string[] = [];
        const r = await up({ stack, log: (l) => lines.push(l) }, () => assert.fail("nothing is pinned")).catch((e: Error) => e);
        assert.equal((r as Error).message, ENGINE);
        assert.deepEqual(stack.engine, ["up"]);
        assert.ok(lines.some((l) => l.startsWith("note: the stack's SSH key does not exist yet")), lines.join("\n"));
    });
});
