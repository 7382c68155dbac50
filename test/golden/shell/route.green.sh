set -euo pipefail
for attempt in $(seq 1 15); do
  if docker exec aws-app-proxy wget -q -T 5 -O /dev/null http://aws-app-green-api:8000/health && sleep 4 \
    && docker exec aws-app-proxy wget -q -T 5 -O /dev/null http://aws-app-green-api:8000/health; then break; fi
  if [ "$attempt" -eq 15 ]; then
    echo "refusing to switch live traffic to green: health check http://aws-app-green-api:8000/health failed; routes unchanged" >&2
    exit 1
  fi
  sleep 2
done
docker exec aws-app-proxy sh -c 'set -eu; mkdir -p /routes; cd /routes; touch live-green; touch routed; [ -e live-green ] && [ -e routed ]'
echo "live traffic now served by green (aws-app-green-api:8000)"
