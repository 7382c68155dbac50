#!/usr/bin/env bash
# End-to-end check of app/Dockerfile and auth/Dockerfile on a real Docker engine, for a machine that
# cannot pull images (no container registry) but reaches the npm registry and a Debian mirror.
#
#   sudo scripts/docker-e2e.sh
#
# What it does (run as root on Debian/Ubuntu with docker, debootstrap, redis-server, node 20, curl):
#   1. starts dockerd if none answers (overlay2, else vfs; log in $E2E_DIR/dockerd.log);
#   2. makes a local stand-in for node:20.20.2-bookworm-slim: debootstrap --variant=minbase bookworm,
#      this machine's node 20 and its npm in /usr/local, a `node` user (uid/gid 1000), ca-certificates
#      (plus the host's extra CAs in /usr/local/share/ca-certificates, for a TLS-intercepting egress
#      proxy, with NODE_EXTRA_CA_CERTS pointing at the bundle), then `docker import`;
#   3. builds both images with --build-arg NODE_IMAGE=<stand-in> and the classic builder
#      (DOCKER_BUILDKIT=0: a client without the buildx plugin cannot use BuildKit);
#   4. runs the key service (write-keys, GET /check with a good, a wrong and no key, health) and the
#      app (api + worker with --init, against a host redis-server with a password and an Ollama
#      stand-in, both bound to the docker bridge address): a job goes through, both turn healthy,
#      `docker stop` ends each promptly with exit 0;
#   5. removes what it made and stops the dockerd it started (E2E_KEEP=1 keeps images and dockerd).
#
# Knobs: E2E_DIR (work dir, default /tmp/gpu-hosts-docker-e2e), E2E_REBUILD_BASE=1 (re-make the base
# image), E2E_KEEP=1 (keep images and the started dockerd), E2E_ROOT (the repository, default this
# script's parent directory).
# Exit status: 0 when every check passed, 1 otherwise. Each check prints PASS or FAIL.
set -euo pipefail

