#!/usr/bin/env bash
# The exactness verdict of the newest test in a locust run's folder: REPORT=reports/<time> or, by
# default, the newest. Each test's verdict is made by locust when the test stops; this shows it,
# and refuses (writing nothing) while a test is still running in the web UI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh

runs=()   # locust runs (locust writes its CSV statistics), named by start time: the last is the newest
for dir in reports/*/; do [ -f "$dir/locust_stats.csv" ] && runs+=("$dir"); done
latest=""
if [ ${#runs[@]} -gt 0 ]; then latest=${runs[-1]}; fi
report=${REPORT:-$latest}
report=${report%/}
[ -n "$report" ] || die "no run to check: reports/ has no locust run (run 'make load' first)"
[ -d "$report" ] || die "$report is not a folder"
require_docker
use_host_user
ui=()
if [ -n "$(compose --profile loadtest ps --quiet --status running locust-master)" ]; then
  ui=(--locust http://locust-master:8089)
fi
# Compose adds an empty line to stderr when the command fails: the reason stays the last line.
{ compose --profile loadtest run --rm --no-deps locust-master python exactness.py "/$report" "${ui[@]}" \
    2>&1 1>&3 | sed '/^$/d' >&2; } 3>&1
