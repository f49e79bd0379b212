# Shipping a change to a running stack under Compose, serving throughout (make up). Compose would
# recreate every changed container of a service at once; here each service is replaced its own
# way, in this order, each step said and timed:
#   the Redis group  one instance at a time (control/redis.py's roll); one Redis: restarted,
#                    an outage said first
#   web              new replicas first: a quarter of them at a time (at least one) start, become
#                    healthy and ready, and are reached through nginx; then as many old ones stop
#                    (each finishing its requests) and go. A new replica that never gets there is
#                    removed and the old ones serve on, untouched.
#   lb               an edit of lb/site/nginx.conf: nginx's graceful reload; a new image or new
#                    settings: the container replaced (connections refused or cut for a moment)
# shellcheck shell=bash

# How long a new web replica may take to become healthy, then ready (/readyz: Redis answers it).
WEB_HEALTHY_WAIT=90 WEB_READY_WAIT=30

# Ship what changed, then make sure every service runs with SCALE web replicas, in the steps
# control/plan.py plans, each with the line that says it; with PLAN=1, only say them: ship SCALE
ship() {
  local target=$1 output steps=() step action service reason changes=() group=()
  output=$(python3 -m control steps "$target" 2>&1) || die "$output"
  mapfile -t steps <<<"$output"
  if [ "${PLAN:-}" = 1 ]; then
    say "the plan for SCALE=$target (PLAN=1: nothing is changed):"
    for step in "${steps[@]}"; do say "  ${step##*$'\t'}"; done
    return
  fi
  if [[ ${steps[0]} == start$'\t'* ]]; then
    say "${steps[0]##*$'\t'}"
    compose_or_explain "starting the stack" up --detach --no-build --remove-orphans --scale "web=$target" --wait
    return
  fi
  for step in "${steps[@]}"; do
    [ -z "$step" ] || [[ $step == scale$'\t'* ]] || changes+=("${step##*$'\t'}")
  done
  if [ ${#changes[@]} -eq 0 ]; then
    say "nothing changed: no container is replaced"
  else
    say "shipping ${#changes[@]} changes, in this order:"
    for reason in "${changes[@]}"; do say "  $reason"; done
  fi
  load_topology
  for step in "${steps[@]}"; do
    [ -n "$step" ] || continue
    IFS=$'\t' read -r action service reason <<<"$step"
    if [ "$action" = redis ]; then group+=("$service"); continue; fi
    ship_group "${group[@]}"
    group=()
    ship_step "$action" "$service" "$target"
  done
  ship_group "${group[@]}"
  # Whatever is not running starts; nothing running is recreated.
  compose_or_explain "starting the stack" up --detach --no-build --no-recreate --remove-orphans \
    --scale "web=$target" --wait
}

# The Redis group's changed members: the one Redis replaced (an outage, said first), or under
# Sentinel the group rolled one member at a time: ship_group NAME...
ship_group() {
  [ $# -gt 0 ] || return 0
  if [ "$REDIS_MODE" = single ]; then
    say "$1 is the one Redis: replacing it is an outage of a second or a few, more with more data to load (503s with Retry-After); REDIS_MODE=sentinel avoids it"
    timed "$1 replaced" compose_or_explain "replacing $1" up --detach --no-build --no-deps --wait "$1"
  else
    python3 -m control redis-roll "$@" || exit 1
  fi
}

# One step of the plan: ship_step ACTION SERVICE SCALE
ship_step() {
  case "$1" in
    web) remove_failing_web; timed "web replaced" roll_web "$3" ;;
    scale) timed "web scaled to $3 replicas" scale_web "$3" "$(lb_address)" ;;
    lb) timed "lb replaced" compose_or_explain "replacing lb" up --detach --no-build --no-deps --wait lb ;;
    reload) timed "lb reloaded" reload_lb ;;
    replace) timed "$2 replaced" compose_or_explain "replacing $2" up --detach --no-build --no-deps --wait "$2" ;;
    *) die "no such step in the plan: $1" ;;
  esac
}

