# Shared by the scripts: one-line failures, argument checks, and the Compose command.
# shellcheck shell=bash

die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

# A whole number from min to max, or stop with a reason: check_range NAME VALUE MIN MAX
check_range() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || (( 10#$2 < $3 || 10#$2 > $4 )); then
    die "$1 must be a whole number from $3 to $4, got '$2'"
  fi
}

# A value matching a pattern, or stop with a reason: check_pattern NAME VALUE REGEX WHAT
check_pattern() {
  [[ $2 =~ $3 ]] || die "$1 must be $4, got '$2'"
}

check_ratio() { check_pattern "$1" "$2" '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$' "a ratio from 0 to 1"; }

# The number of web replicas asked for, SCALE (a whole number from 1 to MAX_SCALE, 64), checked:
# `web_replicas DEFAULT` sets `scale` to SCALE or DEFAULT; `web_replicas "" USAGE` requires SCALE.
# shellcheck disable=SC2034  # for the scripts that source this file
DEFAULT_SCALE=3
web_replicas() {
  local most=${MAX_SCALE:-64}
  check_range MAX_SCALE "$most" 1 1000
  if [ -z "${SCALE+set}" ]; then
    [ -n "$1" ] || die "say how many web replicas: $2 SCALE=N (1 to $most)"
    scale=$1
    return
  fi
  check_range SCALE "$SCALE" 1 "$most"
  # shellcheck disable=SC2034  # the caller's
  scale=$SCALE
}

# A new folder for a run's files, named by its start time: new_report_dir [PREFIX] [SUFFIX]
new_report_dir() {
  local dir
  mkdir -p reports
  dir=$(mktemp -d "reports/${1:-}$(date -u +%Y%m%dT%H%M%SZ)${2:-}-XXXX")
  chmod 755 "$dir"
  echo "$dir"
}

require_docker() {
  command -v docker >/dev/null 2>&1 || die "Docker is not installed: see README.md, Prerequisites"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start it (dockerd or Docker Desktop)"
  docker compose version >/dev/null 2>&1 || die "Compose v2 is missing: 'docker compose' does not work (install the compose plugin)"
}

# The Redis topology, REDIS_MODE: from the environment, else from .env, else `single`. Under
# `sentinel`, every Compose command here covers its profile too (the replicas and sentinels).
REDIS_MODE=${REDIS_MODE:-$(sed -n 's/^REDIS_MODE=//p' .env 2>/dev/null | tail -n 1 || true)}
REDIS_MODE=${REDIS_MODE:-single}
case "$REDIS_MODE" in
  single | sentinel) export REDIS_MODE ;;
  *) die "REDIS_MODE must be single or sentinel, got '$REDIS_MODE'" ;;
esac
[ -z "${BACK_NETWORK:-}" ] || check_pattern BACK_NETWORK "$BACK_NETWORK" '^([0-9]{1,3}\.){2}[0-9]{1,3}$' \
  "the first three numbers of a /24, such as 10.210.0"

compose() {
  if [ "$REDIS_MODE" = sentinel ]; then set -- --profile sentinel "$@"; fi
  COMPOSE_BAKE=false docker compose "$@"
}

# The Compose project's name (COMPOSE_PROJECT_NAME, else the file's `name`).
project_name() { compose config | sed -n 's/^name: //p' | head -n 1; }

