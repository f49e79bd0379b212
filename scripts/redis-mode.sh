#!/usr/bin/env bash
# Switching REDIS_MODE keeps the count; `make up` runs this before it starts the stack.
#   single -> sentinel: nothing to copy. The one Redis (`redis`) keeps its volume and is the
#     first primary; the replicas copy everything from it.
#   sentinel -> single: the one Redis must first hold every increment. With the web tier
#     stopped, it catches up with the primary the sentinels name (or is it); then the other
#     instances and the sentinels go, with their volumes: what they knew is stale from here on,
#     and a later switch back starts them afresh from it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/redis.sh

[ "$REDIS_MODE" = single ] || exit 0
load_topology
others=()   # every instance and sentinel but the one Redis
for name in "${INSTANCES[@]}" "${SENTINELS[@]}"; do [ "$name" = "$SINGLE" ] || others+=("$name"); done
mapfile -t volumes < <(topology volumes "${others[@]}")
# None of their volumes: this project never ran under Sentinel, or has switched back already.
found=no
for volume in "${volumes[@]}"; do ! docker volume inspect "$volume" >/dev/null 2>&1 || found=yes; done
[ "$found" = yes ] || exit 0

under_sentinel() { REDIS_MODE=sentinel "$@"; }
say "switching Redis from sentinel to single mode: first '$SINGLE' gets every increment"
under_sentinel compose stop web >/dev/null 2>&1 || true
under_sentinel compose_or_explain "starting the Redis instances and sentinels" up --detach --wait \
  "${INSTANCES[@]}" "${SENTINELS[@]}"
primary=$(under_sentinel primary_instance compose_reach)
[ -n "$primary" ] || die "no sentinel names a primary: cannot tell where the newest count is (see 'make logs')"
if [ "$primary" != "$SINGLE" ]; then
  offset=$(under_sentinel replication compose_reach "$primary" master_repl_offset)
  deadline=$((SECONDS + 60))
  until [ "$(under_sentinel replication compose_reach "$SINGLE" master_host)" = "$primary" ] \
    && [ "$(under_sentinel replication compose_reach "$SINGLE" master_link_status)" = up ] \
    && (( $(under_sentinel replication compose_reach "$SINGLE" slave_repl_offset || echo 0) >= offset )); do
    (( SECONDS < deadline )) || die "'$SINGLE' did not catch up with the primary $primary within 60 s: not switching (see 'make logs')"
    sleep 0.5
  done
fi
under_sentinel compose rm --stop --force "${others[@]}" >/dev/null 2>&1
for volume in "${volumes[@]}"; do docker volume rm "$volume" >/dev/null 2>&1 || true; done
say "$SINGLE holds every increment (the primary was $primary); the replicas and sentinels are removed"
