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
# shellcheck disable=SC2016  # expanded inside the container, where the secret is
compose exec -T redis sh -c \
  'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" redis-cli --no-auth-warning --user admin ACL LOAD' \
  | grep -q OK || die "redis refused to reload its users (scripts/secrets.sh made them)"
compose_or_explain "starting monitoring" --profile monitoring up --detach --wait prometheus nginx-exporter redis-exporter
address=$(compose port prometheus 9090 | tail -n 1)
case "$address" in 0.0.0.0:* | "[::]:"* | :::*) address="127.0.0.1:${address##*:}" ;; esac
deadline=$((SECONDS + 60))
until [ "$(http_status "$address" /-/ready)" = 200 ]; do
  if (( SECONDS > deadline )); then
    compose logs --no-color --tail 10 prometheus >&2 || true
    die "Prometheus did not become ready at $address (its last log lines are above)"
  fi
  sleep 1
done
say "Prometheus: http://$address/  (targets: /targets, alerts: /alerts)"
