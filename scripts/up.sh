#!/usr/bin/env bash
# Builds and starts the stack with SCALE web replicas, waits until it answers, prints the URL.
# On a running stack it ships what changed, serving throughout (scripts/lib/rollout.sh, in the
# steps control/plan.py plans): an unchanged stack is left as it is. PLAN=1 builds the images
# (which changes nothing that runs), says the steps, and stops there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/probes.sh
source scripts/lib/redis.sh
source scripts/lib/rollout.sh

web_replicas "$DEFAULT_SCALE"
check_plan
require_docker
require_python3 "make up (it reads the Redis topology from docker-compose.yml)"
scripts/secrets.sh
[ "${PLAN:-}" = 1 ] || python3 -m control redis-mode || exit 1
load_topology
say "building the images"
timed "images built" build_or_explain "building the images" build
ship "$scale"
[ "${PLAN:-}" != 1 ] || exit 0
python3 -m control redis-wait 60 || exit 1
address=$(lb_address)
wait_ready "$address" 60
say "counter is up: http://$address/  ($scale replicas)"
