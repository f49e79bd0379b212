#!/usr/bin/env bash
# The exactness verdict for a locust run: REPORT=reports/<time> or, by default, the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

runs=()   # locust runs (they hold before.json), named by start time: the last is the newest
for dir in reports/*/; do [ -f "$dir/before.json" ] && runs+=("$dir"); done
latest=""
if [ ${#runs[@]} -gt 0 ]; then latest=${runs[-1]}; fi
report=${REPORT:-$latest}
report=${report%/}
[ -n "$report" ] || die "no run to check: reports/ is empty (run 'make load' first)"
[ -f "$report/before.json" ] || die "$report is not a locust run's report"
check_ratio MAX_FAIL_RATIO "${MAX_FAIL_RATIO-0}"
require_docker
require_running_stack
use_host_user
compose --profile loadtest run --rm --no-deps locust-master \
  python exactness.py "/$report" --max-fail-ratio "${MAX_FAIL_RATIO-0}"
