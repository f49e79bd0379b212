#!/bin/sh
# Starts one sentinel (REDIS_MODE=sentinel), configured from the environment (defaults in
# Compose). Its configuration file lives on its volume, since a sentinel writes into it what it
# learns: which instance is the primary now, the replicas and sentinels it knows, its epochs.
# Those lines are kept from the last run; everything else is written anew at every start, so a
# changed setting or secret takes effect. The first start watches REDIS_FIRST_PRIMARY.
#
# A sentinel judges the primary down REDIS_DOWN_AFTER_MS after it last heard from it, counted from
# its own start. When the whole group starts (make up after make down, a host's restart) the
# instances start after the sentinels, since they ask them their roles, and a primary slower than
# that to answer would be failed over for nothing. So each sentinel starts patient: the primary
# gets SENTINEL_START_GRACE seconds (default 60) to answer it, and REDIS_DOWN_AFTER_MS applies
# once it has (or the grace is over). The other sentinels, if they run, judge as usual.
#
# Beside it, follow_majority (follow-majority.sh) re-points it if it names another primary than a
# majority of the sentinels, at no newer an epoch, for good.
set -eu

# Outside a container (the integration tests run it so) the folders, ports and scripts can be moved.
lib=${REDIS_LIB:-/usr/local/lib}
# shellcheck source=redis/majority.sh
. "$lib/majority.sh"
# shellcheck source=redis/follow-majority.sh
. "$lib/follow-majority.sh"
conf=${SENTINEL_DIR:-/data}/sentinel.conf secrets=${SECRETS_DIR:-/run/secrets}
port=${SENTINEL_PORT:-26379}
name=$REDIS_PRIMARY_NAME
password=$(cat "$secrets/redis_sentinel_password")
grace=${SENTINEL_START_GRACE:-60}
learned=$(grep -E "^sentinel (myid|current-epoch|monitor|config-epoch|leader-epoch|known-replica|known-sentinel) " \
  "$conf" 2>/dev/null || true)
# shellcheck disable=SC2046  # the saved line's words: sentinel monitor NAME HOST PORT QUORUM
set -- $(echo "$learned" | grep "^sentinel monitor $name " || echo "- - - $REDIS_FIRST_PRIMARY ${REDIS_PORT:-6379}")
primary=$4 primary_port=$5

# Over TLS only under REDIS_TLS=on (tls-conf), to Redis and to the other sentinels as well.
{ if [ "${REDIS_TLS:-off}" = on ]; then tls-conf "$port" "$secrets"; else echo "port ${port}"; fi; } >"$conf.new"
cat >>"$conf.new" <<EOF
dir /tmp
aclfile ${secrets}/redis_sentinel_acl
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${SENTINEL_ANNOUNCE}
sentinel announce-port ${port}
sentinel sentinel-user sentinel
sentinel sentinel-pass ${password}
sentinel monitor ${name} ${primary} ${primary_port} ${REDIS_SENTINEL_QUORUM}
sentinel down-after-milliseconds ${name} $((grace * 1000 > REDIS_DOWN_AFTER_MS ? grace * 1000 : REDIS_DOWN_AFTER_MS))
sentinel failover-timeout ${name} ${REDIS_FAILOVER_TIMEOUT_MS}
sentinel parallel-syncs ${name} 1
sentinel auth-user ${name} sentinel
sentinel auth-pass ${name} ${password}
EOF
echo "$learned" | grep -v -e "^sentinel monitor " -e '^$' >>"$conf.new" || true
mv "$conf.new" "$conf"
echo "start-sentinel: watching $name, primary $primary:$primary_port (quorum $REDIS_SENTINEL_QUORUM)" >&2

# This sentinel, as its admin: ask SENTINEL ...
ask() {
  REDISCLI_AUTH=$(cat "$secrets/redis_admin_password") timeout 2 redis-cli -p "$port" --user admin \
    --no-auth-warning SENTINEL "$@" 2>/dev/null
}

# Beside the sentinel (which runs as this process, $$): once it is connected to the primary (its
# flags say just "master"), or the grace is over, its usual REDIS_DOWN_AFTER_MS applies.
(
  waited=0
  while kill -0 $$ 2>/dev/null; do
    flags=$(ask MASTER "$name" | awk 'NR % 2 == 1 { key = $0; next } key == "flags" { print }')
    if [ "$flags" = master ] || [ "$waited" -ge "$grace" ]; then
      if ask SET "$name" down-after-milliseconds "$REDIS_DOWN_AFTER_MS" | grep -q '^OK'; then
        echo "start-sentinel: the primary $([ "$flags" = master ] && echo answered || echo "did not answer") within ${waited} s: judged down after ${REDIS_DOWN_AFTER_MS} ms from now on" >&2
        exit 0
      fi
    fi
    sleep 1
    waited=$((waited + 1))
  done
) &
follow_majority "$port" &
exec redis-server "$conf" --sentinel
