#!/usr/bin/env bash
# Locust's web UI against the running stack, with WORKERS worker processes (0: one process).
# Stop the test in the UI, then `make check` gives the exactness verdict for it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

workers=${WORKERS-0}
check_range WORKERS "$workers" 0 64
require_docker
require_running_stack

report=$(new_report_dir "" -ui)
use_host_user
export LOCUST_REPORT="/$report" WORKERS="$workers"
compose --profile loadtest up --detach --build --no-deps --scale "locust-worker=$workers" \
  locust-master locust-worker
port=$(compose port locust-master 8089 | sed 's/.*://')
say "locust UI: http://127.0.0.1:$port/  (report in $report/; 'make check' after the test)"