ROOT=${E2E_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
E2E_DIR=${E2E_DIR:-/tmp/gpu-hosts-docker-e2e}
BASE_IMAGE=${E2E_BASE_IMAGE:-gpu-hosts-test/node:20.20.2-bookworm-slim}
APP_IMAGE=gpu-hosts-app:e2e
AUTH_IMAGE=gpu-hosts-auth:e2e
AUTH_VOLUME=gpu-hosts-e2e-authkeys
TEST_KEY='my-test-key-0123456789abcdefghijklmnop'
REDIS_PASS=e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
KEEP=${E2E_KEEP:-0}

failures=0
started_dockerd=""
redis_pid=""
ollama_pid=""

say() { printf '\n=== %s\n' "$*"; }
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
die() { printf 'ERROR %s\n' "$*" >&2; exit 1; }

cleanup() {
    set +e
    say "cleanup"
    for c in auth-e2e api-e2e worker-e2e; do docker rm -f "$c" >/dev/null 2>&1; done
    docker volume rm "$AUTH_VOLUME" >/dev/null 2>&1
    [ -n "$ollama_pid" ] && kill "$ollama_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    if [ "$KEEP" != 1 ]; then
        docker rmi -f "$APP_IMAGE" "$AUTH_IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
        docker image prune -f >/dev/null 2>&1
        if [ -n "$started_dockerd" ]; then
            kill "$started_dockerd" 2>/dev/null
            for _ in $(seq 1 30); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
            echo "dockerd (pid $started_dockerd) stopped"
        fi
    fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "run as root (dockerd, debootstrap, chroot)"
for tool in docker dockerd debootstrap redis-server node curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y docker.io debootstrap redis-server curl)"
done
mkdir -p "$E2E_DIR"

# --- 1. the engine -------------------------------------------------------------------------------
say "docker engine"
if ! docker version >/dev/null 2>&1; then
    for driver in overlay2 vfs; do
        dockerd --storage-driver="$driver" >"$E2E_DIR/dockerd.log" 2>&1 &
        started_dockerd=$!
        for _ in $(seq 1 30); do docker version >/dev/null 2>&1 && break; sleep 1; done
        if docker version >/dev/null 2>&1; then echo "dockerd started (pid $started_dockerd, storage $driver)"; break; fi
        kill "$started_dockerd" 2>/dev/null || true
        wait "$started_dockerd" 2>/dev/null || true
        started_dockerd=""
    done
    [ -n "$started_dockerd" ] || die "dockerd did not start; see $E2E_DIR/dockerd.log"
fi
docker version --format 'client {{.Client.Version}}, server {{.Server.Version}} (API {{.Server.APIVersion}})'

# --- 2. the base image ---------------------------------------------------------------------------
say "base image $BASE_IMAGE"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && [ "${E2E_REBUILD_BASE:-0}" != 1 ]; then
    echo "reusing the existing $BASE_IMAGE"
else
    node_bin=$(readlink -f "$(command -v node)")
    case "$("$node_bin" --version)" in v20.*) ;; *) die "host node is $("$node_bin" --version), need v20.x" ;; esac
    npm_dir=$(dirname "$(dirname "$node_bin")")/lib/node_modules/npm
    [ -f "$npm_dir/bin/npm-cli.js" ] || die "no npm next to $node_bin (looked in $npm_dir)"
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | tr -d ' ' || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$E2E_DIR/rootfs
    rm -rf "$rootfs"
    echo "debootstrap --variant=minbase bookworm $rootfs $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$E2E_DIR/debootstrap.log" 2>&1 ||
        die "debootstrap failed; see $E2E_DIR/debootstrap.log"
    install -m 755 "$node_bin" "$rootfs/usr/local/bin/node"
    mkdir -p "$rootfs/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
    # A distribution's npm may carry a built-in npmrc with host settings; the official image has none.
    rm -f "$rootfs/usr/local/lib/node_modules/npm/npmrc"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
    chroot "$rootfs" groupadd --gid 1000 node
    chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    chroot "$rootfs" apt-get install -y --no-install-recommends ca-certificates >"$E2E_DIR/chroot-apt.log" 2>&1 ||
        die "apt-get install ca-certificates in the chroot failed; see $E2E_DIR/chroot-apt.log"
    # Extra CAs of this machine (a TLS-intercepting egress proxy signs the npm registry's certificate).
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV NODE_VERSION=20.20.2' \
        --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["node"]' - "$BASE_IMAGE" >/dev/null
fi
v=$(docker run --rm "$BASE_IMAGE" node --version)
case "$v" in v20.*) pass "base image runs node $v (npm $(docker run --rm "$BASE_IMAGE" npm --version))" ;; *) fail "base image node --version: $v" ;; esac

# --- 3. builds -----------------------------------------------------------------------------------
build() { # tag context
    local start=$SECONDS log
    log=$E2E_DIR/build-$(basename "$2").log
    if DOCKER_BUILDKIT=0 docker build --force-rm --build-arg "NODE_IMAGE=$BASE_IMAGE" -t "$1" "$2" >"$log" 2>&1; then
        pass "docker build -t $1 $2 in $((SECONDS - start)) s, size $(docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}')"
    else
        fail "docker build -t $1 $2 (log $log):"
        tail -n 20 "$log"
        return 1
    fi
}
say "builds (DOCKER_BUILDKIT=0)"
build "$AUTH_IMAGE" "$ROOT/auth" || die "auth image did not build"
build "$APP_IMAGE" "$ROOT/app" || die "app image did not build"

