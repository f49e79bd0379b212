#!/usr/bin/env bash
# Sets the counter back to zero with Redis's admin credentials; the app's own user cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/redis.sh

require_docker
primary=$(primary_instance compose_reach)
[ -n "$primary" ] && [ -n "$(running "$primary")" ] || die "no Redis primary is running: start the stack with 'make up'"
[ "$(as_admin compose_reach "$primary" FLUSHDB | tr -d '\r')" = OK ] || die "redis refused the reset"
say "counter reset to 0"
