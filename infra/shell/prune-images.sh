## Run on the host (infra/service/hostImage.ts pruneImagesScript): removes every tag of REPOSITORY but
## KEEP_REF, both bound in place. An image still used by a container is left alone, with a note.
set -euo pipefail
keep="${KEEP_REF}"
docker image ls --format '{{.Repository}}:{{.Tag}}' "${REPOSITORY}" | while read -r ref; do
  [ "$ref" = "$keep" ] && continue
  if docker image rm "$ref" >/dev/null; then echo "removed previous image $ref"; else echo "kept $ref: still in use" >&2; fi
done
