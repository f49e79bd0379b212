#!/usr/bin/env bash
# Sets the counter back to zero with Redis's admin credentials; the app's own user cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_docker
primary=$(primary_service)
[ -n "$primary" ] && [ -n "$(compose ps --quiet --status running "$primary")" ] \
  || die "no Redis primary is running: start the stack with 'make up'"
[ "$(admin_cli "$primary" FLUSHDB)" = OK ] || die "redis refused the reset"
say "counter reset to 0"
