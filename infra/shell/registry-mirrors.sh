## Docker Hub mirrors for the host setup (infra/shell/setup.ts puts this part into setup.sh just
## before the done marker, and only when gpu-hosts:registry.mirrors lists some: a setup without
## mirrors keeps its text byte for byte). REGISTRY_MIRRORS is bound in place; log, put, apt_prepare,
## apt_get and DAEMON_JSON are setup.sh's. Real shell on its own, so shellcheck reads it as it is.
# Docker Hub pull-through mirrors: registry-mirrors in daemon.json, every other setting in it kept.
# dockerd re-reads them on SIGHUP (a reload, not a restart: containers keep running), and its pulls,
# builds and `docker run` all go through them (https://docs.docker.com/reference/cli/dockerd/).
command -v jq >/dev/null 2>&1 || { apt_prepare; apt_get install --no-install-recommends jq; }
mirrors="$(printf '%s\n' "${REGISTRY_MIRRORS[@]}" | jq -cRn '[inputs]')"
daemon_config='{}'
if [ -s "$DAEMON_JSON" ]; then
  daemon_config="$(jq -c 'if type == "object" then . else error("not an object") end' "$DAEMON_JSON" 2>/dev/null)" ||
    { log "$DAEMON_JSON is not a JSON object: fix it (dockerd would not start on it either), then run this again" >&2; exit 1; }
fi
merged="$(jq --argjson m "$mirrors" '.["registry-mirrors"] = $m' <<<"$daemon_config")"
if printf '%s\n' "$merged" | put "$DAEMON_JSON" 0644; then
  log "registry mirrors written to $DAEMON_JSON"
fi

# What the running dockerd uses, without the trailing "/" it adds to each (moby registry.ValidateMirror).
mirrors_in_use() { docker info --format '{{json .RegistryConfig.Mirrors}}' 2>/dev/null | jq -c 'map(rtrimstr("/"))' 2>/dev/null || true; }
wanted="$(jq -c 'map(rtrimstr("/"))' <<<"$mirrors")"
if dockerd_pid="$(pidof -s dockerd)"; then
  if [ "$(mirrors_in_use)" != "$wanted" ]; then
    log "reloading dockerd for the registry mirrors"
    if [ -d /run/systemd/system ] && systemctl is-active --quiet docker; then
      systemctl reload docker
    else
      kill -HUP "$dockerd_pid"
    fi
    # dockerd keeps its old settings when it cannot apply new ones, and says why only in its own log.
    tries=0
    until [ "$(mirrors_in_use)" = "$wanted" ]; do
      tries=$((tries + 1))
      if [ "$tries" -ge 20 ]; then
        log "dockerd did not take registry-mirrors from $DAEMON_JSON on reload (it uses $(mirrors_in_use)); see its log, e.g. journalctl -u docker" >&2
        exit 1
      fi
      sleep 0.5
    done
  fi
else
  log "dockerd is not running: it reads the registry mirrors from $DAEMON_JSON when it starts"
fi
