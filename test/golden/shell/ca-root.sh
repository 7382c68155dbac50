set -euo pipefail
for attempt in $(seq 1 30); do
  if docker exec aws-app-proxy test -s /data/caddy/pki/authorities/local/root.crt; then break; fi
  if [ "$attempt" -eq 30 ]; then
    echo "caddy did not create its internal root CA (/data/caddy/pki/authorities/local/root.crt) within 60 s" >&2
    exit 1
  fi
  sleep 2
done
docker exec aws-app-proxy cat /data/caddy/pki/authorities/local/root.crt
