#!/usr/bin/env bash
# Prometheus and the nginx and Redis exporters beside the running stack (Compose profile
# monitoring), then where Prometheus's UI is. Its rules and their tests: monitoring/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_docker
require_running_stack
scripts/secrets.sh >/dev/null
# A stack started before the exporter's Redis user existed learns of it now.
for service in $(running_redis_services); do
  [ "$(admin_cli "$service" ACL LOAD)" = OK ] || die "$service refused to reload its users (scripts/secrets.sh made them)"
done
compose_or_explain "starting monitoring" --profile monitoring up --detach --wait prometheus nginx-exporter redis-exporter
address=$(published prometheus 9090)
deadline=$((SECONDS + 60))
until [ "$(http_status "$address" /-/ready)" = 200 ]; do
  if (( SECONDS > deadline )); then
    compose logs --no-color --tail 10 prometheus >&2 || true
    die "Prometheus did not become ready at $address (its last log lines are above)"
  fi
  sleep 1
done
say "Prometheus: http://$address/  (targets: /targets, alerts: /alerts)"
