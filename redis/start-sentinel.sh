#!/bin/sh
# Starts one sentinel (REDIS_MODE=sentinel), configured from the environment (defaults in
# Compose). Its configuration file lives on its volume, since a sentinel writes into it what it
# learns: which instance is the primary now, the replicas and sentinels it knows, its epochs.
# Those lines are kept from the last run; everything else is written anew at every start, so a
# changed setting or secret takes effect. The first start watches REDIS_FIRST_PRIMARY.
set -eu

# Outside a container (the integration tests run it so) the folders and ports can be moved.
conf=${SENTINEL_DIR:-/data}/sentinel.conf secrets=${SECRETS_DIR:-/run/secrets}
port=${SENTINEL_PORT:-26379}
name=$REDIS_PRIMARY_NAME
password=$(cat "$secrets/redis_sentinel_password")
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
sentinel down-after-milliseconds ${name} ${REDIS_DOWN_AFTER_MS}
sentinel failover-timeout ${name} ${REDIS_FAILOVER_TIMEOUT_MS}
sentinel parallel-syncs ${name} 1
sentinel auth-user ${name} sentinel
sentinel auth-pass ${name} ${password}
EOF
echo "$learned" | grep -v -e "^sentinel monitor " -e '^$' >>"$conf.new" || true
mv "$conf.new" "$conf"
echo "start-sentinel: watching $name, primary $primary:$primary_port (quorum $REDIS_SENTINEL_QUORUM)" >&2
exec redis-server "$conf" --sentinel
