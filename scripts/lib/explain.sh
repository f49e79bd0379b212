# A failed start explained: Compose run so that, if it fails, the last line names the cause and
# the fix (a base image that cannot be pulled, an image that did not build, a port that is taken,
# the back network's addresses taken, a service never healthy).
# shellcheck shell=bash

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
