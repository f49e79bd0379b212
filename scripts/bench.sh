#!/usr/bin/env bash
# `make bench`: its own stack (project counter-bench), each replica limited to WEB_CPUS of a core,
# measured idle, at BENCH_REPLICAS replicas and against four baselines, each point BENCH_REPEAT
# times; then the ceiling of one Redis for the counter's step at BENCH_CEILING clients, in clear and
# over TLS; then Redis under Sentinel at the largest replica count in turns: over TLS (REDIS_TLS=on,
# as on Swarm), in clear, and in clear without the acknowledgement. Every tier's CPU comes from its
# containers' cgroup counters. The report goes to reports/bench-<time>/
# (results.json, results.md, bench.png).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/redis.sh

replicas=${BENCH_REPLICAS-1 2 3 4}
warmup=${BENCH_WARMUP-5} duration=${BENCH_DURATION-15} connections=${BENCH_CONNECTIONS-32}
repeat=${BENCH_REPEAT-3} idle=${BENCH_IDLE-20}
web_cpus=${WEB_CPUS-0.25}
ceiling=${BENCH_CEILING-1 2 4 8 16 32 64}
for n in $replicas; do check_range "a replica count in BENCH_REPLICAS" "$n" 1 16; done
for n in $ceiling; do check_range "a client count in BENCH_CEILING" "$n" 1 1000; done
[ -n "${replicas// /}" ] || die "BENCH_REPLICAS must list replica counts, such as '1 2 3 4'"
[[ " $replicas " == *" 1 "* ]] || die "BENCH_REPLICAS must include 1: every ratio is against one replica, got '$replicas'"
check_range BENCH_WARMUP "$warmup" 0 600
check_range BENCH_DURATION "$duration" 1 600
check_range BENCH_CONNECTIONS "$connections" 1 256
check_range BENCH_REPEAT "$repeat" 1 20
check_range BENCH_IDLE "$idle" 1 600
check_pattern WEB_CPUS "$web_cpus" '^([0-9]+(\.[0-9]+)?|\.[0-9]+)$' "a number of cores such as 0.25"
require_docker
require_python3 "make bench (its healthcheck probes are measured here)"
[ -r /sys/fs/cgroup/cpuacct/docker ] \
  || die "no cgroup v1 CPU counters at /sys/fs/cgroup/cpuacct/docker: make bench measures each container's CPU there"

export COMPOSE_PROJECT_NAME=${BENCH_PROJECT:-counter-bench} WEB_CPUS=$web_cpus REDIS_MODE=single REDIS_TLS=off
export LB_BIND=127.0.0.1 LB_PORT=${BENCH_LB_PORT:-0}
BACK_NETWORK=$(free_network 10.210)
export BACK_NETWORK
use_host_user
bench() { compose --profile bench "$@"; }
# shellcheck disable=SC2329  # called by the trap
remove_stack() { REDIS_MODE=sentinel bench down --volumes --remove-orphans >/dev/null 2>&1 || true; }
trap remove_stack EXIT

report=$(new_report_dir bench-)
printf '{"replicas": "%s", "warmup": %s, "duration": %s, "connections": %s, "web_cpus": "%s", "repeat": %s, "idle": %s, "lb_cpus": "%s", "redis_cpus": "%s", "host_cpus": %s}\n' \
  "$replicas" "$warmup" "$duration" "$connections" "$web_cpus" "$repeat" "$idle" \
  "${LB_CPUS:-1}" "${REDIS_CPUS:-1}" "$(nproc)" >"$report/settings.json"

python3 -m control secrets >/dev/null
say "starting the benchmark stack ($COMPOSE_PROJECT_NAME; each replica limited to $web_cpus of a core)"
build_or_explain "building the benchmark's images" --profile bench build
compose_or_explain "starting the benchmark stack" --profile bench up --detach --wait --scale web=1 lb tutorial \
  lb-static smallest

# --tier=TIER=ID for each container of each SERVICE: tier TIER SERVICE...
tier() {
  local name=$1 service id
  shift
  for service; do
    for id in $(bench ps --quiet "$service"); do echo "--tier=$name=$id"; done
  done
}

# measure NAME KIND REPLICAS REPEAT [measure.py's arguments]: one point, appended to points.jsonl.
measure() {
  local name=$1 kind=$2 n=$3 r=$4
  shift 4
  bench run --rm --no-deps bench python measure.py --name "$name" --kind "$kind" --replicas "$n" \
    --repeat "$r" --connections "$connections" --warmup "$warmup" --duration "$duration" \
    --out "/$report/points.jsonl" "$@"
}
# shellcheck disable=SC2046  # one argument per service
stack() { mapfile -t tiers < <(tier web web; tier lb lb; tier redis $(instances); tier sentinel $(sentinels)); }

