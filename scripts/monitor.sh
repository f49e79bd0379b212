#!/usr/bin/env bash
# Prometheus and the nginx and Redis exporters beside the running stack (Compose profile
# monitoring), then where Prometheus's UI is. Its rules and their tests: monitoring/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/probes.sh
source scripts/lib/redis.sh

require_docker
require_running_stack
scripts/secrets.sh >/dev/null
# A stack started before the exporter's Redis user existed learns of it now.
for name in $(running_instances); do
  [ "$(as_admin compose_reach "$name" ACL LOAD | tr -d '\r')" = OK ] \
    || die "$name refused to reload its users (scripts/secrets.sh made them)"
done
# What Prometheus and the exporter read, from the topology in docker-compose.yml: every instance
# and sentinel of this REDIS_MODE, and the exporter's password for each address (rediss:// is
# over TLS, as REDIS_TLS=on has them).
scheme=redis
[ "$REDIS_TLS" = off ] || scheme=rediss
mkdir -p monitoring/targets
for kind in redis sentinel; do topology targets "$kind" "$REDIS_MODE" "$scheme" >"monitoring/targets/$kind.json"; done
(umask 077 && topology exporter-passwords secrets/redis_exporter_password "$scheme" >secrets/redis_exporter_passwords.json)
chmod 644 secrets/redis_exporter_passwords.json   # read by the exporter's user, as the other secrets
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
