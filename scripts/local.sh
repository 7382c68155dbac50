#!/usr/bin/env bash
# The local stack's up/preview/destroy: the Pulumi CLI (from the `pulumi` npm package) against a file
# backend inside the project, so there is no login and no passphrase prompt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

action="${1:-}"
case "$action" in
  up|preview|destroy|key) shift ;;
  *) echo "usage: scripts/local.sh up|preview|destroy|key [pulumi flags...]" >&2; exit 2 ;;
esac

command -v docker >/dev/null || { echo "the docker CLI is not installed; the local stack needs a Docker engine" >&2; exit 1; }
[ -x node_modules/.bin/pulumi ] || npm ci --no-audit --no-fund

mkdir -p .pulumi/state
export PULUMI_BACKEND_URL="file://$PWD/.pulumi/state"
# Only generated secrets (the Redis password) live in this stack's state, on this machine; an empty
# passphrase keeps `npm run up` prompt-free. Pulumi.local.yaml carries the salt for it, so the CLI
# writes nothing to that tracked file. To use a real passphrase, remove that encryptionsalt line and
# set PULUMI_CONFIG_PASSPHRASE.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi=node_modules/.bin/pulumi

"$pulumi" stack select local --create --secrets-provider passphrase --non-interactive

case "$action" in
  up)
    "$pulumi" up --stack local --yes --non-interactive "$@"
    echo
    echo "API:    $("$pulumi" stack output apiUrl --stack local)"
    echo "Docs:   $("$pulumi" stack output docsUrl --stack local)"
    echo "Health: $("$pulumi" stack output healthUrl --stack local)"
    echo "API key: npm run -s key   (send it as: Authorization: Bearer <key>)"
    ;;
  key)
    # The stack's generated API key, a secret: printed only when asked for, never by `up`.
    "$pulumi" stack output apiKey --show-secrets --stack local
    ;;
  preview)
    "$pulumi" preview --stack local --non-interactive "$@"
    ;;
  destroy)
    # The images the stack put on the engine, read before the outputs are gone. pulumi-docker's
    # Image never deletes what it built, and pulled pins are kept, so name exactly those: never
    # `docker image prune -a`, which would delete the operator's unrelated images too.
    images="$("$pulumi" stack output hostImages --json --stack local 2>/dev/null \
      | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).join(" "))}catch{}})' || true)"
    "$pulumi" destroy --stack local --yes --non-interactive "$@"
    echo
    echo "Kept: the Docker volume local-app-ollama-models (downloaded models, kept so the next up skips the download)."
    echo "Remove it with: docker volume rm local-app-ollama-models"
    if [ -n "$images" ]; then
      echo "Kept: the images this stack pulled and built. Remove exactly those with:"
      echo "  docker image rm $images"
    fi
    ;;
esac
