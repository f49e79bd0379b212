#!/usr/bin/env bash
# A headless locust run against the running stack, bounded by DURATION, with WORKERS worker
# processes (0: one process). Writes reports/<time>/ and ends with the exactness verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh

users=${USERS-50} spawn_rate=${SPAWN_RATE-10} duration=${DURATION-30s}
workers=${WORKERS-0} max_fail_ratio=${MAX_FAIL_RATIO-0}
check_range USERS "$users" 1 100000
check_pattern SPAWN_RATE "$spawn_rate" '^([1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$' "a number of users per second above 0"
check_pattern DURATION "$duration" '^([0-9]+h)?([0-9]+m)?([0-9]+s)?$' "a time such as 30s, 5m or 1h30m"
[ -n "$duration" ] && [[ $duration =~ [1-9] ]] || die "DURATION must be a time such as 30s, 5m or 1h30m, got '$duration'"
check_range WORKERS "$workers" 0 64
check_ratio MAX_FAIL_RATIO "$max_fail_ratio"
require_docker
require_running_stack

report=$(new_report_dir)
use_host_user
loadtest() { compose --profile loadtest "$@"; }
# shellcheck disable=SC2329  # called by the trap
stop_workers() { loadtest rm --stop --force locust-worker >/dev/null 2>&1 || true; }
trap stop_workers EXIT

say "building the load generator"
loadtest build --quiet locust-master locust-worker
if (( workers > 0 )); then
  say "starting $workers locust workers"
  loadtest up --detach --no-deps --scale "locust-worker=$workers" locust-worker
fi
# locust runs the test itself (its autostart, as in the web UI, so that a stop waits for every
# worker's users) and gives it its verdict (loadtest/judge.py), which is also its exit code.
options=(--autostart --autoquit 0 --web-host 127.0.0.1 --print-stats
  --users "$users" --spawn-rate "$spawn_rate" --run-time "$duration"
  --csv "/$report/locust" --html "/$report/report.html")
if (( workers > 0 )); then options+=(--master --expect-workers "$workers"); fi
say "$users users, $spawn_rate new per second, for $duration (report in $report/)"
status=0
LOCUST_REPORT="/$report" MAX_FAIL_RATIO=$max_fail_ratio loadtest run --rm --no-deps --use-aliases \
  locust-master locust "${options[@]}" || status=$?
say "report: $report/report.html, and the verdict in $report/test-1/ (summary.json, summary.png)"
# The verdict last, where it is read (locust's own final statistics come after its hooks); shown
# by the load generator's image, as `make check` does, so nothing but Docker is needed here. It
# decides the exit code too: locust's own can be lost (its CSV writer failing as it quits, seen).
if ! loadtest run --rm --no-deps locust-master python exactness.py "/$report" && [ "$status" = 0 ]; then
  status=1
fi
exit "$status"
