#!/usr/bin/env bash
# `npm test` after the type-check: the program's suites (mocha: unit, program, tools, engine) and the
# app's suite at the same time. The app's suite spends most of its 2 minutes waiting (a killed
# worker's stalled-job check, Redis round trips), so running it beside the program's saves that much
# of every CI run. Its output is printed after the program's, whole, so the two never interleave.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit
app_log="$(mktemp)"
trap 'rm -f "$app_log"' EXIT
# Stopped from outside (a CI timeout, ^C): show what the app's suite printed so far, then stop.
trap 'echo "=== the app suite so far:"; cat "$app_log"; exit 130' INT TERM
npm --prefix app test >"$app_log" 2>&1 &
app=$!
npm run test:unit
unit=$?
wait "$app"
app_status=$?
echo "=== the app's suite (npm --prefix app test), run beside the program's"
cat "$app_log"
[ "$unit" -eq 0 ] && [ "$app_status" -eq 0 ]
