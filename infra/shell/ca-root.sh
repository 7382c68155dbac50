## Run on the host (infra/service/apiKeys.ts caRootScript): prints the proxy's internal root CA
## certificate once Caddy has created it, which it does at start-up, just after the container turns
## healthy. PROXY (the proxy container) and ROOT_CERT (its path inside) are bound in place.
set -euo pipefail
for attempt in $(seq 1 30); do
  if docker exec "${PROXY}" test -s "${ROOT_CERT}"; then break; fi
  if [ "$attempt" -eq 30 ]; then
    echo "caddy did not create its internal root CA (${ROOT_CERT}) within 60 s" >&2
    exit 1
  fi
  sleep 2
done
docker exec "${PROXY}" cat "${ROOT_CERT}"
