# shellcheck shell=sh
# Sourced by start-sentinel: a sentinel that names another primary than a strict majority of the
# sentinels (majority.sh), at a config epoch no newer than theirs, for SENTINEL_FOLLOW_AFTER
# seconds (default 15), forgets its view and watches the majority's primary instead.
#
# Sentinel cannot leave that state by itself. A sentinel hears of a failover from the others'
# hellos, which carry the new primary and the failover's epoch: it takes the epoch first, then
# looks up the new primary's name. When that lookup fails (a Swarm node just back on the network
# does not resolve the names of tasks elsewhere for a while), the epoch is kept and the address
# is not, and the hellos that follow, at that same epoch, are no longer news: the sentinel names
# the old primary for good. A sentinel only lagging behind names the old primary at an older
# epoch, and the hellos bring it along within seconds; one that led a failover the others have
# not heard of yet is ahead of them, at a newer epoch. Neither is touched.
#
#   follow_majority PORT: runs while this shell ($$) does, beside the sentinel on PORT (this
#   container's), watching REDIS_PRIMARY_NAME; REDIS_SENTINELS lists every sentinel's host:port,
#   SENTINEL_ANNOUNCE:PORT being this one. Settings as start-sentinel has them.

# A sentinel (host:port), as the admin: SENTINEL ...
sentinel_call() {
  at=$1
  shift
  REDISCLI_AUTH=$(cat "${SECRETS_DIR:-/run/secrets}/redis_admin_password") timeout 2 \
    redis-cli -h "${at%:*}" -p "${at##*:}" --user admin --no-auth-warning SENTINEL "$@" 2>/dev/null
}

# What a sentinel (host:port) says of the group: "EPOCH HOST:PORT FLAGS", or nothing.
sentinel_view() {
  sentinel_call "$1" MASTER "$REDIS_PRIMARY_NAME" | awk 'NR % 2 == 1 { key = $0; next } { value[key] = $0 }
    END { if (value["ip"] != "") print value["config-epoch"], value["ip"] ":" value["port"], value["flags"] }' || true
}

follow_majority() {
  me=127.0.0.1:$1
  after=${SENTINEL_FOLLOW_AFTER:-15}
  others=$(echo "${REDIS_SENTINELS:-}" | tr ',' '\n' | grep -v -x -e "${SENTINEL_ANNOUNCE}:$1" -e '' || true)
  total=$(($(echo "$others" | grep -c . || true) + 1))
  since=""
  while kill -0 $$ 2>/dev/null; do
    sleep 5
    mine=$(sentinel_view "$me")
    theirs=$(for other in $others; do sentinel_view "$other"; done)
    primary=$( (echo "$mine" && echo "$theirs") | awk 'NF >= 2 { print $2 }' | majority "$total")
    newest=$(echo "$theirs" | awk -v p="$primary" '$2 == p && $1 > newest { newest = $1 } END { print newest + 0 }')
    # shellcheck disable=SC2086  # its words: EPOCH HOST:PORT FLAGS
    set -- $mine
    if [ -z "$primary" ] || [ $# -lt 3 ] || [ "$2" = "$primary" ] || [ "$1" -gt "$newest" ] \
      || [ "$3" != "${3#*failover}" ]; then
      since=""
      continue
    fi
    since=${since:-$(date +%s)}
    [ $(($(date +%s) - since)) -ge "$after" ] || continue
    echo "start-sentinel: named $2 at epoch $1 for ${after} s while a majority names $primary (epoch $newest): following the majority" >&2
    repoint "$me" "${primary%:*}" "${primary##*:}"
    since=""
  done
}

# Has the sentinel at ME watch the group at HOST PORT from now on, with start-sentinel's settings.
repoint() {
  sentinel_call "$1" REMOVE "$REDIS_PRIMARY_NAME" >/dev/null || true
  until sentinel_call "$1" MONITOR "$REDIS_PRIMARY_NAME" "$2" "$3" "$REDIS_SENTINEL_QUORUM" | grep -q '^OK'; do
    kill -0 $$ 2>/dev/null || return 0
    [ -n "${told:-}" ] || echo "start-sentinel: cannot watch $2:$3 yet (its name does not resolve?): trying every second" >&2
    told=yes
    sleep 1
  done
  told=""
  sentinel_call "$1" SET "$REDIS_PRIMARY_NAME" down-after-milliseconds "$REDIS_DOWN_AFTER_MS" \
    failover-timeout "$REDIS_FAILOVER_TIMEOUT_MS" parallel-syncs 1 auth-user sentinel \
    auth-pass "$(cat "${SECRETS_DIR:-/run/secrets}/redis_sentinel_password")" | grep -q '^OK' \
    || echo "start-sentinel: watching $2:$3, but its settings could not be set" >&2
}