# Web replicas that keep failing (a broken release shipped by hand) serve nothing, and would hold
# up the wait for the new replicas' health: they go first.
remove_failing_web() {
  local ids=() failing=()
  mapfile -t ids < <(compose ps --quiet --all web)
  [ ${#ids[@]} -gt 0 ] || return 0
  mapfile -t failing < <(docker inspect "${ids[@]}" | python3 -m control stale --failing /dev/stdin)
  [ -n "${failing[0]:-}" ] || return 0
  say "web: $(short_ids "${failing[@]}")keep failing and serve nothing: removed first"
  docker rm --force "${failing[@]}" >/dev/null
}

reload_lb() {
  compose exec -T lb counter-lb reload \
    || die "nginx refused lb/site/nginx.conf (the reason is above): the running configuration serves on"
}

# New web replicas a round: a quarter of the replicas, rounded up (Kubernetes' default surge,
# control/plan.py's surge_of): the host holds at most that many more replicas at once, and any
# number of them is replaced in at most four rounds, each about one health-check interval long.
surge_of() { echo $((($1 + 3) / 4)); }

# Replace every web replica with one of the new image and settings, new ones first: roll_web SCALE
roll_web() {
  local target=$1 surge added retire old=() new=() started=()
  surge=$(surge_of "$target")
  mapfile -t old < <(compose ps --quiet --all web)
  while [ ${#old[@]} -gt 0 ] || [ ${#new[@]} -lt "$target" ]; do
    added=$((target - ${#new[@]}))
    (( added <= surge )) || added=$surge
    if (( added > 0 )); then
      start_replicas $((${#old[@]} + ${#new[@]} + added)) "${old[@]}" "${new[@]}"
      new+=("${started[@]}")
    fi
    retire=$((${#new[@]} + ${#old[@]} - target))
    (( retire >= added )) || retire=$added
    (( retire <= ${#old[@]} )) || retire=${#old[@]}
    if (( retire > 0 )); then
      say "web: $(short_ids "${started[@]}")serving; $(short_ids "${old[@]:0:retire}")leaving"
      docker stop "${old[@]:0:retire}" >/dev/null
      docker rm "${old[@]:0:retire}" >/dev/null
      old=("${old[@]:retire}")
    fi
  done
}

short_ids() { local id; for id; do printf '%s ' "${id:0:12}"; done; }

# Start web replicas up to COUNT, keeping the running ones (KEEP...), and wait until each new one
# is healthy, ready and reached through nginx; sets `started`. A new replica that does not get
# there is removed, with the old ones untouched: start_replicas COUNT KEEP...
start_replicas() {
  local count=$1 id output status
  shift
  output=$(mktemp)
  started=()
  if ! compose up --detach --no-build --no-deps --no-recreate --scale "web=$count" --wait \
    --wait-timeout "$WEB_HEALTHY_WAIT" web >"$output" 2>&1; then
    mapfile -t started < <(new_replicas "$@")
    refuse_replicas "did not become healthy" "$output"
  fi
  rm -f "$output"
  mapfile -t started < <(new_replicas "$@")
  for id in "${started[@]}"; do
    status=$(wait_replica_ready "$id")
    [ "$status" = 200 ] || refuse_replicas "is not ready: /readyz answered $status for $WEB_READY_WAIT s (can it reach Redis?)"
  done
  # shellcheck disable=SC2046  # one argument per replica
  wait_served_by_all "$(lb_address)" $(short_ids "${started[@]}")
}

# The web containers that are not among KEEP...
new_replicas() {
  compose ps --quiet --all web | while read -r id; do among "$id" "$@" || echo "$id"; done
}

# /readyz's status inside a replica, once it is 200 or WEB_READY_WAIT has passed
wait_replica_ready() {
  local deadline=$((SECONDS + WEB_READY_WAIT)) status
  while :; do
    # shellcheck disable=SC2016  # run by the replica's bash
    status=$(docker exec "$1" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8000 && printf "GET /readyz HTTP/1.0\r\n\r\n" >&3 && read -r -t 2 _ status _ <&3 && echo "$status"' 2>/dev/null || echo 000)
    if [ "$status" = 200 ] || (( SECONDS >= deadline )); then echo "$status"; return; fi
    sleep 0.5
  done
}

# Remove the new replicas (`started`), keep the first one's log, and stop with one line:
# refuse_replicas WHAT [COMPOSE-OUTPUT-FILE]
refuse_replicas() {
  local first=${started[0]:-} log last
  [ -z "${2:-}" ] || { tail -n 5 "$2" >&2; rm -f "$2"; }
  [ -n "$first" ] || die "web's new replicas did not start; the old replicas serve on, unchanged"
  log=$(new_report_dir web-refused-)/web-${first:0:12}.log
  docker logs "$first" >"$log" 2>&1 || true
  tail -n 5 "$log" >&2
  last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-160)
  docker rm --force "${started[@]}" >/dev/null
  die "web's new replica ${first:0:12} $1${last:+ (its log ends: $last)}; the change is not shipped and the old replicas serve on, unchanged (its whole log: $log)"
}
