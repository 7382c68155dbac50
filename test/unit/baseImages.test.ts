// The Docker Hub images a Dockerfile builds FROM (infra/service/baseImages.ts): what a stack with a
// Docker Hub login pulls with it before a build, since the build itself would pull them anonymously.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { dockerfileBaseImages, isDockerHubImage } from "../../infra/service/baseImages";
import { ROOT } from "../helpers/stack";

describe("a build's base images (Dockerfile FROM lines)", () => {
    it("reads this repository's own Dockerfiles: the app's two stages and the key service share one pinned node image", () => {
        const node = /^ARG NODE_IMAGE=(\S+)$/m.exec(fs.readFileSync(path.join(ROOT, "app", "Dockerfile"), "utf8"))![1];
        assert.match(node, /^node:\d+\.\d+\.\d+-/);
        assert.deepStrictEqual(dockerfileBaseImages(fs.readFileSync(path.join(ROOT, "app", "Dockerfile"), "utf8")), [node]);
        assert.deepStrictEqual(dockerfileBaseImages(fs.readFileSync(path.join(ROOT, "auth", "Dockerfile"), "utf8")), [node]);
    });

    it("substitutes global ARG defaults (${X}, $X, ${X:-d}), skips stages, scratch, flags and comments, and lists each image once", () => {
        const text = [
            "# syntax=docker/dockerfile:1",
            "ARG BASE=python:3.12-slim",
            'ARG TAG="1.27"',
            "ARG UNSET",
            "FROM --platform=$BUILDPLATFORM ${BASE} AS deps",
            "ARG LATE=ignored:1",
            "FROM $BASE AS build",
            "FROM deps",
            "FROM nginx:${TAG} \\",
            "  AS web",
            "FROM ${UNSET:-busybox:1.36}",
            "FROM ${UNSET}",
            "from scratch",
            "FROM ghcr.io/acme/tool:2 AS tool",
            "COPY --from=tool /x /x",
        ].join("\n");
        assert.deepStrictEqual(dockerfileBaseImages(text), ["python:3.12-slim", "nginx:1.27", "busybox:1.36", "ghcr.io/acme/tool:2"]);
    });

    it("knows which images are Docker Hub's: no registry host, or one of Docker Hub's names", () => {
        for (const hub of ["node:20", "library/redis:7", "ollama/ollama:0.6.8", "docker.io/library/caddy:2", "index.docker.io/x/y:1", "registry-1.docker.io/a/b:1"]) {
            assert.ok(isDockerHubImage(hub), hub);
        }
        for (const other of ["ghcr.io/acme/tool:2", "mirror.gcr.io/library/node:20", "localhost/x:1", "registry.example.com:5000/team/cuda:12.8", "localhost:5000/x:1"]) {
            assert.ok(!isDockerHubImage(other), other);
        }
    });
});
