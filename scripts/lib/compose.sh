# The Compose command as the scripts run it, and what docker-compose.yml declares.
# shellcheck shell=bash

# The Redis topology, REDIS_MODE: from the environment, else from .env, else `single`. Under
# `sentinel`, every Compose command here covers its profile too (the replicas and sentinels).
REDIS_MODE=${REDIS_MODE:-$(sed -n 's/^REDIS_MODE=//p' .env 2>/dev/null | tail -n 1 || true)}
REDIS_MODE=${REDIS_MODE:-single}
case "$REDIS_MODE" in
  single | sentinel) export REDIS_MODE ;;
  *) die "REDIS_MODE must be single or sentinel, got '$REDIS_MODE'" ;;
esac
# Redis's traffic over TLS (on) or not (off): from the environment, else from .env, else off
# under Compose, where it never leaves the host (deploy/swarm.sh makes it on on Swarm).
REDIS_TLS=${REDIS_TLS:-$(sed -n 's/^REDIS_TLS=//p' .env 2>/dev/null | tail -n 1 || true)}
REDIS_TLS=${REDIS_TLS:-off}
case "$REDIS_TLS" in
  on | off) export REDIS_TLS ;;
  *) die "REDIS_TLS must be on or off, got '$REDIS_TLS'" ;;
esac
[ -z "${BACK_NETWORK:-}" ] || check_pattern BACK_NETWORK "$BACK_NETWORK" '^([0-9]{1,3}\.){2}[0-9]{1,3}$' \
  "the first three numbers of a /24, such as 10.210.0"

# What the services in docker-compose.yml declare of Redis (scripts/topology.py, which says what
# WHAT may be): topology WHAT [ARGS...]
topology() {
  require_python3 "reading the Redis topology from docker-compose.yml"
  COMPOSE_BAKE=false docker compose --profile sentinel config --format json | python3 scripts/topology.py "$@"
}

# docker compose, with the Sentinel profile under REDIS_MODE=sentinel, and the sentinels' list
# that the app and the instances are given (REDIS_SENTINELS), from the Compose file's sentinels.
compose() {
  if [ -z "${REDIS_SENTINELS:-}" ]; then
    REDIS_SENTINELS=$(topology sentinel-list) || die "cannot read the Redis topology from docker-compose.yml"
    export REDIS_SENTINELS
  fi
  if [ "$REDIS_MODE" = sentinel ]; then set -- --profile sentinel "$@"; fi
  COMPOSE_BAKE=false docker compose "$@"
}

# The Compose project's name (COMPOSE_PROJECT_NAME, else the file's `name`).
project_name() { compose config | sed -n 's/^name: //p' | head -n 1; }

# The first three numbers of a /24 under PREFIX (two numbers, such as 10.210) that Docker takes
# for a new network now, for a stack beside another one (BACK_NETWORK): free_network PREFIX.
# Each is tried for real: an engine can hold an address range that no network it lists uses.
free_network() {
  local n probe="counter-free-network-$$"
  for n in $(seq 1 254); do
    if docker network create --internal --subnet "$1.$n.0/24" "$probe" >/dev/null 2>&1; then
      docker network rm "$probe" >/dev/null
      echo "$1.$n"
      return
    fi
  done
  die "no $1.N.0/24 is free for a Docker network"
}

require_running_stack() {
  [ -n "$(compose ps --quiet --status running lb)" ] || die "the stack is not running: start it with 'make up'"
}

# The service's running containers: running SERVICE
running() { compose ps --quiet --status running "$1" 2>/dev/null; }

# Where a service's port is published on this host, as host:port (empty if it is not running);
# a wildcard binding (0.0.0.0, every interface) is reached on 127.0.0.1: published SERVICE PORT
published() {
  local address
  address=$(compose port "$1" "$2" 2>/dev/null | tail -n 1) || return 0
  case "$address" in
    0.0.0.0:* | "[::]:"* | :::*) echo "127.0.0.1:${address##*:}" ;;
    *) echo "$address" ;;
  esac
}

lb_address() { published lb 8080; }

# Change the running stack's web tier to N replicas, each healthy, and given the load balancer's
# ADDRESS, wait until it has reached each one: scale_web N [ADDRESS]. Only web changes: no
# rebuild, running replicas are kept, leaving ones finish their requests.
scale_web() {
  local names=()
  compose_or_explain "scaling web to $1 replicas" up --detach --no-build --no-deps --no-recreate \
    --scale "web=$1" --wait web
  [ -n "${2:-}" ] || return 0
  mapfile -t names < <(running web | cut -c1-12)
  wait_served_by_all "$2" "${names[@]}"
}
