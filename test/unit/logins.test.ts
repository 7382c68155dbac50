// What the login check before the engine (scripts/lib/logins.ts) asks, of which servers, with which
// key and host key, and how it reports: pure, with the per-server check injected (the real one runs
// against a real sshd in test/tools/login.test.ts).
import * as assert from "node:assert/strict";
import { loadConfig } from "../../infra/config";
import { LOCAL_COMMAND_TYPE, SERVER_HOST_TYPE, STACK_KEY_NAME, TLS_PRIVATE_KEY_TYPE, hostKeyName } from "../../infra/contract/names";
import { describeKey } from "../../infra/hosts/hostKeys";
import { isOpsError } from "../../scripts/lib/errors";
import { LoginToCheck, checkLogins, generatedKeyIn, recordedHostKey } from "../../scripts/lib/logins";
import type { StackState, StateResource } from "../../scripts/lib/recover";

const PIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBszT9VXdGaRiWZzhoRya5djW1Qd/WIHvTMDI1vMRZkg";
const STACK = "urn:pulumi:dev::gpu-hosts::pulumi:pulumi:Stack::gpu-hosts-dev";
const PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
const secret = (v: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
const stackKey = (parent = STACK): StateResource => ({
    urn: `urn:pulumi:dev::gpu-hosts::${TLS_PRIVATE_KEY_TYPE}::${STACK_KEY_NAME}`, type: TLS_PRIVATE_KEY_TYPE, parent,
    outputs: { privateKeyOpenssh: secret(PRIVATE), publicKeyOpenssh: "ssh-ed25519 AAAAgenerated\n" },
});
const hostKeyRecord = (name: string, key: string): StateResource => ({
    urn: `urn:pulumi:dev::gpu-hosts::${SERVER_HOST_TYPE}$${LOCAL_COMMAND_TYPE}::${hostKeyName(name)}`, type: LOCAL_COMMAND_TYPE,
    parent: `urn:pulumi:dev::gpu-hosts::${SERVER_HOST_TYPE}::${name}`, outputs: { triggers: [key] },
});

const cfgOf = (values: Record<string, unknown>) => loadConfig("dev", Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])), (k) => k === "sshPrivateKey");
const SERVERS = {
    clouds: ["ssh"], operatorCidrs: ["203.0.113.0/24"],
    ssh: { hosts: [{ name: "box1", address: "203.0.113.10" }, { name: "box2", address: "203.0.113.11", port: 2222, user: "ops", hostKey: PIN }] },
};

function deps(resources: StateResource[] | undefined, answer: (c: LoginToCheck) => string | undefined) {
    const asked: LoginToCheck[] = [];
    const lines: string[] = [];
    let exports = 0;
    return {
        asked, lines, exports: () => exports,
        d: {
            stack: {
                name: "dev",
                exportState: async (): Promise<StackState> => {
                    exports++;
                    if (!resources) throw new Error("no state");
                    return { version: 3, deployment: { resources } };
                },
            },
            log: (l: string) => lines.push(l),
            login: (c: LoginToCheck) => {
                asked.push(c);
                const line = answer(c);
                return line ? { ok: false as const, line } : { ok: true as const, hostKey: c.pinnedKey || PIN, firstUse: !c.pinnedKey };
            },
        },
    };
}

describe("checkLogins: the login check before the engine", () => {
    it("asks nothing of a stack without own servers (not even its state)", async () => {
        const t = deps([], () => assert.fail("no server to check"));
        await checkLogins(t.d, cfgOf({}));
        assert.equal(t.exports(), 0);
        assert.deepEqual(t.lines, []);
    });

    it("checks every server with the generated key from the state and the host key each pins (config's, else the state's), and reports every refusal, one line each", async () => {
        const t = deps([stackKey(), hostKeyRecord("box1", "ssh-ed25519 AAAArecorded")], (c) => `${c.server.name}: refused`);
        const e = await checkLogins(t.d, cfgOf(SERVERS)).catch((x: unknown) => x);
        assert.ok(isOpsError(e, "login"), String(e));
        assert.equal(e.message, "box1: refused\nbox2: refused");
        assert.deepEqual(t.asked.map((c) => [c.server.name, c.pinnedKey, c.pinnedInConfig]), [["box1", "ssh-ed25519 AAAArecorded", false], ["box2", PIN, true]]);
        assert.deepEqual(t.asked[0].key, { kind: "generated", privateKey: PRIVATE, publicKey: "ssh-ed25519 AAAAgenerated" });
        assert.equal(t.asked[0].stack, "dev");
    });

    it("uses the operator's own key, and needs no state when config pins every host key", async () => {
        const t = deps(undefined, () => undefined);
        const own = { ...SERVERS, sshPrivateKey: PRIVATE, ssh: { hosts: [SERVERS.ssh.hosts[1]] } };
        await checkLogins(t.d, cfgOf(own));
        assert.equal(t.exports(), 0);
        assert.deepEqual(t.asked.map((c) => c.key), [{ kind: "own", privateKey: PRIVATE }]);
        assert.ok(t.lines.includes(`      box2: logged in (host key ${describeKey(PIN)})`), t.lines.join("\n"));
    });

    it("passes a new stack whose generated key does not exist yet (its first up makes it), saying so", async () => {
        for (const resources of [undefined, [], [stackKey(`urn:pulumi:dev::gpu-hosts::${SERVER_HOST_TYPE}::box1`)]]) {
            const t = deps(resources, () => assert.fail("no key to check with"));
            await checkLogins(t.d, cfgOf(SERVERS));
            assert.ok(t.lines.some((l) => l.startsWith("note: the stack's SSH key does not exist yet")), t.lines.join("\n"));
        }
    });

    it("reads the generated key's secret half as the engine exports it, and the host key a server's record holds", () => {
        assert.deepEqual(generatedKeyIn([stackKey()]), { privateKey: PRIVATE, publicKey: "ssh-ed25519 AAAAgenerated" });
        assert.equal(generatedKeyIn([{ ...stackKey(), outputs: { privateKeyOpenssh: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc" } } }]), undefined,
            "an export without --show-secrets has no key to use");
        assert.equal(recordedHostKey([hostKeyRecord("box1", PIN)], "box1"), PIN);
        assert.equal(recordedHostKey([hostKeyRecord("box1", PIN)], "box2"), "");
    });
});
