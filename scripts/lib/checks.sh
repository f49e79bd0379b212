# Checks and messages, shared by the scripts: one-line failures, argument checks, prerequisites.
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

require_docker() {
  command -v docker >/dev/null 2>&1 || die "Docker is not installed: see README.md, Prerequisites"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer: start it (dockerd or Docker Desktop)"
  docker compose version >/dev/null 2>&1 || die "Compose v2 is missing: 'docker compose' does not work (install the compose plugin)"
}

# python3 on this host, for the steps that need it (README, Prerequisites): require_python3 WHAT
require_python3() {
  command -v python3 >/dev/null 2>&1 || die "python3 is missing on this host: $1 needs it (see README.md, Prerequisites)"
}

# A new folder for a run's files, named by its start time: new_report_dir [PREFIX] [SUFFIX]
new_report_dir() {
  local dir
  mkdir -p reports
  dir=$(mktemp -d "reports/${1:-}$(date -u +%Y%m%dT%H%M%SZ)${2:-}-XXXX")
  chmod 755 "$dir"
  echo "$dir"
}

# Containers that write reports/ run as the invoking user, so that what they write is theirs.
use_host_user() {
  HOST_USER="$(id -u):$(id -g)"
  export HOST_USER
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
