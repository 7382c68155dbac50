// gpu-hosts:registry and gpu-hosts:registryPassword: the wording of every rule, every problem at once,
// the password refused in plain text and never shown, the pairing of user and password.
import * as assert from "assert";
import { ConfigError, DEFAULTS, loadConfig } from "../../infra/config";

const C1 = "c1".repeat(20);
const PINNED = { slots: { blue: { release: "workdir", commit: C1 }, green: { release: "workdir", commit: C1 } } };
const raw = (o: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries({ ...PINNED, ...o }).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));

/** A token-shaped password: Docker's personal access tokens start with dckr_pat_. */
const TOKEN = "dckr_pat_Xy9-secret-value_123";

function load(o: Record<string, unknown>, secretKeys: readonly string[] = ["registryPassword"]) {
    return loadConfig("local", raw(o), (k) => secretKeys.includes(k));
}

function problems(o: Record<string, unknown>, secretKeys?: readonly string[]): readonly string[] {
    try {
        load(o, secretKeys);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("expected a ConfigError");
}

describe("config: the registry (Docker Hub mirrors and login)", () => {
    it("defaults to no mirror and no login: every pull is anonymous, as before", () => {
        assert.deepStrictEqual(DEFAULTS.registry, { mirrors: [], username: "" });
        assert.strictEqual(DEFAULTS.registryPassword, "");
        const cfg = load({});
        assert.deepStrictEqual(cfg.registry, { mirrors: [], username: "" });
        assert.strictEqual(cfg.registryPassword, "");
    });

    it("reads mirrors (an http(s) registry root, with a port or an IP) and a login whose password is a secret", () => {
        const cfg = load({
            registry: { mirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000/", "https://[2001:db8::5]:5000"], username: "gpuops" },
            registryPassword: TOKEN,
        });
        assert.deepStrictEqual(cfg.registry, { mirrors: ["https://mirror.gcr.io", "http://10.0.0.5:5000/", "https://[2001:db8::5]:5000"], username: "gpuops" });
        assert.strictEqual(cfg.registryPassword, TOKEN);
        // Fields left out keep their defaults, as with every object key.
        assert.deepStrictEqual(load({ registry: { mirrors: ["https://mirror.gcr.io"] } }).registry, { mirrors: ["https://mirror.gcr.io"], username: "" });
    });

    it("reports every problem at once, each naming the key, the value and what is allowed, and never the password", () => {
        const got = problems({
            registry: { mirrors: ["https://mirror.example.com/dockerhub", "mirror.gcr.io"], username: "GpuOps", token: "x" },
            registryPassword: "two\nlines",
            liveColor: "purple",
        });
        assert.deepStrictEqual(got, [
            'gpu-hosts:liveColor must be "blue" or "green", got "purple"',
            "gpu-hosts:registry.token is not a known field; known fields: mirrors, username",
            'gpu-hosts:registry.mirrors must be a list of mirrors, each an http(s) URL of a registry mirror\'s root, e.g. "https://mirror.gcr.io" (no user, path, query or fragment), got ["https://mirror.example.com/dockerhub","mirror.gcr.io"]',
            'gpu-hosts:registry.username must be a Docker Hub user or organization name (4 to 30 lowercase letters, digits, \'-\' and \'_\'), or "" to pull anonymously, got "GpuOps"',
            "gpu-hosts:registryPassword must be a Docker Hub password or personal access token (one line of printable characters, at most 4095), got something else (not shown: it is a secret)",
        ]);
    });

    it("refuses what dockerd would refuse to start on: a user, a query, a fragment, another scheme", () => {
        for (const bad of ["https://user:pw@mirror.example.com", "https://mirror.example.com?x=1", "https://mirror.example.com#a", "ftp://mirror.example.com", "https://", "https://mirror.example.com:0", "https://-bad.example.com"]) {
            const got = problems({ registry: { mirrors: [bad] } });
            assert.deepStrictEqual(got, [`gpu-hosts:registry.mirrors must be a list of mirrors, each an http(s) URL of a registry mirror's root, e.g. "https://mirror.gcr.io" (no user, path, query or fragment), got ${JSON.stringify(bad)}`], bad);
        }
        assert.deepStrictEqual(problems({ registry: { mirrors: ["https://mirror.gcr.io", "https://mirror.gcr.io/"] } }),
            ['gpu-hosts:registry.mirrors must be a list without repeats, got ["https://mirror.gcr.io","https://mirror.gcr.io/"]']);
        assert.deepStrictEqual(problems({ registry: { mirrors: "https://mirror.gcr.io" } }),
            ['gpu-hosts:registry.mirrors must be a list of mirrors, each an http(s) URL of a registry mirror\'s root, e.g. "https://mirror.gcr.io" (no user, path, query or fragment), got "https://mirror.gcr.io"']);
    });

    it("refuses the password in plain text, as apiKeys and sshPrivateKey are, without showing it", () => {
        const got = problems({ registry: { username: "gpuops" }, registryPassword: TOKEN }, []);
        assert.deepStrictEqual(got, ["gpu-hosts:registryPassword must be set as a secret (pulumi config set --secret gpu-hosts:registryPassword ...), got a plain-text value (not shown)"]);
        assert.ok(!got.join("\n").includes(TOKEN));
    });

    it("needs the user and the password together, and says which is missing", () => {
        assert.deepStrictEqual(problems({ registry: { username: "gpuops" } }), [
            "gpu-hosts:registryPassword must be set, as a secret, when gpu-hosts:registry.username is set (pulumi config set --secret gpu-hosts:registryPassword <password or access token>), got nothing",
        ]);
        assert.deepStrictEqual(problems({ registryPassword: TOKEN }), [
            'gpu-hosts:registry.username must be the Docker Hub user whose password gpu-hosts:registryPassword holds, when that is set, got ""',
        ]);
        // A password refused for being plain text is not also reported missing.
        assert.strictEqual(problems({ registry: { username: "gpuops" }, registryPassword: TOKEN }, []).length, 1);
        // Nor a user refused for its form reported missing.
        assert.strictEqual(problems({ registry: { username: "Bad User" }, registryPassword: TOKEN }).length, 1);
    });
});