say "idle for $idle s (no traffic yet), then each healthcheck's cost"
stack
measure idle idle 1 1 --duration "$idle" "${tiers[@]}"
BENCH_CGROUP=/sys/fs/cgroup python3 bench/probes.py --out "$report/probes.json" "${tiers[@]}"

# shellcheck disable=SC2046  # one argument per service
mapfile -t smallest < <(tier web smallest; tier redis $(instances))
say "point by point, $repeat times each: warm-up ${warmup} s, then ${duration} s measured (twice for the stack: at full and 80% rate)"
for n in $replicas; do
  compose_or_explain "scaling web to $n replicas" up --detach --no-build --no-deps --no-recreate \
    --scale "web=$n" --wait web
  stack
  for r in $(seq "$repeat"); do
    measure "stack $n" stack "$n" "$r" --url http://lb:8080/ --count-url http://lb:8080/count --paced 0.8 "${tiers[@]}"
    # The points that are compared run interleaved, so the host's drift touches them alike.
    if [ "$n" = 1 ]; then
      measure direct direct 1 "$r" --url http://web:8000/ --count-url http://web:8000/count "${tiers[@]}"
      measure smallest smallest 1 "$r" --url http://smallest:8000/ "${smallest[@]}"
    fi
  done
done
mapfile -t tiers < <(tier lb lb-static)
for r in $(seq "$repeat"); do measure "lb static" lb 0 "$r" --url http://lb-static:8080/ "${tiers[@]}"; done
# shellcheck disable=SC2046  # one argument per service
mapfile -t tiers < <(tier web tutorial; tier redis $(instances))
for r in $(seq "$repeat"); do measure tutorial tutorial 1 "$r" --url http://tutorial:8000/ "${tiers[@]}"; done

say "the ceiling of one Redis for the counter's step: redis-benchmark at $ceiling clients, in clear, then over TLS"
load_topology
# shellcheck disable=SC2329  # called below
redis_ceiling() {
  local sha
  # The step exactly as the app runs it: store.py's script, loaded by its text.
  sha=$(bench exec -T web python -c 'import sys; from counter.store import INCREMENT_ONCE; sys.stdout.write(INCREMENT_ONCE)' \
    | as_admin compose_reach "$SINGLE" -x SCRIPT LOAD | tr -d '\r')
  mapfile -t tiers < <(tier redis "$SINGLE")
  # shellcheck disable=SC2086  # one argument per client count
  bench run --rm --no-deps bench python ceiling.py --sha "$sha" --concurrency $ceiling \
    --out "/$report/ceiling.jsonl" "${tiers[@]}"
}
redis_ceiling
REDIS_TLS=on compose_or_explain "restarting Redis over TLS" --profile bench up --detach --wait --no-deps "$SINGLE"
REDIS_TLS=on redis_ceiling

top=$(tr ' ' '\n' <<<"$replicas" | sort -n | tail -n 1)
say "Redis under Sentinel, $top web replicas, in turn $repeat times: over TLS, in clear, in clear without the acknowledgement"
export REDIS_MODE=sentinel
# sentinel_group WHAT: Redis, the sentinels and web (re)started with the settings in the caller's
# environment (REDIS_TLS), and the tiers read again.
sentinel_group() {
  compose_or_explain "$1" --profile bench up --detach --wait --scale "web=$top" "${INSTANCES[@]}" "${SENTINELS[@]}" web
  python3 -m control redis-wait 120 || exit 1
  stack
}
# The rate the last point was paced at: the points after it in the same turn are paced at it too,
# so that their CPU per request is compared at the same rate (TLS's is the lowest full rate).
paced_rate() { tail -n 1 "$report/points.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["paced"]["target_rps"])'; }
sentinel_url=(--url http://lb:8080/ --count-url http://lb:8080/count)
# The points that are compared run interleaved, a turn each, so the host's drift touches them alike.
for r in $(seq "$repeat"); do
  REDIS_TLS=on sentinel_group "starting Redis, the sentinels and web over TLS"
  measure "sentinel $top tls" sentinel "$top" "$r" --tls "${sentinel_url[@]}" --paced 0.5 "${tiers[@]}"
  rate=$(paced_rate)
  REDIS_TLS=off sentinel_group "restarting Redis, the sentinels and web in clear"
  measure "sentinel $top" sentinel "$top" "$r" "${sentinel_url[@]}" --paced-rps "$rate" "${tiers[@]}"
  REDIS_TLS=off REDIS_ACK_REPLICAS=0 compose_or_explain "restarting web without the acknowledgement" \
    --profile bench up --detach --wait --no-deps --scale "web=$top" web
  stack
  measure "sentinel $top unacknowledged" sentinel "$top" "$r" --unacknowledged "${sentinel_url[@]}" \
    --paced-rps "$rate" "${tiers[@]}"
done

bench run --rm --no-deps bench python report.py "/$report"
say "report: $report/results.md, results.json, bench.png"
