#!/usr/bin/env bash
# Builds and starts the stack with SCALE web replicas, waits until it answers, prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

web_replicas "$DEFAULT_SCALE"
require_docker
scripts/secrets.sh
scripts/redis-mode.sh
say "starting $scale web replicas (Redis: $REDIS_MODE)"
compose_or_explain "starting the stack" up --detach --build --remove-orphans --scale "web=$scale" --wait
wait_redis_group 60
address=$(lb_address)
wait_ready "$address" 60
say "counter is up: http://$address/  ($scale replicas)"
