# The Redis group, for the bash that is left (waiting for it and rolling it are control/redis.py's):
# its instances and sentinels (declared by the services in docker-compose.yml, read by
# control/topology.py), redis-cli as Redis's admin on one of them, which instance is the primary.
#
# How to reach them is passed in, as the first argument REACH: a command run as
#   REACH COMMAND [ARGUMENTS...]
# that runs COMMAND in a container of the Redis image on the back network, where every instance
# and sentinel answers to its name, with the admin's password in REDISCLI_AUTH (and its standard
# input passed on): compose_reach (here), under Compose.
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
