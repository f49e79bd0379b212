#!/usr/bin/env bash
# Changes the number of web replicas of the running stack; the others keep serving throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scale=${1-}
check_range SCALE "$scale" 1 "${MAX_SCALE:-64}"
require_docker
require_running_stack
say "scaling web to $scale replicas"
# Only web changes: no rebuild, running replicas are kept, leaving ones finish their requests.
compose up --detach --no-build --no-recreate --scale "web=$scale" --wait web \
  || die "scaling to $scale did not become healthy (see 'make logs')"
say "web now has $(compose ps --quiet --status running web | wc -l) running replicas"
