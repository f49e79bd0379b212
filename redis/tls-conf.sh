#!/bin/sh
# The TLS part of an instance's or a sentinel's configuration under REDIS_TLS=on (start-redis and
# start-sentinel add it): TLS on the usual port and no plain port at all; only clients with a
# certificate from the stack's authority get in (control/secrets.py); and replicas reach their
# primary, and sentinels Redis and each other, over TLS too.
#   tls-conf PORT SECRETS_DIR
set -eu
cat <<CONF
port 0
tls-port $1
tls-cert-file $2/redis_tls
tls-key-file $2/redis_tls
tls-ca-cert-file $2/redis_tls_ca
tls-auth-clients yes
tls-replication yes
CONF
