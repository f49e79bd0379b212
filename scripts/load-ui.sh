#!/usr/bin/env bash
# Locust's web UI against the running stack, with WORKERS worker processes (0: one process).
# Each test started there gets its exactness verdict when it stops (the UI's Exactness tab and
# `make check` show it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh

workers=${WORKERS-0}
check_range WORKERS "$workers" 0 64
require_docker
require_running_stack

report=$(new_report_dir "" -ui)
use_host_user
LOCUST_MASTER=$( (( workers > 0 )) && echo true || echo false)
export LOCUST_REPORT="/$report" LOCUST_MASTER
compose_or_explain "starting locust's web UI" --profile loadtest up --detach --build --no-deps \
  --scale "locust-worker=$workers" locust-master locust-worker
say "locust UI: http://$(published locust-master 8089)/  (each test's verdict in $report/test-N/; 'make check' shows the newest)"
