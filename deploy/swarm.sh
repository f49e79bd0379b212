#!/usr/bin/env bash
# The stack on Docker Swarm, as stack STACK (counter), on the swarm the Docker CLI points at:
#   deploy  build the images, tag them by content (push them to REGISTRY), deploy, wait until served
#   scale   change web to SCALE replicas with no downtime, waiting until they all serve
#   remove  remove the stack; its Redis volume (the count) stays unless REMOVE_DATA=yes
# How Swarm differs from Compose is all in deploy/stackfile.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

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

# Wait until every service runs its replicas of the deployed image, or say why not.
wait_converged() {
  local deadline=$((SECONDS + timeout)) service want image running state
  for service in redis web lb; do
    while :; do
      read -r want image state < <(docker service inspect "${stack}_$service" --format \
        '{{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
      image=${image%@*}
      if [ -n "${tags[$service]:-}" ] && [ "$image" != "${tags[$service]}" ]; then
        die "the update of $service failed, so Swarm rolls it back and $image serves on ($(docker service inspect \
          "${stack}_$service" --format '{{.UpdateStatus.Message}}'))"
      fi
      running=$(docker service ps "${stack}_$service" --filter desired-state=running --format '{{.CurrentState}}|{{.Image}}' \
        | grep -c "^Running .*|${image}\$" || true)
      if [ "$running" = "$want" ] && [[ $state != updating && $state != rollback_started ]]; then break; fi
      if (( SECONDS >= deadline )); then
        docker service ps "${stack}_$service" --no-trunc --format '{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' | head -n 8 >&2
        die "$service has $running of $want replicas running after $timeout s (its tasks are above)"
      fi
      sleep 1
    done
  done
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

# Wait until the load balancer at HOST:PORT has reached every running web replica: nginx finds
# them by DNS, a second or two after Swarm reports them running.
wait_served_by_all() {
  local deadline=$((SECONDS + 30)) task name missing
  local -A expected=()
  for task in $(docker service ps "${stack}_web" --filter desired-state=running --quiet); do
    name=$(docker inspect --format '{{.Status.ContainerStatus.ContainerID}}' "$task")
    expected[${name:0:12}]=1
  done
  while :; do
    name=$(served_by "$1")
    [ -z "$name" ] || unset "expected[$name]"
    missing=${#expected[@]}
    (( missing > 0 )) || return 0
    (( SECONDS < deadline )) || die "the load balancer at $1 did not reach $missing of the web replicas within 30 s"
    sleep 0.1
  done
}

# Redis (with its volume) and the load balancer (with its port) each live on one node: the one
# labelled counter.redis=true (counter.lb=true), else this one: place LABEL WHAT
place() {
  local node
  for node in $(docker node ls --quiet); do
    [ "$(docker node inspect --format "{{index .Spec.Labels \"$1\"}}" "$node")" = true ] && return
  done
  docker node update --label-add "$1=true" "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
  say "$2 will run on this node (label $1=true)"
}

deploy() {
  local scale=${SCALE-} registry=${REGISTRY:-} service work resolve=never nodes
  [ -z "${SCALE+set}" ] || check_range SCALE "$scale" 1 "${MAX_SCALE:-64}"
  [ -z "$registry" ] || check_pattern REGISTRY "$registry" '^[A-Za-z0-9.-]+:[0-9]+$' "a registry's host:port, such as 127.0.0.1:5000"
  require_swarm
  if [ -z "${SCALE+set}" ]; then  # a redeploy keeps the replicas it has; a first deploy has 3
    scale=$(docker service inspect "${stack}_web" --format '{{.Spec.Mode.Replicated.Replicas}}' 2>/dev/null) || scale=3
  fi
  nodes=$(docker node ls --quiet | wc -l)
  if [ -z "$registry" ] && (( nodes > 1 )); then
    die "this swarm has $nodes nodes and only this one has the images: set REGISTRY=host:port of a registry every node can pull from"
  fi
  if [ -n "$registry" ] && [ "$(http_status "$registry" /v2/)" = 000 ]; then
    die "the registry at $registry does not answer: start it, or set REGISTRY to one that does"
  fi

  scripts/secrets.sh >/dev/null
  say "building the images"
  COMPOSE_PROJECT_NAME=$stack build_or_explain "building the images" build
  declare -gA tags=()
  local args=()
  for service in redis web lb; do
    tags[$service]=$(content_tag "$service")
    docker tag "$stack-$service" "${tags[$service]}"
    if [ -n "$registry" ]; then
      say "pushing ${tags[$service]}"
      quietly "pushing ${tags[$service]}" docker push "${tags[$service]}"
      resolve=always
    fi
    args+=(--image "$service=${tags[$service]}")
  done

  place counter.redis "Redis and its volume"
  place counter.lb "the load balancer and its port"
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # the folder is known now
  trap "rm -rf '$work'" EXIT
  compose config --format json >"$work/compose.json"
  python3 deploy/stackfile.py --stack "$stack" --replicas "$scale" "${args[@]}" <"$work/compose.json" >"$work/stack.json" \
    || die "could not make the stack file"
  say "deploying stack $stack: $scale web replicas"
  quietly "docker stack deploy" docker stack deploy --prune --resolve-image "$resolve" --with-registry-auth \
    --compose-file "$work/stack.json" "$stack"
  wait_converged
  local address
  address="$(lb_host):$(published_port "$work/stack.json")"
  wait_ready "$address" 60
  wait_served_by_all "$address"
  say "stack $stack is up: http://$address/  ($scale replicas)"
}

# The load balancer's port, as the stack file publishes it on its node.
published_port() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["services"]["lb"]["ports"][0]["published"])' "$1"
}

# Where to reach the load balancer: this host when it runs on this engine's node, else its node.
lb_host() {
  local node
  node=$(docker service ps "${stack}_lb" --filter desired-state=running --format '{{.Node}}' | head -n 1)
  if [ -z "${DOCKER_HOST:-}" ] && [ "$node" = "$(docker info --format '{{.Name}}')" ]; then
    echo 127.0.0.1
  else
    docker node inspect --format '{{.Status.Addr}}' "$node"
  fi
}

scale() {
  [ -n "${SCALE+set}" ] || die "say how many web replicas: make deploy-scale SCALE=N (1 to ${MAX_SCALE:-64})"
  check_range SCALE "$SCALE" 1 "${MAX_SCALE:-64}"
  require_swarm
  require_stack
  say "scaling ${stack}_web to $SCALE replicas"
  quietly "scaling ${stack}_web" docker service scale --detach "${stack}_web=$SCALE"
  declare -gA tags=()
  wait_converged
  wait_served_by_all "$(lb_host):$(docker service inspect "${stack}_lb" --format '{{(index .Endpoint.Ports 0).PublishedPort}}')"
  say "web now has $SCALE running replicas, each one serving"
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
  if [ "${REMOVE_DATA:-no}" = yes ]; then
    docker volume rm "${stack}_redis-data" >/dev/null
    say "stack $stack removed, and its Redis volume (the count)"
  else
    say "stack $stack removed; the count stays in volume ${stack}_redis-data (REMOVE_DATA=yes removes it)"
  fi
}

case "${1-}" in
  deploy | scale | remove) "$1" ;;
  *) die "usage: deploy/swarm.sh deploy|scale|remove" ;;
esac
