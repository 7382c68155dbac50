// See Pulumi.yaml. Plain JavaScript, so the engine runs it without ts-node.
"use strict";
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");

const COLORS = ["blue", "green"];

module.exports = async () => {
    const cfg = new pulumi.Config("gpu-hosts");
    const liveColor = cfg.get("liveColor") || "blue";
    if (!COLORS.includes(liveColor)) throw new Error(`liveColor must be "blue" or "green", got ${JSON.stringify(liveColor)}`);
    const idleColor = liveColor === "blue" ? "green" : "blue";
    const slotCfg = cfg.getObject("slots") || {};
    const slots = {};
    for (const c of COLORS) {
        const release = (slotCfg[c] && slotCfg[c].release) || "workdir";
        slots[c] = { release, image: `gpu-hosts-app:${release}` };
    }
    const standIn = cfg.requireObject("standIn");

    // The concurrent-update test: this (second) process's update holds the stack lock until the test
    // creates the file named here (at most 60 s).
    const holdUntil = process.env.GPU_HOSTS_TEST_HOLD_UNTIL;
    const deadline = Date.now() + 60_000;
    while (holdUntil && !fs.existsSync(holdUntil) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    if (!pulumi.runtime.isDryRun()) {
        fs.writeFileSync(standIn.routeFile, JSON.stringify({ liveColor, slots }));
    }

    const hosts = {};
    for (const [name, h] of Object.entries(standIn.hosts)) {
        hosts[name] = {
            kind: "standin", liveUrl: h.liveUrl, idleUrl: h.idleUrl, healthUrl: `${h.liveUrl}/health`,
            docsUrl: `${h.liveUrl}/docs`, liveColor, idleColor, slots,
        };
    }
    const primary = Object.values(hosts)[0];
    return {
        liveColor, idleColor,
        liveUrl: primary.liveUrl, idleUrl: primary.idleUrl, apiUrl: primary.liveUrl,
        docsUrl: primary.docsUrl, healthUrl: primary.healthUrl,
        image: slots[liveColor].image, slots, hosts,
    };
};
