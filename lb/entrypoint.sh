#!/bin/sh
# Writes the optional per-client rate limit (RATE_LIMIT requests per second), then runs nginx on
# /etc/counter-lb/nginx.conf; `counter-lb reload` applies an edit of that file (make up runs it).
set -eu

conf=/etc/counter-lb/nginx.conf
loaded=/tmp/nginx.conf.sha256   # the configuration nginx runs, as make up compares it

if [ "${1-}" = reload ]; then
  # Tested first: an edit nginx refuses is not loaded, and the running configuration serves on.
  if ! errors=$(nginx -t -q -c "$conf" -e stderr 2>&1); then
    echo "lb: nginx refuses $conf, so the running configuration serves on: $(echo "$errors" | head -n 1)" >&2
    exit 1
  fi
  sha256sum "$conf" >"$loaded"
  exec nginx -s reload -c "$conf" -e stderr
fi

limits=/tmp/rate_limit.conf
rate=${RATE_LIMIT:-}
if [ -z "$rate" ] || [ "$rate" = off ]; then
  : >"$limits"
else
  case "$rate" in
    *[!0-9]* | 0*) echo "lb: RATE_LIMIT must be a whole number of requests per second, or off; got '$rate'" >&2; exit 1 ;;
  esac
  burst=${RATE_BURST:-$rate}
  case "$burst" in
    '' | *[!0-9]*) echo "lb: RATE_BURST must be a whole number; got '$burst'" >&2; exit 1 ;;
  esac
  cat >"$limits" <<CONF
limit_req_zone \$binary_remote_addr zone=per_client:10m rate=${rate}r/s;
limit_req zone=per_client burst=$burst nodelay;
limit_req_status 429;
CONF
fi

sha256sum "$conf" >"$loaded"
# -e stderr: no attempt to open the log path compiled into the binary. setpriv: no process here
# can gain privileges, on any engine (Swarm ignores Compose's security_opt).
exec setpriv --no-new-privs nginx -c "$conf" -e stderr -g 'daemon off;'