health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }
wait_healthy() { # container timeout-seconds
    local s
    for _ in $(seq 1 "$2"); do
        s=$(health "$1")
        [ "$s" = healthy ] && { pass "$1 health: healthy"; return 0; }
        [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break
        sleep 1
    done
    fail "$1 health: $(health "$1") after $2 s; last probe: $(docker inspect -f '{{with .State.Health}}{{range .Log}}{{.ExitCode}} {{.Output}}{{end}}{{end}}' "$1" | tail -n 3)"
    docker logs --tail 20 "$1" 2>&1
    return 1
}
stop_promptly() { # container
    local start=$SECONDS code
    docker stop "$1" >/dev/null
    code=$(docker inspect -f '{{.State.ExitCode}}' "$1")
    if [ "$code" = 0 ] && [ $((SECONDS - start)) -lt 10 ]; then
        pass "docker stop $1: exit 0 after $((SECONDS - start)) s"
    else
        fail "docker stop $1: exit $code after $((SECONDS - start)) s (10 s is the SIGKILL deadline)"
        docker logs --tail 10 "$1" 2>&1
    fi
}
last_probe() { # container: exit code and output of the latest health probe
    docker inspect -f '{{json .State.Health}}' "$1" |
        node -e 'let t = ""; process.stdin.on("data", (c) => (t += c)).on("end", () => { const l = (JSON.parse(t) || { Log: [] }).Log.pop(); console.log(l ? "exit " + l.ExitCode + ": " + l.Output.trim() : "none"); })'
}
pid1() { docker exec "$1" sh -c 'tr "\0" " " </proc/1/cmdline'; }

# --- 4a. the key service -------------------------------------------------------------------------
say "key service ($AUTH_IMAGE)"
docker volume rm "$AUTH_VOLUME" >/dev/null 2>&1 || true
docker run -d --init --name auth-e2e -v "$AUTH_VOLUME:/keys" "$AUTH_IMAGE" >/dev/null
sleep 1
echo "PID 1: $(pid1 auth-e2e)"
digest=$(printf %s "$TEST_KEY" | sha256sum | cut -d' ' -f1)
auth_get() { # authorization-header-or-empty; prints "status|x-api-key-id|www-authenticate|body"
    docker exec -e "H=$1" auth-e2e node -e '
        const h = process.env.H ? { Authorization: process.env.H } : {};
        require("http").get({ host: "127.0.0.1", port: 9000, path: "/check", headers: h }, (r) => {
            let b = ""; r.on("data", (c) => (b += c));
            r.on("end", () => console.log([r.statusCode, r.headers["x-api-key-id"] || "", r.headers["www-authenticate"] || "", b].join("|")));
        });'
}
out=$(auth_get "Bearer $TEST_KEY")
if [ "${out%%|*}" = 503 ]; then pass "GET /check before any key file: 503 ($out)"; else fail "GET /check before any key file: $out (want 503)"; fi
if out=$(printf '# e2e\n%s\n' "$digest" | docker exec -i auth-e2e node /srv/server.js write-keys 2>&1); then
    pass "write-keys: $out"
else
    fail "write-keys: $out"
fi
docker exec auth-e2e ls -la /keys
out=$(auth_get "Bearer $TEST_KEY")
IFS='|' read -r st keyid _ _ <<<"$out"
if [ "$st" = 200 ] && [ "$keyid" = "${digest:0:16}" ]; then
    pass "GET /check, good key: 200, X-Api-Key-Id $keyid"
else
    fail "GET /check, good key: $out (want 200 and X-Api-Key-Id ${digest:0:16})"
fi
out=$(auth_get "Bearer wrong-key-0123456789abcdefghijklmnop")
IFS='|' read -r st _ www body <<<"$out"
if [ "$st" = 401 ] && [ -n "$www" ] && node -e 'JSON.parse(process.argv[1])' "$body" 2>/dev/null; then
    pass "GET /check, wrong key: 401, WWW-Authenticate: $www, body $body"
else
    fail "GET /check, wrong key: $out (want 401 JSON with WWW-Authenticate)"
fi
out=$(auth_get "")
IFS='|' read -r st _ www _ <<<"$out"
if [ "$st" = 401 ] && [ -n "$www" ]; then pass "GET /check, no key: 401, WWW-Authenticate: $www"; else fail "GET /check, no key: $out"; fi
auth_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' auth-e2e)
out=$(docker run --rm "$BASE_IMAGE" node -e '
    fetch(process.argv[1], { headers: { Authorization: process.argv[2] } })
        .then((r) => console.log(r.status, r.headers.get("x-api-key-id")))' "http://$auth_ip:9000/check" "Bearer $TEST_KEY")
if [ "${out%% *}" = 200 ]; then pass "GET /check from another container on the bridge: $out"; else fail "GET /check from another container: $out"; fi
if out=$(printf 'not-a-digest\n' | docker exec -i auth-e2e node /srv/server.js write-keys 2>&1); then
    fail "write-keys accepted an invalid key file: $out"
else
    pass "write-keys refuses an invalid key file: $out"
fi
wait_healthy auth-e2e 60 || true
echo "auth-e2e last health probe: $(last_probe auth-e2e)"
stop_promptly auth-e2e
docker start auth-e2e >/dev/null
sleep 1
out=$(auth_get "Bearer $TEST_KEY")
if [ "${out%%|*}" = 200 ]; then pass "after a restart the key file in volume $AUTH_VOLUME still admits the key"; else fail "after a restart: $out"; fi
docker rm -f auth-e2e >/dev/null

# --- 4b. the app ---------------------------------------------------------------------------------
say "app ($APP_IMAGE): api + worker"
bridge_ip=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
if [ -z "$bridge_ip" ]; then # dockerd 20.10 leaves the default bridge's IPAM gateway empty
    bridge_if=$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}')
    bridge_ip=$(ip -4 -o addr show "${bridge_if:-docker0}" | awk '{split($4, a, "/"); print a[1]; exit}')
fi
[ -n "$bridge_ip" ] || die "no gateway address on the docker bridge"
free_port() { node -e 'const s = require("net").createServer().listen(0, process.argv[1], () => { console.log(s.address().port); s.close(); })' "$bridge_ip"; }
redis_port=$(free_port)
redis-server --port "$redis_port" --bind "$bridge_ip" --requirepass "$REDIS_PASS" --save '' --appendonly no \
    --dir "$E2E_DIR" --logfile "$E2E_DIR/redis.log" &
redis_pid=$!
ollama_port=$(free_port)
cat >"$E2E_DIR/ollama-stand-in.js" <<'EOF'
// Answers the two Ollama calls the app makes: POST /api/generate (stream false) and GET /api/tags.
const http = require("http");
http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
        const send = (code, obj) => { res.writeHead(code, { "Content-Type": "application/json" }); res.end(JSON.stringify(obj)); };
        if (req.method === "GET" && req.url === "/api/tags") return send(200, { models: [{ name: "stand-in:latest", model: "stand-in:latest" }] });
        // 3 s per generation, so a job is still running when the worker is told to stop.
        if (req.method === "POST" && req.url === "/api/generate") return setTimeout(() => send(200, { model: "stand-in", response: "ok", done: true }), 3000);
        send(404, { error: "not found" });
    });
}).listen(Number(process.argv[3]), process.argv[2]);
EOF
node "$E2E_DIR/ollama-stand-in.js" "$bridge_ip" "$ollama_port" &
ollama_pid=$!
for _ in $(seq 1 20); do
    redis-cli -h "$bridge_ip" -p "$redis_port" --no-auth-warning -a "$REDIS_PASS" ping 2>/dev/null | grep -q PONG &&
        curl -fsS "http://$bridge_ip:$ollama_port/api/tags" >/dev/null 2>&1 && break
    sleep 0.5
