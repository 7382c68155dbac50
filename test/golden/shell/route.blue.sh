set -euo pipefail
for attempt in $(seq 1 15); do
  if docker exec local-app-proxy wget -q -T 5 -O /dev/null http://local-app-blue-api:8000/health && sleep 4 \
    && docker exec local-app-proxy wget -q -T 5 -O /dev/null http://local-app-blue-api:8000/health; then break; fi
  if [ "$attempt" -eq 15 ]; then
    echo "refusing to switch live traffic to blue: health check http://local-app-blue-api:8000/health failed; routes unchanged" >&2
    exit 1
  fi
  sleep 2
done
docker exec local-app-proxy sh -c 'set -eu; mkdir -p /routes; cd /routes; rm -f live-green; touch routed; [ ! -e live-green ] && [ -e routed ]'
echo "live traffic now served by blue (local-app-blue-api:8000)"
