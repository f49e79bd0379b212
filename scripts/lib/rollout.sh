# Shipping a change to a running stack under Compose, serving throughout (make up). Compose would
# recreate every changed container of a service at once; here each service is replaced its own
# way, in this order, each step said and timed:
#   the Redis group  one instance at a time (redis.sh's roll_redis_group); one Redis: restarted,
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

# SERVICE<tab>REASON for each service whose containers differ from what docker-compose.yml
# and the images just built say (control/stale.py decides, as Compose would).
stale_services() {
  local work service ids=()
  work=$(mktemp -d)
  compose config --format json >"$work/config.json"
  compose config --hash '*' >"$work/hashes"
  load_topology
  for service in $(compose config --services); do
    docker image inspect --format "$service {{.Id}}" "$PROJECT-$service" 2>/dev/null || true
  done >"$work/images"
  mapfile -t ids < <(compose ps --quiet --all)
  if [ ${#ids[@]} -gt 0 ]; then docker inspect "${ids[@]}" >"$work/containers.json"; else echo '[]' >"$work/containers.json"; fi
  python3 -m control stale "$work/config.json" "$work/hashes" "$work/images" "$work/containers.json"
  rm -rf "$work"
}

# Whether nginx runs another nginx.conf than lb/site/ holds now (the entrypoint notes what it loaded).
lb_config_edited() {
  [ -n "$(running lb)" ] || return 1
  ! compose exec -T lb sh -c 'sha256sum /etc/counter-lb/nginx.conf | cmp -s - /tmp/nginx.conf.sha256'
}

# Ship what changed, then make sure every service runs with SCALE web replicas: ship SCALE
ship() {
  local target=$1 service reason line anew="" changed=() group=() single_change=""
  local -A why=()
  load_topology
  # With no web replica running (a switch of REDIS_MODE stopped web, or a broken release keeps
  # failing), or no sentinel yet in Sentinel mode, the stack starts anew: nothing serves to keep.
  if [ "$REDIS_MODE" = sentinel ] && [ -z "$(running "${SENTINELS[0]}")" ]; then
    anew="switching to REDIS_MODE=sentinel: the stack starts anew in that mode (Redis restarts once)"
  elif [ -z "$(running web)" ]; then
    anew="no web replica is running: the stack starts anew"
  elif [ "$(running_tls)" != "$REDIS_TLS" ]; then
    anew="switching REDIS_TLS to $REDIS_TLS: Redis, the sentinels and web restart together (members over TLS and in clear cannot talk to each other), a few seconds without counting (503s with Retry-After)"
  fi
  if [ -n "$anew" ]; then
    say "$anew"
    compose_or_explain "starting the stack" up --detach --no-build --remove-orphans --scale "web=$target" --wait
    return
  fi
  while IFS=$'\t' read -r service reason; do
    [ -n "$service" ] || continue
    why[$service]=$reason
  done < <(stale_services)
  load_topology
  for service in "${SENTINELS[@]}" "${INSTANCES[@]}"; do
    [ -n "${why[$service]:-}" ] || continue
    group+=("$service")
    changed+=("$service: ${why[$service]}")
  done
  [ -z "${why[web]:-}" ] || changed+=("web: ${why[web]}; replaced new replicas first, $(surge_of "$target") at a time")
  if [ -n "${why[lb]:-}" ]; then
    changed+=("lb: ${why[lb]}; its container replaced (connections refused or cut for a moment)")
  elif lb_config_edited; then
    changed+=("lb: lb/site/nginx.conf changed; nginx reloads it gracefully")
  fi
  for service in "${!why[@]}"; do
    among "$service" web lb "${SENTINELS[@]}" "${INSTANCES[@]}" || changed+=("$service: ${why[$service]}")
  done
  if [ ${#changed[@]} -eq 0 ]; then
    say "nothing changed: no container is replaced"
  else
    say "shipping ${#changed[@]} changes, in this order:"
    for line in "${changed[@]}"; do say "  $line"; done
  fi

  if [ ${#group[@]} -gt 0 ]; then
    if [ "$REDIS_MODE" = single ]; then
      single_change=$SINGLE
      say "$SINGLE is the one Redis: replacing it is an outage of a second or a few, more with more data to load (503s with Retry-After); REDIS_MODE=sentinel avoids it"
      timed "$SINGLE replaced" compose_or_explain "replacing $SINGLE" up --detach --no-build --no-deps --wait "$SINGLE"
    else
      roll_redis_group compose_reach compose_replace "${group[@]}"
    fi
  fi
  if [ -n "${why[web]:-}" ]; then
    remove_failing_web
    timed "web replaced" roll_web "$target"
  elif [ "$(running web | wc -l)" != "$target" ]; then
    timed "web scaled to $target replicas" scale_web "$target" "$(lb_address)"
  fi
  if [ -n "${why[lb]:-}" ]; then
    timed "lb replaced" compose_or_explain "replacing lb" up --detach --no-build --no-deps --wait lb
  elif lb_config_edited; then
    timed "lb reloaded" reload_lb
  fi
  for service in "${!why[@]}"; do
    among "$service" web lb "$single_change" "${group[@]}" && continue
    timed "$service replaced" compose_or_explain "replacing $service" up --detach --no-build --no-deps --wait "$service"
  done
  # Whatever is not running starts; nothing running is recreated.
  compose_or_explain "starting the stack" up --detach --no-build --no-recreate --remove-orphans \
    --scale "web=$target" --wait
}

# A Redis group member replaced under Compose (its new container started): compose_replace NAME
compose_replace() {
  compose_or_explain "replacing $1" up --detach --no-build --no-deps "$1"
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

# New web replicas a round: a quarter of the replicas, rounded up (Kubernetes' default surge):
# the host holds at most that many more replicas at once, and any number of them is replaced in
# at most four rounds, each about one health-check interval long.
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
