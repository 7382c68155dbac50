## Run on the host (infra/service/route.ts routeScript): makes LIVE the slot the proxy container PROXY
## serves on the live port, health-gated. The inputs come in a header: HEALTH_URL (the slot's health
## URL on the proxy's network), UPSTREAM (its host:port, for the message), SETTLE (seconds it must stay
## healthy before the switch: 0 for none), ATTEMPTS (probes, 2 s apart, before giving up), and the two
## POSIX sh scripts run inside the proxy container: ROUTED (true while LIVE is already the routed slot)
## and SWITCH (route.ts switchScript: one create or unlink of the green marker). The same script runs
## in the program's routes command and in `npm run promote`/`rollback`, which run it on each host
## themselves before they record the change (scripts/lib/routes.ts).
set -euo pipefail

probe() { docker exec "$PROXY" wget -q -T 5 -O /dev/null "$HEALTH_URL"; }

# Already routed to LIVE (a new proxy container on the kept routes volume, or a swap recorded after it
# switched the host itself): there is nothing to switch, hence nothing to wait for; the slot is still
# checked, so an update does not pass over a live slot that does not answer.
if docker exec "$PROXY" sh -c "$ROUTED"; then
  for attempt in $(seq 1 "$ATTEMPTS"); do
    if probe; then
      echo "live traffic already served by $LIVE ($UPSTREAM)"
      exit 0
    fi
    if [ "$attempt" -lt "$ATTEMPTS" ]; then sleep 2; fi
  done
  echo "live traffic is routed to $LIVE, but its health check $HEALTH_URL fails" >&2
  exit 1
fi

# A slot that just turned healthy in Docker may need a moment on the proxy's network, and Caddy fails
# requests at once while it holds a slot down, marking it up again on its next probe (health_interval
# 2s, health_timeout 2s): with SETTLE, the slot must stay healthy that long before live traffic goes
# there, so the proxy has seen it up.
for attempt in $(seq 1 "$ATTEMPTS"); do
  if probe && { [ "$SETTLE" -eq 0 ] || { sleep "$SETTLE" && probe; }; }; then break; fi
  if [ "$attempt" -eq "$ATTEMPTS" ]; then
    echo "refusing to switch live traffic to $LIVE: health check $HEALTH_URL failed; routes unchanged" >&2
    exit 1
  fi
  sleep 2
done
docker exec "$PROXY" sh -c "$SWITCH"
echo "live traffic now served by $LIVE ($UPSTREAM)"
