#!/usr/bin/env bash
# `make bench`: its own stack (project counter-bench), each replica limited to WEB_CPUS of a core,
# measured at BENCH_REPLICAS replicas and against three baselines; the report goes to
# reports/bench-<time>/ (results.json, results.md, bench.png).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

replicas=${BENCH_REPLICAS-1 2 3 4}
warmup=${BENCH_WARMUP-5} duration=${BENCH_DURATION-15} connections=${BENCH_CONNECTIONS-32}
web_cpus=${WEB_CPUS-0.25}
for n in $replicas; do check_range "a replica count in BENCH_REPLICAS" "$n" 1 16; done
[ -n "${replicas// /}" ] || die "BENCH_REPLICAS must list replica counts, such as '1 2 3 4'"
[[ " $replicas " == *" 1 "* ]] || die "BENCH_REPLICAS must include 1: every ratio is against one replica, got '$replicas'"
check_range BENCH_WARMUP "$warmup" 0 600
check_range BENCH_DURATION "$duration" 1 600
check_range BENCH_CONNECTIONS "$connections" 1 256
check_pattern WEB_CPUS "$web_cpus" '^([0-9]+(\.[0-9]+)?|\.[0-9]+)$' "a number of cores such as 0.25"
require_docker

export COMPOSE_PROJECT_NAME=${BENCH_PROJECT:-counter-bench} WEB_CPUS=$web_cpus
export LB_BIND=127.0.0.1 LB_PORT=${BENCH_LB_PORT:-0}
use_host_user
bench() { compose --profile bench "$@"; }
# shellcheck disable=SC2329  # called by the trap
remove_stack() { bench down --volumes --remove-orphans >/dev/null 2>&1 || true; }
trap remove_stack EXIT

report=$(new_report_dir bench-)
printf '{"replicas": "%s", "warmup": %s, "duration": %s, "connections": %s, "web_cpus": "%s"}\n' \
  "$replicas" "$warmup" "$duration" "$connections" "$web_cpus" >"$report/settings.json"

scripts/secrets.sh >/dev/null
say "starting the benchmark stack ($COMPOSE_PROJECT_NAME; each replica limited to $web_cpus of a core)"
build_or_explain "building the benchmark's images" --profile bench build
compose_or_explain "starting the benchmark stack" --profile bench up --detach --wait --scale web=1 lb tutorial lb-static

# measure NAME KIND REPLICAS URL [COUNT_URL] [PACED]: one point, with a CPU sample mid-run.
measure() {
  local sample_at=$((warmup + duration / 2))
  (sleep "$sample_at"; docker stats --no-stream --format '{{.Name}}\t{{.CPUPerc}}' \
    | grep "^$COMPOSE_PROJECT_NAME-" >"$report/cpu-${1// /-}.tsv") &
  bench run --rm --no-deps bench python measure.py --name "$1" --kind "$2" --replicas "$3" \
    --url "$4" --count-url "${5:-}" --paced "${6:-0}" --connections "$connections" \
    --warmup "$warmup" --duration "$duration" --out "/$report/points.jsonl"
  wait
}

say "point by point: warm-up ${warmup} s, then ${duration} s measured (twice for the stack: at full and 80% rate)"
for n in $replicas; do
  scale_web "$n"
  measure "stack $n" stack "$n" http://lb:8080/ http://lb:8080/count 0.8
done
scale_web 1
measure "direct" direct 1 http://web:8000/ http://web:8000/count
measure "lb static" lb 0 http://lb-static:8080/
measure "tutorial" tutorial 1 http://tutorial:8000/

bench run --rm --no-deps bench python report.py "/$report"
say "report: $report/results.md, results.json, bench.png"
