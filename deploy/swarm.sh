#!/usr/bin/env bash
# The stack on Docker Swarm, as stack STACK (counter), on the swarm the Docker CLI points at:
#   deploy  build the images, tag them by content (push them to REGISTRY), deploy, wait until served
#   scale   change web to SCALE replicas with no downtime, waiting until they all serve
#   remove  remove the stack; its Redis volume (the count) stays unless REMOVE_DATA=yes
# How Swarm differs from Compose is all in control/stackfile.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
# On Swarm, Redis's traffic crosses the network between machines: over TLS unless REDIS_TLS=off
# (in the environment or .env, read by compose.sh).
redis_tls_default=on
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/probes.sh
source scripts/lib/redis.sh

stack=${STACK:-counter}
timeout=${DEPLOY_TIMEOUT:-180}
check_pattern STACK "$stack" '^[a-z0-9][a-z0-9_-]{0,39}$' "a name of lower-case letters, digits, - and _"
check_range DEPLOY_TIMEOUT "$timeout" 10 3600

require_swarm() {
  require_docker
  case "$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')" in
    "active true") ;;
    "active false") die "this Docker engine is a swarm worker: point the Docker CLI at a manager (DOCKER_HOST or docker context)" ;;
    *) die "this Docker engine is not in swarm mode: make or join a swarm first ('docker swarm init'), then deploy" ;;
  esac
}

require_stack() {
  docker service inspect "${stack}_web" >/dev/null 2>&1 || die "no stack '$stack' on this swarm: deploy it with 'make deploy'"
}

# The image a service runs, as this script tags it: by content, so that changed code is a new tag.
content_tag() {
  local id
  id=$(docker image inspect --format '{{.Id}}' "$stack-$1")
  id=${id#sha256:}
  echo "${REGISTRY:+$REGISTRY/}$stack-$1:${id:0:12}"
}

# The tag a service runs, of the images built: the sentinels and every Redis instance run Redis's.
tag_of() {
  case "$1" in web | lb) echo "${tags[$1]:-}" ;; *) echo "${tags[redis]:-}" ;; esac
}

