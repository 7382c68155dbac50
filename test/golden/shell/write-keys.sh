set -euo pipefail
docker exec -i aws-app-proxy-auth node /srv/server.js write-keys
