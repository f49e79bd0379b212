#!/usr/bin/env bash
# Sets the counter back to zero with Redis's admin credentials; the app's own user cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_docker
[ -n "$(compose ps --quiet --status running redis)" ] || die "redis is not running: start the stack with 'make up'"
# shellcheck disable=SC2016  # expanded inside the container, where the secret is
compose exec -T redis sh -c \
  'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" redis-cli --no-auth-warning --user admin FLUSHDB' >/dev/null \
  || die "redis refused the reset"
say "counter reset to 0"