done
echo "redis on $bridge_ip:$redis_port, Ollama stand-in on $bridge_ip:$ollama_port"

app_env=(
    -e "REDIS_URL=redis://:$REDIS_PASS@$bridge_ip:$redis_port/0"
    -e "OLLAMA_BASE_URL=http://$bridge_ip:$ollama_port"
    -e OLLAMA_MODEL=stand-in -e QUEUE_NAME=jobs-blue -e "LOOKUP_QUEUES=jobs-blue,jobs-green"
    -e APP_SLOT=blue -e APP_RELEASE=e2e
)
# The api keeps the image's HEALTHCHECK; the worker gets the one components/app/slot.ts gives it.
docker run -d --init --name api-e2e "${app_env[@]}" "$APP_IMAGE" node dist/api.js >/dev/null
docker run -d --init --name worker-e2e "${app_env[@]}" \
    --health-cmd 'node dist/healthcheck.js worker' --health-interval 10s --health-timeout 5s \
    --health-retries 5 --health-start-period 20s "$APP_IMAGE" node dist/worker.js >/dev/null
sleep 2
echo "api PID 1: $(pid1 api-e2e); worker PID 1: $(pid1 worker-e2e)"
api_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' api-e2e)
api=http://$api_ip:8000
for _ in $(seq 1 30); do curl -fsS "$api/live" >/dev/null 2>&1 && break; sleep 1; done
out=$(curl -sS "$api/health" || true)
echo "GET /health: $out"
if node -e 'const h = JSON.parse(process.argv[1]); process.exit(h.status === "healthy" && h.redis === "ok" && h.ollama === "ok" ? 0 : 1)' "$out" 2>/dev/null; then
    pass "api /health: healthy, redis ok, ollama ok"
