#!/bin/sh
# redis-cli as everything in this image runs it (the probes, start-redis, switch-primary, make's and
# the tests' admin calls): over TLS with this container's certificate when REDIS_TLS=on, since the
# instances and sentinels then have no plain port. Installed ahead of the real one on the PATH.
set -eu
for real in /usr/local/bin/redis-cli /usr/bin/redis-cli; do [ -x "$real" ] && break; done
if [ "${REDIS_TLS:-off}" = on ]; then
  set -- --tls --cacert /run/secrets/redis_tls_ca --cert /run/secrets/redis_tls --key /run/secrets/redis_tls "$@"
fi
exec "$real" "$@"
