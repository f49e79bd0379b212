#!/usr/bin/env bash
# Changes the number of web replicas of the running stack; the others keep serving throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/probes.sh

web_replicas "" "make scale"
require_docker
require_running_stack
say "scaling web to $scale replicas"
scale_web "$scale" "$(lb_address)"
say "web now has $(compose ps --quiet --status running web | wc -l) running replicas, each one serving"
