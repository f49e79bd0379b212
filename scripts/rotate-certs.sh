#!/usr/bin/env bash
# After `make secrets ROTATE=certs`: the running Compose stack takes up its renewed certificates
# with no request lost. Compose mounts each secret file as it is, and certificates.sh rewrote them
# in place, so every container sees the new ones at once: each Redis instance reloads its own
# (CONFIG SET tls-cert-file: new connections get the new certificate, open ones carry on); the
# sentinels, which cannot reload, restart one at a time, each back among the others before the
# next, so a majority always answers the app; the web tier reads its certificate at every new
# connection; the exporter restarts. On Swarm a secret cannot change: the next `make deploy`
# ships the new ones, web one replica at a time, the Redis group one member at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/checks.sh
source scripts/lib/compose.sh
source scripts/lib/explain.sh
source scripts/lib/probes.sh
source scripts/lib/redis.sh

require_docker
if [ -z "$(compose ps --quiet --status running lb 2>/dev/null)" ]; then
  say "no stack runs here: 'make up' or 'make deploy' takes the new certificates up"
  exit 0
fi
load_topology
# The mode and TLS the stack runs with, whatever the environment says.
REDIS_MODE=single
[ -z "$(REDIS_MODE=sentinel running "${SENTINELS[0]}")" ] || REDIS_MODE=sentinel
if [ "$(running_tls)" != on ]; then
  say "the running stack's Redis is not over TLS (REDIS_TLS=off): nothing to take up"
  exit 0
fi
for name in $(running_instances); do
  [ "$(as_admin compose_reach "$name" CONFIG SET tls-cert-file /run/secrets/redis_tls | tr -d '\r')" = OK ] \
    || die "$name did not reload its certificate (see 'make logs SERVICE=$name')"
  say "$name reloaded its certificate"
done
restart() { compose restart "$1" >/dev/null 2>&1; }
for name in $(sentinels); do
  [ -n "$(running "$name")" ] || continue
  timed "sentinel $name restarted with its new certificate, and back among the others" \
    replace_member compose_reach restart "$name"
done
if [ -n "$(running redis-exporter)" ]; then
  compose --profile monitoring restart redis-exporter >/dev/null 2>&1 || die "the exporter did not restart"
  say "redis-exporter restarted with its new certificate"
fi
say "the stack uses the new certificates (web: at each new connection to Redis)"
