# The Redis group: its instances and sentinels (declared by the services in docker-compose.yml,
# read by control/topology.py), redis-cli as Redis's admin on one of them, which instance is the
# primary, and waiting until the group can take a failover and acknowledge increments.
#
# How to reach them is passed in, as the first argument REACH: a command run as
#   REACH COMMAND [ARGUMENTS...]
# that runs COMMAND in a container of the Redis image on the back network, where every instance
# and sentinel answers to its name, with the admin's password in REDISCLI_AUTH (and its standard
# input passed on): compose_reach (here) under Compose, swarm_reach (deploy/swarm.sh) on Swarm.
# shellcheck shell=bash

# INSTANCES, SENTINELS (all of them, as under Sentinel), SINGLE (the one Redis of single mode),
# PRIMARY_NAME and the two ports, read once.
load_topology() {
  [ -z "${SINGLE:-}" ] || return 0
  local shell
  shell=$(topology shell) || die "cannot read the Redis topology from docker-compose.yml"
  eval "$shell"
}

# The instances, and the sentinels, that run under REDIS_MODE.
instances() { load_topology; if [ "$REDIS_MODE" = single ]; then echo "$SINGLE"; else printf '%s\n' "${INSTANCES[@]}"; fi; }
sentinels() { load_topology; [ "$REDIS_MODE" = single ] || printf '%s\n' "${SENTINELS[@]}"; }
is_sentinel() { load_topology; [[ " ${SENTINELS[*]} " == *" $1 "* ]]; }

# redis-cli as the admin on an instance or a sentinel: as_admin REACH NAME [redis-cli's arguments]
as_admin() {
  local reach=$1 name=$2 port
  shift 2
  load_topology
  port=$INSTANCE_PORT
  if is_sentinel "$name"; then port=$SENTINEL_PORT; fi
  "$reach" redis-cli --no-auth-warning --user admin -h "$name" -p "$port" "$@"
}

# Under Compose: in a running Redis instance's container, which has the admin's secret.
compose_reach() {
  local name from=""
  load_topology
  for name in $(instances); do
    from=$(docker ps --quiet --filter "label=com.docker.compose.project=$PROJECT" \
      --filter "label=com.docker.compose.service=$name" --filter status=running | head -n 1)
    [ -z "$from" ] || break
  done
  [ -n "$from" ] || return 1
  # shellcheck disable=SC2016  # expanded inside the container, where the secret is
  docker exec -i "$from" sh -c 'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" && export REDISCLI_AUTH && exec "$@"' \
    sh "$@"
}

# The instances with a running container, under Compose.
running_instances() {
  local name
  for name in $(instances); do [ -z "$(running "$name")" ] || echo "$name"; done
}

