// The real Docker provider plugin (pulumi-docker 5.2.0) pointed at a stand-in Docker Engine API on a
// unix socket (registryTest:socket), logged in to Docker Hub with the real program's registryAuth
// (infra/hosts/registry.ts, loaded through ts-node), holding the images registryTest:images names
// the way the real program holds its pinned images (infra/service/appStack.ts, proxy.ts,
// baseImages.ts: RemoteImage { name, keepLocally: true }, no pull triggers).
"use strict";
require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
const pulumi = require("@pulumi/pulumi");
const docker = require("@pulumi/docker");
const { providerRegistryAuth } = require("../../../infra/hosts/registry");

const cfg = new pulumi.Config("registryTest");
const provider = new docker.Provider("host-docker", {
    host: `unix://${cfg.require("socket")}`,
    registryAuth: providerRegistryAuth({ username: "gpuops", password: cfg.requireSecret("password") }),
});
const images = cfg.requireObject("images");
module.exports = {
    imageIds: images.map((name, i) => new docker.RemoteImage(`image-${i}`, { name, keepLocally: true }, { provider }).imageId),
};
