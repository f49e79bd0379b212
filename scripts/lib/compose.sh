# The Compose command as the scripts run it, and what docker-compose.yml declares.
# shellcheck shell=bash

# The Redis topology, REDIS_MODE (single unless set), and whether Redis's traffic is over TLS,
# REDIS_TLS (off unless set, or unless the script sets redis_tls_default: under Compose Redis's
# traffic never leaves the host): each from the environment, else .env as Compose reads it, else
# its default (control/settings.py). Under `sentinel`, every Compose command here covers its
# profile too (the replicas and sentinels).
require_python3 "reading the settings"
REDIS_MODE=$(python3 -m control setting REDIS_MODE 2>&1) || die "$REDIS_MODE"
REDIS_TLS=$(python3 -m control setting REDIS_TLS "${redis_tls_default:-off}" 2>&1) || die "$REDIS_TLS"
export REDIS_MODE REDIS_TLS
[ -z "${BACK_NETWORK:-}" ] || check_pattern BACK_NETWORK "$BACK_NETWORK" '^([0-9]{1,3}\.){2}[0-9]{1,3}$' \
  "the first three numbers of a /24, such as 10.210.0"

# What the services in docker-compose.yml declare of Redis (control/topology.py, which says what
# WHAT may be): topology WHAT [ARGS...]
topology() {
  COMPOSE_BAKE=false docker compose --profile sentinel config --format json | python3 -m control topology "$@"
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
