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

# A number matching a pattern, or stop with a reason: check_pattern NAME VALUE REGEX WHAT
check_pattern() {
  [[ $2 =~ $3 ]] || die "$1 must be $4, got '$2'"
}

check_ratio() { check_pattern "$1" "$2" '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$' "a ratio from 0 to 1"; }

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

compose() { COMPOSE_BAKE=false docker compose "$@"; }

# Containers that write reports/ run as the invoking user, so that what they write is theirs.
use_host_user() {
  HOST_USER="$(id -u):$(id -g)"
  export HOST_USER
}

require_running_stack() {
  [ -n "$(compose ps --quiet --status running lb)" ] || die "the stack is not running: start it with 'make up'"
}

# Where the load balancer is published, as host:port (empty if it is not running). A wildcard
# binding (LB_BIND=0.0.0.0, the default) is reached on 127.0.0.1.
lb_address() {
  local address
  address=$(compose port lb 8080 2>/dev/null | tail -n 1) || return 0
  case "$address" in
    0.0.0.0:* | "[::]:"* | :::*) echo "127.0.0.1:${address##*:}" ;;
    *) echo "$address" ;;
  esac
}

# HTTP status of GET path at host:port, using bash alone: http_status HOST:PORT PATH
http_status() {
  local status
  { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
  read -r -t 5 _ status _ <&3 || status=000
  exec 3<&-
  echo "${status:-000}"
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

# The images the stack needs from a registry: those its images are built from (Compose's build
# arguments), and those it runs as they are (monitoring's).
base_images() {
  compose --profile monitoring config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"].values()
built = {v for s in services for v in s.get("build", {}).get("args", {}).values()}
print("\n".join(sorted(built | {s["image"] for s in services if "build" not in s})))'
}

# Run Compose, showing its output; if it fails, stop with one last line naming the cause and the
# fix (see explain_failure): compose_or_explain WHAT ARGS...
compose_or_explain() {
  local what=$1 output
  shift
  output=$(mktemp)
  if compose "$@" 2>&1 | tee "$output"; then rm -f "$output"; return; fi
  explain_failure "$what" "$output"
}

# Build images, showing nothing unless it fails; then its last lines and the cause, as above:
# build_or_explain WHAT ARGS... (Compose's arguments, `build` among them)
build_or_explain() {
  local what=$1 output
  shift
  output=$(mktemp)
  if compose --progress plain "$@" >"$output" 2>&1; then rm -f "$output"; return; fi
  tail -n 15 "$output" >&2
  explain_failure "$what" "$output"
}

# Stop with one last line for a Compose command that failed, whose output is in FILE: a base image
# that cannot be pulled, an image that did not build (with its error's first lines), a port that
# is taken, or a service that did not become healthy (with its last log lines): explain_failure WHAT FILE
explain_failure() {
  local what=$1 output=$2 image service error port container
  for image in $(base_images); do
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
  port=$(grep -oE '(listen tcp[46]? |Bind for )[^ ]*:[0-9]+' "$output" | head -n 1 | sed 's/.*://' || true)
  if [ -n "$port" ]; then
    rm -f "$output"
    case "$port" in
      "${LOCUST_PORT:-8089}") die "port $port is taken on this host: free it, or choose another with LOCUST_PORT=..." ;;
      *) die "port $port is taken on this host: free it, or choose another with LB_PORT=... (make up LB_PORT=8080)" ;;
    esac
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

# Change the running stack's web tier to N replicas and wait until they are healthy: scale_web N
# Only web changes: no rebuild, running replicas are kept, leaving ones finish their requests.
scale_web() {
  compose_or_explain "scaling web to $1 replicas" up --detach --no-build --no-recreate --scale "web=$1" --wait web
}
