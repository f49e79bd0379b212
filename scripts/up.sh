#!/usr/bin/env bash
# Builds and starts the stack with SCALE web replicas, waits until it answers, prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scale=${SCALE-3}
check_range SCALE "$scale" 1 "${MAX_SCALE:-64}"
require_docker
scripts/secrets.sh
say "starting $scale web replicas"
compose_or_explain "starting the stack" up --detach --build --remove-orphans --scale "web=$scale" --wait
address=$(lb_address)
wait_ready "$address" 60
say "counter is up: http://$address/  ($scale replicas)"