# Wait until each service of the stack (or each named) runs all its tasks (replicas, or one per
# eligible node) of its current definition, or say why not: wait_converged [SERVICE...]
wait_converged() {
  local deadline=$((SECONDS + timeout)) name service image state want running deployed
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || mapfile -t names < <(docker stack services --format '{{.Name}}' "$stack" | sed "s/^${stack}_//")
  for service in "${names[@]}"; do
    name=${stack}_$service
    deployed=$(tag_of "$service")
    while :; do
      read -r image state < <(docker service inspect "$name" --format \
        '{{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
      image=${image%@*}
      if [ -n "$deployed" ] && [ "$image" != "$deployed" ]; then
        die "the update of $service failed, so Swarm rolls it back and $image serves on ($(docker service inspect \
          "$name" --format '{{.UpdateStatus.Message}}'))"
      fi
      want=$(docker service ls --filter "name=$name" --format '{{.Name}} {{.Replicas}}' | awk -v n="$name" '$1 == n { split($2, r, "/"); print r[2] }')
      running=$(current_tasks "$name")
      if [ "$running" = "$want" ] && [[ $state != updating && $state != rollback_started ]]; then break; fi
      if (( SECONDS >= deadline )); then
        docker service ps "$name" --no-trunc --format '{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' | head -n 8 >&2
        die "$service has $running of $want tasks running after $timeout s (its tasks are above)"
      fi
      sleep 1
    done
  done
}

# How many of a service's tasks run its current definition (what the container runs, with which
# settings, secrets, configs and mounts; Swarm fills in defaults on the service's copy only, so
# the whole of it would never match): current_tasks NAME
current_tasks() {
  local task spec count=0
  local fields='{{.Image}} {{json .Env}} {{json .Args}} {{json .Secrets}} {{json .Configs}} {{json .Mounts}}'
  spec=$(docker service inspect "$1" --format "{{with .Spec.TaskTemplate.ContainerSpec}}$fields{{end}}")
  for task in $(docker service ps "$1" --filter desired-state=running --quiet); do
    [ "$(docker inspect "$task" --format '{{.Status.State}}')" = running ] || continue
    [ "$(docker inspect "$task" --format "{{with .Spec.ContainerSpec}}$fields{{end}}")" = "$spec" ] || continue
    count=$((count + 1))
  done
  echo "$count"
}

# The web replicas running now, by the names they answer with (their containers' short ids).
running_replicas() {
  local task name
  for task in $(docker service ps "${stack}_web" --filter desired-state=running --quiet); do
    name=$(docker inspect --format '{{.Status.ContainerStatus.ContainerID}}' "$task")
    echo "${name:0:12}"
  done
}

# Every instance and sentinel of the Redis group (and its volume) lives on the node labelled for
# it, counter.<service>=true. A label no node has goes to a node chosen here: an instance to a
# node that holds no other instance (this one first, then by name), a sentinel to the node of the
# instance of its rank (sentinel-2 with redis-2), else to one with no sentinel; with fewer nodes
# than instances some share one (said, since losing it loses both).
place() {
  local name node k=0 nodes=() homes=()
  mapfile -t nodes < <(docker info --format '{{.Swarm.NodeID}}'
    docker node ls --format '{{.Hostname}} {{.ID}}' | sort | cut -d' ' -f2)
  mapfile -t nodes < <(printf '%s\n' "${nodes[@]}" | awk '!seen[$0]++')
  for name in $(instances); do
    homes+=("$(place_one "$name" "$(first_without "$(instances)" "${nodes[@]}")")")
  done
  for name in $(sentinels); do
    place_one "$name" "${homes[k]:-$(first_without "$(sentinels)" "${nodes[@]}")}" >/dev/null
    k=$((k + 1))
  done
  if [ "$(printf '%s\n' "${homes[@]}" | sort -u | wc -l)" -lt "${#homes[@]}" ]; then
    say "some Redis instances share a node: losing it loses them together"
  fi
}

# The node labelled for NAME, labelling NODE for it first if none is: place_one NAME NODE
place_one() {
  local node
  node=$(labelled "counter.$1")
  if [ -z "$node" ]; then
    node=$2
    docker node update --label-add "counter.$1=true" "$node" >/dev/null
    say "Redis's $1 runs on node $(docker node inspect --format '{{.Description.Hostname}}' "$node") (label counter.$1=true)"  >&2
  fi
  echo "$node"
}

# The first of NODES labelled for none of NAMES (a list, one a line), else the first of NODES:
# first_without NAMES NODE...
first_without() {
  local services=$1 node name taken
  shift
  for node; do
    taken=no
    for name in $services; do
      [ "$(docker node inspect --format "{{index .Spec.Labels \"counter.$name\"}}" "$node")" != true ] || taken=yes
    done
    [ "$taken" = yes ] || { echo "$node"; return; }
  done
  echo "$1"
}

# The node with the label set to true, if any: labelled LABEL
labelled() {
  local node
  for node in $(docker node ls --quiet); do
    [ "$(docker node inspect --format "{{index .Spec.Labels \"$1\"}}" "$node")" != true ] || { echo "$node"; return; }
  done
}

deploy() {
  local scale registry=${REGISTRY:-} service resolve=never nodes address
  web_replicas "$DEFAULT_SCALE"
  check_plan
  [ -z "$registry" ] || check_pattern REGISTRY "$registry" '^[A-Za-z0-9.-]+:[0-9]+$' "a registry's host:port, such as 127.0.0.1:5000"
  require_swarm
  require_python3 "make deploy (it makes the stack file)"
  if [ -z "${SCALE+set}" ]; then  # a redeploy keeps the replicas it has; a first deploy the default
    scale=$(docker service inspect "${stack}_web" --format '{{.Spec.Mode.Replicated.Replicas}}' 2>/dev/null) \
      || scale=$DEFAULT_SCALE
  fi
  nodes=$(docker node ls --quiet | wc -l)
  if [ -z "$registry" ] && (( nodes > 1 )); then
    die "this swarm has $nodes nodes and only this one has the images: set REGISTRY=host:port of a registry every node can pull from"
  fi
  if [ -n "$registry" ] && [ "$(http_status "$registry" /v2/)" = 000 ]; then
    die "the registry at $registry does not answer: start it, or set REGISTRY to one that does"
  fi

  scripts/secrets.sh >/dev/null
  load_topology
  say "building the images"
  COMPOSE_PROJECT_NAME=$stack timed "images built" build_or_explain "building the images" build
  declare -gA tags=()
  images=()
  for service in redis web lb; do
    tags[$service]=$(content_tag "$service")
    docker tag "$stack-$service" "${tags[$service]}"
    if [ -n "$registry" ]; then
      say "pushing ${tags[$service]}"
      quietly "pushing ${tags[$service]}" docker push "${tags[$service]}"
      resolve=always
    fi
    images+=(--image "$service=${tags[$service]}")
  done

  [ "${PLAN:-}" = 1 ] || place   # labels the nodes for the Redis group: a change
  work=$(mktemp -d)
  trap leave EXIT
  compose config --format json >"$work/compose.json"
  omitted=()
  plan
  if [ ${#omitted[@]} -gt 0 ]; then
    say "deploying stack $stack: $scale web replicas; the Redis group's changes next, one at a time"
    stack_deploy
    # shellcheck disable=SC2046  # one argument per service
    timed "the rest deployed" wait_converged $(deployed_services)
    start_reach
    python3 -m control swarm-redis-roll --reach "$reach_container" --stack "$stack" --replicas "$scale" \
      "${images[@]}" --resolve "$resolve" --timeout "$timeout" "${omitted[@]}" <"$work/compose.json" || exit 1
  fi
  say "deploying stack $stack: $scale web replicas"
  omitted=()
  stack_deploy --prune
  timed "stack converged" wait_converged
  address=$(swarm_lb_address)
  wait_ready "$address" 60
  # shellcheck disable=SC2046  # one argument per replica
  wait_served_by_all "$address" $(running_replicas)
  start_reach
  python3 -m control swarm-redis-wait --reach "$reach_container" 120 || exit 1
  say "stack $stack is up: http://$address/  ($scale replicas; Redis: $REDIS_MODE)"
}

# The stack file, but for the services in `omitted`, deployed: stack_deploy [--prune]
stack_deploy() {
  write_stack_file
  quietly "docker stack deploy" docker stack deploy "$@" --resolve-image "$resolve" --with-registry-auth \
    --compose-file "$work/stack.json" "$stack"
}

# The stack file, without the services in `omitted`, in the work folder.
write_stack_file() {
  local omit=() service
  for service in "${omitted[@]}"; do omit+=(--omit "$service"); done
  python3 -m control stackfile --stack "$stack" --replicas "$scale" "${images[@]}" "${omit[@]}" \
    <"$work/compose.json" >"$work/stack.json" || die "could not make the stack file"
}

# The services of the stack file last deployed.
deployed_services() { python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["services"]))' <"$work/stack.json"; }

# What this deploy replaces, and why (control/plan.py's swarm_plan): every service whose
# definition (stackfile.py's counter.spec label) differs from the running one's. The Redis group's
# changed members go into `omitted`, to be rolled one at a time after the rest. PLAN=1 stops here.
plan() {
  local output steps=() step changed=() roll=() service
  write_stack_file
  output=$(python3 -m control swarm-steps "$stack" <"$work/stack.json" 2>&1) || die "$output"
  mapfile -t steps < <(printf '%s' "$output")
  for step in "${steps[@]}"; do
    changed+=("${step##*$'\t'}")
    [[ $step != roll$'\t'* ]] || { step=${step#roll$'\t'}; roll+=("${step%%$'\t'*}"); }
  done
  if [ "${PLAN:-}" = 1 ]; then
    say "the plan for stack $stack, $scale web replicas (PLAN=1: nothing is changed):"
    if ! docker service inspect "${stack}_web" >/dev/null 2>&1; then
      say "  deploying the stack anew"
    elif [ ${#changed[@]} -eq 0 ]; then
      say "  nothing changed: no service is replaced"
    fi
    for step in "${changed[@]}"; do say "  $step"; done
    exit 0
  fi
  if [ ${#changed[@]} -eq 0 ]; then
    docker service inspect "${stack}_web" >/dev/null 2>&1 && say "nothing changed: no service is replaced"
    return 0
  fi
  say "shipping ${#changed[@]} changes:"
  for step in "${changed[@]}"; do say "  $step"; done
  # The group's members in the order control/redis.py's roll replaces them.
  mapfile -t omitted < <(for service in "${SENTINELS[@]}" "${INSTANCES[@]}"; do among "$service" "${roll[@]}" && echo "$service"; done)
}

# How make deploy reaches the Redis group (control/swarm.py's reach): a container of the Redis image
# on the stack's back network, with the admin's password and TLS certificate, made once and
# removed on exit.
start_reach() {
  [ -z "${reach_container:-}" ] || return 0
  reach_container=$(docker run --detach --rm --network "${stack}_back" --env "REDIS_TLS=$REDIS_TLS" \
    --env "REDISCLI_AUTH=$(cat secrets/redis_admin_password)" --entrypoint sleep "${tags[redis]}" infinity) \
    || die "could not start a container on the stack's back network to reach Redis"
  mkdir -p "$work/reach/secrets"
  cp secrets/redis_tls_ca.crt "$work/reach/secrets/redis_tls_ca"
  cp secrets/redis_tls_admin.pem "$work/reach/secrets/redis_tls"
  docker cp "$work/reach/secrets" "$reach_container:/run/" >/dev/null \
    || die "could not give the container that reaches Redis its certificate"
}

leave() {
  rm -rf "$work"
  [ -z "${reach_container:-}" ] || docker rm --force "$reach_container" >/dev/null 2>&1 || true
}

# Where to reach a load balancer, HOST:PORT: this host when one runs on this engine's node, else
# the first node that runs one, at the port the stack publishes.
swarm_lb_address() {
  local node host port
  port=$(docker service inspect "${stack}_lb" --format '{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}{{end}}')
  node=$(docker service ps "${stack}_lb" --filter desired-state=running --format '{{.Node}}' | head -n 1)
  if [ -z "${DOCKER_HOST:-}" ] && [ "$node" = "$(docker info --format '{{.Name}}')" ]; then
    host=127.0.0.1
  else
    host=$(docker node inspect --format '{{.Status.Addr}}' "$node")
  fi
  echo "$host:$port"
}

scale() {
  local scale
  web_replicas "" "make deploy-scale"
  require_swarm
  require_stack
  say "scaling ${stack}_web to $scale replicas"
  quietly "scaling ${stack}_web" docker service scale --detach "${stack}_web=$scale"
  declare -gA tags=()
  wait_converged web
  # shellcheck disable=SC2046  # one argument per replica
  wait_served_by_all "$(swarm_lb_address)" $(running_replicas)
  say "web now has $scale running replicas, each one serving"
}

remove() {
  require_swarm
  require_stack
  quietly "docker stack rm" docker stack rm "$stack"
  # Services go first; their containers, networks and the volume a little later.
  local deadline=$((SECONDS + 60))
  until [ -z "$(docker ps --all --quiet --filter "label=com.docker.stack.namespace=$stack")" ] \
    && [ -z "$(docker network ls --quiet --filter "label=com.docker.stack.namespace=$stack")" ]; do
    (( SECONDS < deadline )) || die "the stack's containers or networks are still there after 60 s"
    sleep 1
  done
  local volume
  load_topology
  volume=$(COMPOSE_PROJECT_NAME=$stack topology volumes "$SINGLE")
  if [ "${REMOVE_DATA:-no}" = yes ]; then
    docker volume rm "$volume" >/dev/null
    say "stack $stack removed, and its Redis volume (the count)"
  else
    say "stack $stack removed; the count stays in volume $volume (REMOVE_DATA=yes removes it)"
  fi
}

case "${1-}" in
  deploy | scale | remove) "$1" ;;
  *) die "usage: deploy/swarm.sh deploy|scale|remove" ;;
esac
