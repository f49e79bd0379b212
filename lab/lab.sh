#!/usr/bin/env bash
# The swarm lab: a registry and three Docker engines, each in a container on this host, joined
# into one swarm of three managers (so it keeps its control with any one of them lost), so that
# `make deploy` runs as on a real cluster.
#   up     make it (about a minute), and print the two settings that point make at it
#   down   remove it all: engines, their disks, the registry, the network
#   env    print those settings again: eval "$(lab/lab.sh env)" (NODE=node-2 for another node)
# Each node runs a load balancer, and web replicas run on node-2 and node-3 (node-1 is labelled
# counter.web=false). `make deploy`, run against node-1, places the Redis group: the one Redis on
# node-1, and under Sentinel one instance and one sentinel on each node (control/deploy.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh

lab=${LAB_NAME:-counter-lab}
check_pattern LAB_NAME "$lab" '^[a-z0-9][a-z0-9-]{0,30}$' "a name of lower-case letters, digits and -"
nodes=(node-1 node-2 node-3)

host() { DOCKER_HOST="" docker "$@"; }   # this host's engine, whatever DOCKER_HOST says
node() { local name=$1; shift; docker -H "tcp://$(address "$lab-$name"):2375" "$@"; }
address() { host inspect --format "{{(index .NetworkSettings.Networks \"$lab\").IPAddress}}" "$1"; }

# An image from a registry if one answers, else a stand-in built here from Debian's packages.
debian_base() {
  local image
  for image in debian:sid counter-standin/debian:sid; do
    if host image inspect "$image" >/dev/null 2>&1 || host pull --quiet "$image" >/dev/null 2>&1; then
      echo "$image"
      return
    fi
  done
  die "no Debian sid image to build the lab from: run 'make offline-images' first (or allow pulls)"
}

build_images() {
  local base
  base=$(debian_base)
  say "building the lab's engine image from $base"
  quietly "building $lab/node" host build --quiet --build-arg "BASE=$base" -f lab/node.Dockerfile -t "$lab/node" lab
  if host image inspect registry:2 >/dev/null 2>&1 || host pull --quiet registry:2 >/dev/null 2>&1; then
    registry_image=registry:2
  else
    say "no registry:2 to pull: building a stand-in from Debian's docker-registry"
    quietly "building $lab/registry" host build --quiet --build-arg "BASE=$base" -f lab/registry.Dockerfile \
      -t "$lab/registry" lab
    registry_image=$lab/registry
  fi
}

start_node() {
  local name=$1 subnet=$2
  # Each engine keeps its disk in a volume (overlay2 works there; it would not on the container's
  # own root) and its run state on a tmpfs (so a killed engine starts again), its containers'
  # cgroups under /<lab>-<node>, and trusts the lab's registry.
  host run --detach --name "$lab-$name" --hostname "$name" --network "$lab" \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
    --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --cgroupns host --volume /sys/fs/cgroup:/sys/fs/cgroup:rw --volume "$lab-$name:/var/lib/docker" \
    --tmpfs /run \
    --label "$lab=node" "$lab/node" \
    --cgroup-parent "/$lab-$name" --host unix:///var/run/docker.sock --host tcp://0.0.0.0:2375 \
    --tls=false --insecure-registry "$subnet" >/dev/null
}

wait_engine() {
  local deadline=$((SECONDS + 90))
  until node "$1" info >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { host logs --tail 15 "$lab-$1" >&2; die "the engine of $1 did not start within 90 s"; }
    sleep 1
  done
}

# The base images the stack is built from (Compose's build arguments), copied to node-1, which
# builds the stack's images as a real cluster's manager (or CI) would.
seed_base_images() {
  local image
  for image in $(base_images); do
    host image inspect "$image" >/dev/null 2>&1 || host pull --quiet "$image" >/dev/null 2>&1 \
      || die "no $image here to give node-1: run 'make offline-images' (or allow pulls)"
    say "giving node-1 $image"
    host save "$image" | node node-1 load --quiet >/dev/null
  done
}

up() {
  require_docker
  [ -z "$(host ps --all --quiet --filter "label=$lab")" ] || die "the lab $lab exists: 'make swarm-lab-down' first"
  build_images
  # Its own subnet, so that a node cut off (docker network disconnect) can come back at its address.
  host network create --subnet "$(DOCKER_HOST="" free_network 10.211).0/24" "$lab" >/dev/null
  local subnet manager name token
  subnet=$(host network inspect --format '{{(index .IPAM.Config 0).Subnet}}' "$lab")
  host run --detach --name "$lab-registry" --network "$lab" --label "$lab=registry" "$registry_image" >/dev/null
  for name in "${nodes[@]}"; do start_node "$name" "$subnet"; done
  for name in "${nodes[@]}"; do wait_engine "$name"; done
  manager=$(address "$lab-node-1")
  say "making the swarm: three managers, node-1 at $manager"
  node node-1 swarm init --advertise-addr "$manager" >/dev/null
  token=$(node node-1 swarm join-token --quiet manager)
  for name in node-2 node-3; do
    node "$name" swarm join --token "$token" --advertise-addr "$(address "$lab-$name")" "$manager:2377" >/dev/null
  done
  node node-1 node update --label-add counter.web=false node-1 >/dev/null
  seed_base_images
  say "lab $lab is up: 3 engines, a registry. Point make at it:"
  settings
}

# The settings that point make at the lab: node-1's engine, or NODE's (any node is a manager).
settings() {
  local registry name=${NODE:-node-1}
  [[ " ${nodes[*]} " == *" $name "* ]] || die "NODE must be one of ${nodes[*]}, got '$name'"
  registry=$(address "$lab-registry" 2>/dev/null) || die "no lab $lab: make it with 'make swarm-lab'"
  echo "export DOCKER_HOST=tcp://$(address "$lab-$name"):2375 REGISTRY=$registry:5000"
}

down() {
  local containers
  mapfile -t containers < <(host ps --all --quiet --filter "label=$lab")
  [ ${#containers[@]} -eq 0 ] || host rm --force --volumes "${containers[@]}" >/dev/null
  for name in "${nodes[@]}"; do host volume rm "$lab-$name" >/dev/null 2>&1 || true; done
  host network rm "$lab" >/dev/null 2>&1 || true
  say "lab $lab removed"
}

case "${1-}" in
  up | down) "$1" ;;
  env) settings ;;
  *) die "usage: lab/lab.sh up|down|env" ;;
esac
