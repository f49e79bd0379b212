#!/usr/bin/env bash
# Changes the number of web replicas of the running stack; the others keep serving throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ -n "${SCALE+set}" ] || die "say how many web replicas: make scale SCALE=N (1 to ${MAX_SCALE:-64})"
scale=$SCALE
check_range SCALE "$scale" 1 "${MAX_SCALE:-64}"
require_docker
require_running_stack
say "scaling web to $scale replicas"
scale_web "$scale"
say "web now has $(compose ps --quiet --status running web | wc -l) running replicas"