# REDIS_TLS as the running Redis instance has it under Compose (off for one started before the
# setting; REDIS_TLS itself when none runs).
running_tls() {
  local id tls
  id=$(running "$(instances | head -n 1)" | head -n 1)
  [ -n "$id" ] || { echo "$REDIS_TLS"; return; }
  tls=$(docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$id" | sed -n 's/^REDIS_TLS=//p')
  echo "${tls:-off}"
}

# The instance that is the primary: the one Redis, or under Sentinel the one a strict majority of
# the sentinels name (one back from a lost node can name the old primary for a minute). Empty
# while no majority names one: primary_instance REACH
primary_instance() {
  local sentinel answer
  load_topology
  if [ "$REDIS_MODE" = single ]; then echo "$SINGLE"; return; fi
  for sentinel in "${SENTINELS[@]}"; do
    answer=$(as_admin "$1" "$sentinel" SENTINEL get-master-addr-by-name "$PRIMARY_NAME" 2>/dev/null \
      | head -n 1 | tr -d '\r') || true
    echo "$answer"
  done | python3 -m control primary "${#SENTINELS[@]}"
}

# A field of what a sentinel says of the primary (SENTINEL MASTER): sentinel_view REACH SENTINEL FIELD
sentinel_view() {
  load_topology
  as_admin "$1" "$2" SENTINEL MASTER "$PRIMARY_NAME" 2>/dev/null | tr -d '\r' \
    | awk -v want="$3" 'NR % 2 == 1 { key = $0; next } key == want { print; exit }'
}

# A field of an instance's INFO replication: replication REACH INSTANCE FIELD
replication() {
  as_admin "$1" "$2" INFO replication 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"
}

# What a sentinel knows of the other sentinels or of the replicas, one line each:
# IP FLAGS LAST-OK-PING-REPLY(ms) LAST-HELLO-MESSAGE(ms)|MASTER-LINK-STATUS: known REACH SENTINEL SENTINELS|REPLICAS
known() {
  load_topology
  as_admin "$1" "$2" SENTINEL "$3" "$PRIMARY_NAME" 2>/dev/null | tr -d '\r' \
    | awk 'NR % 2 == 1 { key = $0; next }
      key == "name" && NR > 2 { print ip, flags, ping, extra }
      key == "ip" { ip = $0 } key == "flags" { flags = $0 } key == "last-ok-ping-reply" { ping = $0 }
      key == "last-hello-message" || key == "master-link-status" { extra = $0 }
      END { if (NR > 1) print ip, flags, ping, extra }'
}

# Whether every sentinel sees every other sentinel and every replica up and answering, so that the
# group can take a failover: redis_group_whole REACH
redis_group_whole() {
  local sentinel name primary
  load_topology
  primary=$(primary_instance "$1")
  [ -n "$primary" ] || return 1
  for sentinel in "${SENTINELS[@]}"; do
    quorum_whole "$1" "$sentinel" || return 1
    for name in "${INSTANCES[@]}"; do
      [ "$name" = "$primary" ] || sees_up "$1" "$sentinel" "$name" || return 1
    done
  done
}

# Whether a sentinel counts every sentinel usable for a failover: quorum_whole REACH SENTINEL
quorum_whole() {
  [[ "$(as_admin "$1" "$2" SENTINEL CKQUORUM "$PRIMARY_NAME" 2>/dev/null)" == "OK ${#SENTINELS[@]} usable"* ]]
}

# Whether a sentinel sees an instance or another sentinel as it is when all is well: a replica
# answering its pings with its link to the primary up, a sentinel answering and saying hello
# (every 2 s); and, with WITHIN (ms), having heard from it within that long:
# sees_up REACH SENTINEL NAME [WITHIN]
sees_up() {
  local kind=REPLICAS want=slave
  if is_sentinel "$3"; then kind=SENTINELS want=sentinel; fi
  known "$1" "$2" "$kind" | awk -v name="$3" -v want="$want" -v within="${4:-1500}" '
    $1 == name && $2 == want && $3 < 1500 && $3 < within + 0 \
      && ($4 == "ok" || ($4 ~ /^[0-9]+$/ && $4 < 2500 && $4 < within + 0)) { found = 1 }
    END { exit !found }'
}

# How many replicas have a write made now on the primary on disk (within 0.1 s): acknowledged_on REACH N
acknowledged_on() {
  local primary
  primary=$(primary_instance "$1")
  [ -n "$primary" ] || return 0
  printf 'SET stack:acknowledged 1 PX 1000\nWAITAOF 1 %s 100\n' "$2" | as_admin "$1" "$primary" 2>/dev/null \
    | tail -n 1 | tr -d '\r' || true
}

# Under Sentinel, wait until the group can take a failover and acknowledge increments: every
# sentinel knows every replica and the other sentinels (a sentinel learns of a replica from the
# primary's INFO, every 10 s), and a write on the primary is on disk on REDIS_ACK_REPLICAS
# replicas (replicas that just copied the data set rewrite their append-only file first; the
# write is to a key outside counter:*, gone a second later). wait_redis_group REACH SECONDS
wait_redis_group() {
  local reach=$1 deadline=$((SECONDS + $2)) replicas=${REDIS_ACK_REPLICAS:-1}
  [ "$REDIS_MODE" = sentinel ] || return 0
  until redis_group_whole "$reach" \
    && { (( replicas == 0 )) || [ "$(acknowledged_on "$reach" "$replicas")" = "$replicas" ]; }; do
    (( SECONDS < deadline )) || die "the Redis instances and sentinels did not all find each other within $2 s (see 'make logs')"
    sleep 0.5
  done
}

# The group's members replaced one at a time, serving throughout (make up, make deploy). The
# sentinels first, one by one, each back among the others before the next (a quorum is always
# kept); then the replicas one by one, each back in sync; then a planned switch of the primary to
# an up-to-date replica (switch_primary); then the old primary, which joins as a replica.
# REPLACE NAME replaces one member (its new container started): roll_redis_group REACH REPLACE NAME...
roll_redis_group() {
  local reach=$1 replace=$2 name primary
  shift 2
  load_topology
  # From a group that can take a failover: after a fault, a member may still be on its way back.
  wait_redis_group "$reach" 120
  for name in "${SENTINELS[@]}"; do
    among "$name" "$@" || continue
    timed "sentinel $name replaced, and back among the others" replace_member "$reach" "$replace" "$name"
  done
  primary=$(primary_instance "$reach")
  [ -n "$primary" ] || die "no majority of the sentinels names one primary: not replacing the Redis instances (see 'make logs')"
  for name in "${INSTANCES[@]}"; do
    if [ "$name" = "$primary" ] || ! among "$name" "$@"; then continue; fi
    timed "replica $name replaced, and back in sync" replace_member "$reach" "$replace" "$name"
  done
  among "$primary" "$@" || return 0
  timed "primary switched from $primary" switch_primary "$reach" "$primary"
  timed "$primary replaced, and back in sync as a replica" replace_member "$reach" "$replace" "$primary"
}

among() { local name=$1; shift; [[ " $* " == *" $name "* ]]; }

# Replace one member, and wait until it is back as it was before: replace_member REACH REPLACE NAME
replace_member() {
  local deadline=$((SECONDS + 90)) replaced
  "$2" "$3"
  replaced=$(date +%s%3N)
  until member_back "$1" "$3" "$replaced"; do
    (( SECONDS < deadline )) || die "$3 was not back within 90 s after it was replaced (see 'make logs')"
    sleep 0.5
  done
}

# Whether a member replaced at REPLACED (ms since the epoch) is back: a sentinel that counts every
# sentinel usable, or a replica in sync; seen up, since then, by every other sentinel; and
# increments acknowledged again: member_back REACH NAME REPLACED
member_back() {
  local reach=$1 name=$2 sentinel replicas=${REDIS_ACK_REPLICAS:-1}
  if is_sentinel "$name"; then
    quorum_whole "$reach" "$name" || return 1
  else
    [ "$(replication "$reach" "$name" master_link_status)" = up ] || return 1
    [ "$(replication "$reach" "$name" master_sync_in_progress)" = 0 ] || return 1
  fi
  for sentinel in "${SENTINELS[@]}"; do
    [ "$sentinel" = "$name" ] || sees_up "$reach" "$sentinel" "$name" $(($(date +%s%3N) - $3)) || return 1
  done
  (( replicas == 0 )) || [ "$(acknowledged_on "$reach" "$replicas")" = "$replicas" ]
}

# A planned switch of the primary that loses no acknowledged increment (redis/switch-primary.sh
# says how): switch_primary REACH OLD
switch_primary() {
  local answer
  load_topology
  answer=$("$1" sh -s -- "$2" "$PRIMARY_NAME" "$INSTANCE_PORT" "${INSTANCES[*]}" \
    "$(printf "%s:$SENTINEL_PORT " "${SENTINELS[@]}")" <redis/switch-primary.sh) || die "the primary was not switched (the reason is above)"
  say "${answer% *} is the primary now; writes were refused for ${answer##* } ms while it took over from $2"
}