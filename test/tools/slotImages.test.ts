// A slot's images on its host: the containers run the built image by id, and once they run, the
// slot's previous images are removed (pulumi-docker's Image never deletes what it built). The
// scripts run for real against a stub docker.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { imageIdScript, parseImageId, pruneImagesScript } from "../../infra/service/hostImage";
import { assertScriptShellcheckClean } from "../helpers/cloudInitChecks";
import { requireTool } from "../helpers/tools";

// Lists $STUB_DIR/images (one ref a line) for `image ls`, removes a ref on `image rm` unless it is
// listed in $STUB_DIR/in-use, and logs every call.
const STUB_DOCKER = `#!/bin/sh
echo "$*" >>"$STUB_DIR/calls"
case "$1 $2" in
  "image ls") cat "$STUB_DIR/images" ;;
  "image rm")
    if grep -qx "$3" "$STUB_DIR/in-use" 2>/dev/null; then echo "conflict: unable to remove $3: image is being used" >&2; exit 1; fi
    grep -vx "$3" "$STUB_DIR/images" >"$STUB_DIR/images.new"; mv "$STUB_DIR/images.new" "$STUB_DIR/images" ;;
  *) exit 2 ;;
esac
`;

describe("slot images on the host", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-hosts-prune-"));
        fs.writeFileSync(path.join(dir, "docker"), STUB_DOCKER, { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = (script: string) => spawnSync("/bin/bash", ["-c", script], {
        encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}`, STUB_DIR: dir },
    });

    it("removes every other tag of the slot's repository, keeps the running one, and leaves an image in use", () => {
        fs.writeFileSync(path.join(dir, "images"), ["aws-app-green:v1-aaa", "aws-app-green:v2-bbb", "aws-app-green:v3-ccc", ""].join("\n"));
        fs.writeFileSync(path.join(dir, "in-use"), "aws-app-green:v1-aaa\n");
        const res = run(pruneImagesScript("aws-app-green", "aws-app-green:v3-ccc"));
        assert.strictEqual(res.status, 0, res.stderr);
        assert.deepStrictEqual(fs.readFileSync(path.join(dir, "images"), "utf8").trim().split("\n"), ["aws-app-green:v1-aaa", "aws-app-green:v3-ccc"]);
        assert.match(res.stdout, /^removed previous image aws-app-green:v2-bbb$/m);
        assert.match(res.stderr, /kept aws-app-green:v1-aaa: still in use/);
        const calls = fs.readFileSync(path.join(dir, "calls"), "utf8");
        assert.match(calls, /^image ls --format \{\{\.Repository\}\}:\{\{\.Tag\}\} aws-app-green$/m, "lists only the slot's own repository");
        assert.doesNotMatch(calls, /image rm aws-app-green:v3-ccc/);
    });

    it("refuses a ref outside the slot's repository, and is shellcheck-clean", function () {
        assert.throws(() => pruneImagesScript("aws-app-green", "aws-app-blue:v1"), /must be a tag of aws-app-green/);
        assert.throws(() => pruneImagesScript("x;rm -rf /", "x;rm -rf /:1"), /image repository must match/);
        requireTool("shellcheck", this);
        assertScriptShellcheckClean(`#!/bin/bash\n${pruneImagesScript("aws-app-green", "aws-app-green:v3-ccc")}`, "prune script", "bash");
        assertScriptShellcheckClean(`#!/bin/sh\n${imageIdScript("aws-app-green:v3-ccc")}`, "image id script", "sh");
    });

    it("reads the built image's id, and refuses anything else", () => {
        assert.strictEqual(imageIdScript("local-app-blue:wd-0123"), "docker image inspect --format '{{.Id}}' local-app-blue:wd-0123\n");
        const id = `sha256:${"a".repeat(64)}`;
        assert.strictEqual(parseImageId(`${id}\n`), id);
        assert.throws(() => parseImageId("Error: No such image: local-app-blue:wd-0123"), /not an image id/);
    });
});

describe("the bundled app's Dockerfile", () => {
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "app", "Dockerfile"), "utf8");
    const instructions = dockerfile.split("\n").filter((l) => l.trim() && !l.startsWith("#"));

    it("has no `# syntax=` line, so BuildKit never fetches a frontend image from Docker Hub", () => {
        assert.doesNotMatch(dockerfile, /^#\s*syntax\s*=/im);
    });

    it("brings no init of its own: the containers run with Docker's (init: true), and one init is enough", async () => {
        assert.ok(!instructions.some((l) => /tini|ENTRYPOINT/i.test(l)), instructions.join("\n"));
        const { runProgram } = await import("../helpers/stack");
        const run = await runProgram("local");
        for (const n of ["local-app-blue-api", "local-app-blue-worker"]) assert.strictEqual(run.get(n).inputs.init, true, n);
    });
});
