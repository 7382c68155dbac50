// See Pulumi.yaml. A miniature of the real program for the operator scripts' engine tests: the same
// project name, the config keys the scripts read and write (liveColor, slots; the scripts read the
// whole gpu-hosts: namespace through the real program's loader, so the harness's own settings live
// in a namespace of their own, scriptsTest:standIn), the same outputs contract
// (infra/contract/outputs.ts), and per host the same resource shapes the scripts classify:
// a gpu-hosts:app:Slot component per color whose "image" command follows the slot's commit, and a
// gpu-hosts:app:Proxy component whose routes command writes the live color for the stand-in proxies
// (so routes change only on a real update, never on a preview); each slot's command writes its release. Real command provider, no Docker.
// Plain JavaScript, so the engine runs it without ts-node.
"use strict";
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");

const COLORS = ["blue", "green"];

class Slot extends pulumi.ComponentResource {
    constructor(name, slot, file, opts) {
        super("gpu-hosts:app:Slot", name, {}, opts);
        // "Deploys" the slot: the stand-in proxies answer with the release this file names.
        this.image = new command.local.Command(`${name}-image`, {
            create: `printf '%s' '${slot.label}' >'${file}'`,
            triggers: [slot.commit],
        }, { parent: this });
        this.registerOutputs({});
    }
}

class Proxy extends pulumi.ComponentResource {
    constructor(name, args, opts) {
        super("gpu-hosts:app:Proxy", name, {}, opts);
        this.routes = new command.local.Command(`${name}-routes`, {
            create: `printf '%s' '${args.liveColor}' >'${args.routeFile}'`,
        }, { parent: this });
        this.registerOutputs({});
    }
}

class AppStack extends pulumi.ComponentResource {
    constructor(name, args, opts) {
        super("gpu-hosts:app:AppStack", name, {}, opts);
        for (const c of COLORS) new Slot(`${name}-${c}`, args.slots[c], `${args.routeFile}.${c}`, { parent: this });
        new Proxy(`${name}-proxy`, args, { parent: this });
        this.registerOutputs({});
    }
}

const cfg = new pulumi.Config("gpu-hosts");
const liveColor = cfg.get("liveColor") || "blue";
if (!COLORS.includes(liveColor)) throw new Error(`liveColor must be "blue" or "green", got ${JSON.stringify(liveColor)}`);
const idleColor = liveColor === "blue" ? "green" : "blue";
const slotCfg = cfg.requireObject("slots");
const slots = {};
for (const c of COLORS) {
    const { release, commit } = slotCfg[c];
    slots[c] = { release, commit, label: `${release}@${commit.slice(0, 12)}`, image: `app-${c}:${commit.slice(0, 16)}` };
}
const standIn = new pulumi.Config("scriptsTest").requireObject("standIn");

// The failure test: a command that fails the update with the given message on stderr.
if (standIn.fail) new command.local.Command("fail", { create: `echo ${JSON.stringify(standIn.fail)} >&2; exit 3` });

// Operator's servers, shaped as infra/hosts/server.ts makes them: an identity record that follows
// the machine id (here from config, where the real program reads /etc/machine-id over SSH), a gate
// that depends on it, and an app resource that follows the id and, like a container whose engine was
// wiped, cannot be deleted once the server is reinstalled (its `gone` file exists).
class SshServerHost extends pulumi.ComponentResource {
    constructor(name, server, opts) {
        super("gpu-hosts:hosts:SshServerHost", name, {}, opts);
        const follow = { parent: this, replacementTrigger: server.machineId };
        const identity = new command.local.Command(`${name}-machine`, { create: "true", triggers: [server.machineId] }, { parent: this });
        const gate = new command.local.Command(`${name}-ssh-gate`, { create: "true" }, { ...follow, dependsOn: [identity] });
        new command.local.Command(`${name}-app-redis`, {
            create: "true",
            delete: `if [ -e '${server.gone}' ]; then echo 'Error stopping container ${name}-app-redis: No such container' >&2; exit 1; fi`,
        }, { ...follow, dependsOn: [gate], deleteBeforeReplace: true });
        this.registerOutputs({});
    }
}
for (const [name, server] of Object.entries(standIn.servers || {})) new SshServerHost(name, server);

const hosts = {};
for (const [name, h] of Object.entries(standIn.hosts)) {
    new AppStack(`${name}-app`, { liveColor, slots, routeFile: h.routeFile });
    hosts[name] = {
        kind: "ssh", address: "127.0.0.1", gpu: "none", liveUrl: h.liveUrl, idleUrl: h.idleUrl, healthUrl: `${h.liveUrl}/health`,
        idleHealthUrl: `${h.idleUrl}/health`, docsUrl: `${h.liveUrl}/docs`, apiUrl: h.liveUrl, liveColor, idleColor, slots,
        port: 22, user: "ops", machineId: "0123456789abcdef0123456789abcdef", ssh: `ssh -i ~/.ssh/gpu-hosts/gpu-hosts-test-${name} ops@127.0.0.1`,
    };
}
const primary = Object.values(hosts)[0];
const outputs = {
    liveColor, idleColor,
    liveUrl: primary.liveUrl, idleUrl: primary.idleUrl, apiUrl: primary.liveUrl,
    docsUrl: primary.docsUrl, healthUrl: primary.healthUrl, model: "stand-in",
    image: slots[liveColor].image, slots, hosts, hostImages: [],
    apiKey: pulumi.secret("test-client-key-0123456789abcdefghijklmnopqrstuv"),
};

// The concurrent-update test: this (second) process's update holds the stack lock until the test
// creates the file named here (at most 60 s).
const holdUntil = process.env.GPU_HOSTS_TEST_HOLD_UNTIL;
module.exports = (async () => {
    const deadline = Date.now() + 60_000;
    while (holdUntil && !require("fs").existsSync(holdUntil) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return outputs;
})();
