#!/bin/sh
# Starts one Redis instance of the stack, configured from the environment (defaults in Compose):
# the one node (REDIS_MODE=single), or one of three under Sentinel (sentinel). Under Sentinel the
# sentinels say which instance is the primary, so an instance never decides that by itself:
# it asks a majority of them, joins as a replica of the one they name, and, named primary itself
# with its data gone (a wiped volume), has them promote a replica first rather than hand its
# empty data set to the replicas.
set -eu

conf=/tmp/redis.conf
# shellcheck source=redis/majority.sh
. /usr/local/lib/majority.sh
say() { echo "start-redis: $*" >&2; }
secret() { cat "/run/secrets/$1"; }

# Every instance alike: over TLS only under REDIS_TLS=on (tls-conf); the append-only file fsynced
# before every reply, so that an increment that was answered survives a crash; only keys with a
# time to live (idempotency keys) may be evicted, never the count; background tasks REDIS_HZ times
# a second (idle CPU is mostly those).
common_conf() {
  if [ "${REDIS_TLS:-off}" = on ]; then tls-conf 6379 /run/secrets; else echo "port 6379"; fi
  cat <<EOF
dir /data
aclfile /run/secrets/redis_users_acl
appendonly yes
appendfsync ${REDIS_APPENDFSYNC}
maxmemory ${REDIS_MAXMEMORY}
maxmemory-policy volatile-ttl
hz ${REDIS_HZ}
EOF
}

# Under Sentinel: announced by name, replicas log in as `replica`, and a primary takes writes
# only while REDIS_ACK_REPLICAS replicas are in sync (acknowledged within 2 s), so one cut off
# from them stops taking writes. A replica that must copy the whole data set (after a failover it
# may be a little ahead of the new primary) gets it at once: Redis's default waits 5 s for other
# replicas to share the copy, and until a replica has it no increment can be acknowledged.
replication_conf() {
  cat <<EOF
replica-announce-ip ${REDIS_ANNOUNCE}
replica-announce-port 6379
masteruser replica
masterauth $(secret redis_replica_password)
min-replicas-to-write ${REDIS_ACK_REPLICAS}
min-replicas-max-lag 2
repl-diskless-sync-delay 0
EOF
}

# What one sentinel (host:port) says of the primary: "EPOCH HOST KNOWN_REPLICAS", or nothing.
ask_sentinel() {
  REDISCLI_AUTH=$(secret redis_admin_password) timeout 2 redis-cli -t 1 -h "${1%:*}" -p "${1##*:}" \
    --user admin --no-auth-warning SENTINEL MASTER "$REDIS_PRIMARY_NAME" 2>/dev/null \
    | awk 'NR % 2 == 1 { key = $0; next } { value[key] = $0 }
      END { if (value["ip"] != "") print value["config-epoch"], value["ip"], value["num-slaves"] }' || true
}

# Sets `primary`, the instance a strict majority of the sentinels name (majority.sh), and
# `known_replicas`, how many replicas they know of it, waiting at most REDIS_SENTINEL_WAIT seconds.
ask_sentinels() {
  sentinels=$(echo "$REDIS_SENTINELS" | tr ',' ' ')
  waited=0
  while :; do
    answers=$(for sentinel in $sentinels; do ask_sentinel "$sentinel"; done)
    primary=$(echo "$answers" | cut -d' ' -f2 | majority "$(echo "$sentinels" | wc -w)")
    if [ -n "$primary" ]; then
      known_replicas=$(echo "$answers" | awk -v primary="$primary" '$2 == primary { print $3 }' | sort -n | tail -n 1)
      return
    fi
    if [ "$waited" -ge "$REDIS_SENTINEL_WAIT" ]; then
      say "no majority of the sentinels ($REDIS_SENTINELS) named one primary within ${REDIS_SENTINEL_WAIT} s: cannot tell which instance is the primary"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# Nothing on this instance's volume: a new volume, or one whose data was lost.
data_is_gone() { ! ls /data/appendonlydir/*.manifest >/dev/null 2>&1; }

# Have the sentinels promote one of the replicas, and wait until a majority of them name it.
promote_a_replica() {
  say "the sentinels name this instance primary, but its data is gone: having them promote a replica"
  started=$(date +%s) asked=0
  while [ "$primary" = "$REDIS_ANNOUNCE" ]; do
    waited=$(($(date +%s) - started))
    if [ "$waited" -ge "$REDIS_SENTINEL_WAIT" ]; then
      say "no replica was promoted within ${REDIS_SENTINEL_WAIT} s: not starting as an empty primary"
      exit 1
    fi
    # Asked again only if a failover that started has long ended without a new primary.
    if [ "$waited" -ge "$asked" ]; then
      for sentinel in $(echo "$REDIS_SENTINELS" | tr ',' ' '); do
        REDISCLI_AUTH=$(secret redis_admin_password) timeout 2 redis-cli -t 1 -h "${sentinel%:*}" \
          -p "${sentinel##*:}" --user admin --no-auth-warning SENTINEL FAILOVER "$REDIS_PRIMARY_NAME" \
          2>/dev/null | grep -q '^OK' && { asked=$((waited + 20)); break; }
      done
    fi
    sleep 1
    ask_sentinels
  done
}

common_conf >"$conf"
if [ "$REDIS_MODE" = single ]; then
  # Under Sentinel later, this instance's data is newer than what the sentinels knew (see below).
  : >/data/ran-alone
else
  replication_conf >>"$conf"
  [ -n "${REDIS_SENTINELS:-}" ] || { say "REDIS_SENTINELS is empty: start the stack with 'make up', which lists the sentinels"; exit 1; }
  ask_sentinels
  if [ -e /data/ran-alone ]; then
    if [ "$primary" != "$REDIS_ANNOUNCE" ]; then
      say "this instance last ran alone (REDIS_MODE=single), so it has counts that $primary, the primary the sentinels name, lacks: 'make up REDIS_MODE=sentinel' switches modes and keeps them"
      exit 1
    fi
    rm /data/ran-alone
  elif [ "$primary" = "$REDIS_ANNOUNCE" ] && data_is_gone && [ "$known_replicas" -gt 0 ]; then
    promote_a_replica
  fi
  if [ "$primary" = "$REDIS_ANNOUNCE" ]; then
    say "starting as the primary (the sentinels name it)"
  else
    say "starting as a replica of $primary (the sentinels name it primary)"
    echo "replicaof $primary 6379" >>"$conf"
  fi
fi
exec redis-server "$conf"