else
    fail "api /health: $out"
fi

out=$(curl -sS -w ' %{http_code}' -X POST -H 'Content-Type: application/json' -d '{"ticker":"NVDA","date":"2024-05-10"}' "$api/jobs" || true)
echo "POST /jobs: $out"
job_id=$(node -e 'try { console.log(JSON.parse(process.argv[1].replace(/ \d+$/, "")).job_id || "") } catch { console.log("") }' "$out")
if [ -n "$job_id" ] && [ "${out##* }" = 202 ]; then
    pass "POST /jobs: 202, job $job_id"
    status=""
    for _ in $(seq 1 60); do
        view=$(curl -sS "$api/jobs/$job_id" || true)
        status=$(node -e 'try { console.log(JSON.parse(process.argv[1]).status) } catch { console.log("?") }' "$view")
        case "$status" in completed | failed) break ;; esac
        sleep 1
    done
    echo "GET /jobs/$job_id: $view"
    if [ "$status" = completed ]; then pass "job completed"; else fail "job status $status after 60 s"; fi
    slot=$(node -e 'try { console.log(JSON.parse(process.argv[1]).processed_by.slot) } catch { console.log("?") }' "$view")
    if [ "$slot" = blue ]; then pass "processed_by.slot = blue"; else fail "processed_by.slot = $slot"; fi
else
    fail "POST /jobs: $out (want 202 with a job_id)"
fi
wait_healthy api-e2e 90 || true
wait_healthy worker-e2e 90 || true
for c in api-e2e worker-e2e; do echo "$c last health probe: $(last_probe "$c")"; done
# docker stop while a job runs: the worker must finish it (SIGTERM through docker-init) and exit 0.
job_status() { curl -sS "$api/jobs/$1" | node -e 'let t = ""; process.stdin.on("data", (c) => (t += c)).on("end", () => { try { console.log(JSON.parse(t).status) } catch { console.log("?") } })'; }
out=$(curl -sS -X POST -H 'Content-Type: application/json' -d '{"ticker":"AMD","date":"2024-05-10"}' "$api/jobs" || true)
job2=$(node -e 'try { console.log(JSON.parse(process.argv[1]).job_id || "") } catch { console.log("") }' "$out")
for _ in $(seq 1 50); do [ "$(job_status "$job2")" = running ] && break; sleep 0.1; done
echo "job $job2 is $(job_status "$job2") when the worker is stopped"
stop_promptly worker-e2e
st=$(job_status "$job2")
if [ "$st" = completed ]; then pass "the in-flight job finished before the worker exited"; else fail "in-flight job is $st after the worker stopped"; fi
stop_promptly api-e2e
echo "worker's last log lines:"
docker logs --tail 5 worker-e2e 2>&1

say "result"
if [ "$failures" = 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
