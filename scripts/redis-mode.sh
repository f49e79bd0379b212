#!/usr/bin/env bash
# Switching REDIS_MODE keeps the count; `make up` runs this before it starts the stack.
#   single -> sentinel: nothing to copy. The instance `redis` keeps its volume and is the first
#     primary; the replicas copy everything from it.
#   sentinel -> single: `redis` becomes the one Redis, so it must first hold every increment.
#     With the web tier stopped, `redis` catches up with the primary the sentinels name (or is
#     it); then the replicas and the sentinels go, with their volumes: what they knew is stale
#     from here on, and a later switch back starts them afresh from `redis`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ "$REDIS_MODE" = single ] || exit 0
project=$(project_name)
# No sentinel's volume: this project never ran under Sentinel, or has switched back already.
docker volume inspect "${project}_sentinel-1-data" >/dev/null 2>&1 || exit 0

group=(redis redis-2 redis-3 sentinel-1 sentinel-2 sentinel-3)
under_sentinel() { REDIS_MODE=sentinel compose "$@"; }
say "switching Redis from sentinel to single mode: first 'redis' gets every increment"
under_sentinel stop web >/dev/null 2>&1 || true
REDIS_MODE=sentinel compose_or_explain "starting the Redis instances and sentinels" up --detach --wait "${group[@]}"
primary=$(REDIS_MODE=sentinel primary_service)
[ -n "$primary" ] || die "no sentinel names a primary: cannot tell where the newest count is (see 'make logs')"
if [ "$primary" != redis ]; then
  offset=$(REDIS_MODE=sentinel admin_cli "$primary" INFO replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
  deadline=$((SECONDS + 60))
  until REDIS_MODE=sentinel admin_cli redis INFO replication | tr -d '\r' \
    | awk -F: -v want="$offset" -v primary="$primary" '
        $1 == "master_host" && $2 == primary { host = 1 } $1 == "master_link_status" && $2 == "up" { link = 1 }
        $1 == "slave_repl_offset" && $2 >= want { caught_up = 1 } END { exit !(host && link && caught_up) }'; do
    (( SECONDS < deadline )) || die "'redis' did not catch up with the primary $primary within 60 s: not switching (see 'make logs')"
    sleep 0.5
  done
fi
under_sentinel rm --stop --force sentinel-1 sentinel-2 sentinel-3 redis-2 redis-3 >/dev/null 2>&1
for volume in sentinel-1-data sentinel-2-data sentinel-3-data redis-2-data redis-3-data; do
  docker volume rm "${project}_$volume" >/dev/null 2>&1 || true
done
say "redis holds every increment (the primary was $primary); the replicas and sentinels are removed"