# redis-cli as Redis's admin user, inside the running container of a Redis service:
# admin_cli SERVICE [redis-cli's arguments]
admin_cli() {
  local service=$1
  shift
  # shellcheck disable=SC2016  # expanded inside the container, where the secret is
  compose exec -T "$service" sh -c \
    'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" exec redis-cli --no-auth-warning --user admin "$@"' \
    redis-cli "$@"
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

# The Redis services with a running container (redis, and under Sentinel redis-2 and redis-3).
running_redis_services() {
  local service
  for service in redis redis-2 redis-3; do
    [ -z "$(compose ps --quiet --status running "$service" 2>/dev/null)" ] || echo "$service"
  done
}

# The service of the Redis primary: `redis`, or under Sentinel the one the sentinels name
# (asked from a running Redis container, which has the admin's secret). Empty if none answers.
primary_service() {
  local from sentinel answer
  if [ "$REDIS_MODE" = single ]; then echo redis; return; fi
  from=$(running_redis_services | head -n 1)
  [ -n "$from" ] || return 0
  for sentinel in sentinel-1 sentinel-2 sentinel-3; do
    answer=$(admin_cli "$from" -h "$sentinel" -p 26379 SENTINEL get-master-addr-by-name counter 2>/dev/null \
      | head -n 1) || true
    case "$answer" in redis | redis-2 | redis-3) echo "$answer"; return ;; esac
  done
}

# Under Sentinel, wait until the group can take a failover and acknowledge increments: every
# sentinel knows both replicas and the other two sentinels (a sentinel learns of a replica from
# the primary's INFO, every 10 s), and a write on the primary is on disk on REDIS_ACK_REPLICAS
# replicas (replicas that just copied the data set rewrite their append-only file first; the
# write is to a key outside counter:*, gone a second later). wait_redis_group SECONDS
wait_redis_group() {
  local deadline=$((SECONDS + $1)) replicas=${REDIS_ACK_REPLICAS:-1}
  [ "$REDIS_MODE" = sentinel ] || return 0
  until redis_group_whole && { (( replicas == 0 )) || [ "$(acknowledged_on "$replicas")" = "$replicas" ]; }; do
    (( SECONDS < deadline )) || die "the Redis instances and sentinels did not all find each other within $1 s (see 'make logs')"
    sleep 0.5
  done
}

redis_group_whole() {
  local from sentinel
  from=$(running_redis_services | head -n 1)
  [ -n "$from" ] || return 1
  for sentinel in sentinel-1 sentinel-2 sentinel-3; do
    admin_cli "$from" -h "$sentinel" -p 26379 SENTINEL MASTER counter 2>/dev/null | tr -d '\r' \
      | awk 'NR % 2 == 1 { key = $0; next } { value[key] = $0 }
        END { exit !(value["num-slaves"] == 2 && value["num-other-sentinels"] == 2) }' || return 1
  done
}

# How many replicas have a write made now on the primary on disk (within 0.1 s): acknowledged_on N
acknowledged_on() {
  local primary
  primary=$(primary_service)
  [ -n "$primary" ] || return 0
  printf 'SET stack:acknowledged 1 PX 1000\nWAITAOF 1 %s 100\n' "$1" | admin_cli "$primary" 2>/dev/null | tail -n 1 || true
}

# Containers that write reports/ run as the invoking user, so that what they write is theirs.
use_host_user() {
  HOST_USER="$(id -u):$(id -g)"
  export HOST_USER
}

# python3 on this host, for the steps that need it (README, Prerequisites): require_python3 WHAT
require_python3() {
  command -v python3 >/dev/null 2>&1 || die "python3 is missing on this host: $1 needs it (see README.md, Prerequisites)"
}

require_running_stack() {
  [ -n "$(compose ps --quiet --status running lb)" ] || die "the stack is not running: start it with 'make up'"
}

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

