# gpu-hosts status: the app's containers and the GPUs (scripts/lib/status/probe.ts)
t() { if command -v timeout >/dev/null 2>&1; then timeout 10 "$@"; else "$@"; fi; }
echo '@@gpu-hosts-status docker'
ids="$(t docker ps -aq --filter 'name=^aws-app-' 2>&1)"; rc=$?
if [ "$rc" -ne 0 ]; then printf '%s\n' "$ids"; else
  ids="$(printf '%s\n' "$ids" | grep -E '^[0-9a-f]+$')"
  # shellcheck disable=SC2086 # one argument per id, all hex
  if [ -n "$ids" ]; then t docker inspect --format '{"name":{{json .Name}},"state":{{json .State.Status}},"health":{{if .State.Health}}{{json .State.Health.Status}}{{else}}null{{end}},"exitCode":{{json .State.ExitCode}},"restarts":{{json .RestartCount}}}' $ids 2>&1; rc=$?; fi
fi
echo "@@gpu-hosts-status exit $rc"
echo '@@gpu-hosts-status nvidia-smi'
t nvidia-smi --query-gpu=name,utilization.gpu,memory.used,memory.total,temperature.gpu --format=csv,noheader,nounits 2>&1; echo "@@gpu-hosts-status exit $?"
