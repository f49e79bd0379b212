# Probes and waits over HTTP, in bash alone: a status, which replica answers, and waiting until
# the load balancer answers and has reached every replica.
# shellcheck shell=bash

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