# HTTP status of GET path at host:port, using bash alone: http_status HOST:PORT PATH
http_status() {
  local status
  { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
  read -r -t 5 _ status _ <&3 || status=000
  exec 3<&-
  echo "${status:-000}"
}

# The replica that answers a HEAD / (which counts nothing) at HOST:PORT, from its X-Served-By.
served_by() {
  local line name=""
  { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || return 0
  printf 'HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    [ -n "$line" ] || break
    case "${line,,}" in x-served-by:*) name=${line#*: } ;; esac
  done
  exec 3<&-
  echo "$name"
}

# Wait until the load balancer at HOST:PORT has reached each of the web replicas NAME... (their
# containers' short ids): nginx finds them by DNS, a second or two after they are healthy, and a
# scale or a deploy ends only once each one serves. wait_served_by_all HOST:PORT NAME...
wait_served_by_all() {
  local address=$1 deadline=$((SECONDS + 30)) name missing
  shift
  local -A expected=()
  for name; do expected[$name]=1; done
  while :; do
    name=$(served_by "$address")
    [ -z "$name" ] || unset "expected[$name]"
    missing=${#expected[@]}
    (( missing > 0 )) || return 0
    (( SECONDS < deadline )) || die "the load balancer at $address did not reach $missing of the web replicas within 30 s"
    sleep 0.1
  done
}

# Wait until the load balancer answers 200 on /readyz: wait_ready HOST:PORT SECONDS
wait_ready() {
  local deadline=$((SECONDS + $2))
  until [ "$(http_status "$1" /readyz)" = 200 ]; do
    (( SECONDS < deadline )) || die "the stack did not answer at $1 within $2 s (see 'make logs')"
    sleep 1
  done
}

# Run a command quietly; if it fails, stop with its last lines and a reason: quietly WHAT COMMAND...
quietly() {
  local what=$1 output
  shift
  output=$(mktemp)
  if ! "$@" >"$output" 2>&1; then
    tail -n 15 "$output" >&2
    rm -f "$output"
    die "$what failed (its last lines are above)"
  fi
  rm -f "$output"
}

# The images a Compose command needs from a registry: those the stack's images are built from
# (Compose's build arguments), and those its services run as they are (monitoring's, if its
# arguments name that profile): base_images [COMPOSE ARGUMENTS...]
base_images() {
  local profiles=()
  [[ " $* " != *" --profile monitoring "* ]] || profiles=(--profile monitoring)
  compose "${profiles[@]}" config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"].values()
built = {v for s in services for v in s.get("build", {}).get("args", {}).values()}
print("\n".join(sorted(built | {s["image"] for s in services if "build" not in s})))'
}

# The setting that chooses a published port, by the service that publishes it: port_setting PORT
port_setting() {
  compose --profile monitoring --profile loadtest config --format json | python3 -c '
import json, sys
settings = {"lb": "LB_PORT", "locust-master": "LOCUST_PORT", "prometheus": "PROMETHEUS_PORT"}
for name, service in json.load(sys.stdin)["services"].items():
    if any(str(p.get("published")) == sys.argv[1] for p in service.get("ports", [])):
        print(settings.get(name, ""))' "$1"
}

# Run Compose, showing its output; if it fails, stop with one last line naming the cause and the
# fix (see explain_failure): compose_or_explain WHAT ARGS...
compose_or_explain() {
  local what=$1 output
  shift
  output=$(mktemp)
  if compose "$@" 2>&1 | tee "$output"; then rm -f "$output"; return; fi
  explain_failure "$what" "$output" "$@"
}

# Build images, showing nothing unless it fails; then its last lines and the cause, as above:
# build_or_explain WHAT ARGS... (Compose's arguments, `build` among them)
build_or_explain() {
  local what=$1 output
  shift
  output=$(mktemp)
  if compose --progress plain "$@" >"$output" 2>&1; then rm -f "$output"; return; fi
  tail -n 15 "$output" >&2
  explain_failure "$what" "$output" "$@"
}

# Stop with one last line for a Compose command that failed, whose output is in FILE: a base image
# it needed that cannot be pulled, an image that did not build (with its error's first lines), a
# port that is taken, or a service that did not become healthy (with its last log lines):
# explain_failure WHAT FILE COMPOSE-ARGUMENTS...
explain_failure() {
  local what=$1 output=$2 image service error port container setting
  shift 2
  command -v python3 >/dev/null 2>&1 || set -- # without it, no base image is looked for
  for image in $( (command -v python3 >/dev/null 2>&1 && base_images "$@") || true); do
    docker image inspect "$image" >/dev/null 2>&1 && continue
    rm -f "$output"
    die "the base image $image cannot be pulled here: run 'make offline-images' to build stand-ins from Debian's packages (or reach a registry)"
  done
  # BuildKit repeats the failed step as " > [SERVICE N/M] STEP:", then its error's lines (each may
  # start with the seconds it ran), then "------". The classic builder (DOCKER_BUILDKIT=0) says
  # " Service SERVICE  Building", runs each step "---> Running in ID" and ends a failed one with
  # "The command '...' returned a non-zero code: N".
  service=$(grep -oE '^ > \[[a-z0-9_-]+ [0-9]+/[0-9]+\]' "$output" | head -n 1 | sed -E 's/^ > \[([^ ]+) .*/\1/' || true)
  if [ -n "$service" ]; then
    error=$(sed -n '/^ > \[/,/^------/{/^ > \[/d;/^------/d;s/^[0-9]*\.[0-9]* //;p}' "$output" | head -n 3)
  elif grep -q "returned a non-zero code" "$output"; then
    service=$(grep -oE '^ *Service [a-z0-9_-]+ +Building' "$output" | tail -n 1 | awk '{print $2}' || true)
    # Parallel builds interleave their lines; a step's error output is the one printed in red
    # (ESC[91m): the last red line with words in it before the failure (a colour code can stand
    # alone on a line of its own).
    error=$(awk '/returned a non-zero code/ { print red; exit }
      /\x1b\[91m/ { text = $0; gsub(/\x1b\[[0-9;]*m/, "", text); if (text ~ /[^ ]/) red = text }' "$output")
  fi
  if [ -n "$service" ]; then
    rm -f "$output"
    error=$(printf '%s' "$error" | paste -sd ';' | sed 's/;/; /g')
    die "the $service image did not build: ${error:-see the lines above} (fix its Dockerfile or what it installs)"
  fi
  if grep -q "Pool overlaps with other one on this address space" "$output"; then
    rm -f "$output"
    die "the back network's addresses (${BACK_NETWORK:-10.210.0}.0/24) are another Docker network's: choose others with BACK_NETWORK=10.210.N"
  fi
  port=$(grep -oE '(listen tcp[46]? |Bind for )[^ ]*:[0-9]+' "$output" | head -n 1 | sed 's/.*://' || true)
  if [ -n "$port" ]; then
    rm -f "$output"
    case "$(port_setting "$port")" in
      LOCUST_PORT) setting="LOCUST_PORT=... (make load-ui LOCUST_PORT=8090)" ;;
      PROMETHEUS_PORT) setting="PROMETHEUS_PORT=... (make monitor PROMETHEUS_PORT=9091)" ;;
      *) setting="LB_PORT=... (make up LB_PORT=8080)" ;;
    esac
    die "port $port is taken on this host: free it, or choose another with $setting"
  fi
  container=$(grep -oE 'container [^ ]+ is unhealthy' "$output" | head -n 1 | cut -d' ' -f2 || true)
  rm -f "$output"
  if [ -n "$container" ]; then
    service=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.service"}}' "$container" 2>/dev/null)
    compose logs --no-color --tail 10 "${service:-$container}" >&2 || true
    die "$what: ${service:-$container} did not become healthy (its last log lines are above)"
  fi
  die "$what failed (Compose's messages are above)"
}

# Change the running stack's web tier to N replicas and wait until the load balancer has reached
# each one: scale_web N. Only web changes: no rebuild, running replicas are kept, leaving ones
# finish their requests.
scale_web() {
  local names=()
  compose_or_explain "scaling web to $1 replicas" up --detach --no-build --no-recreate --scale "web=$1" --wait web
  mapfile -t names < <(compose ps --quiet --status running web | cut -c1-12)
  wait_served_by_all "$(lb_address)" "${names[@]}"
}
