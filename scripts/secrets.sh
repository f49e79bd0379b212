#!/usr/bin/env bash
# Makes the Redis passwords on first use (never committed) and the ACL files Redis and the
# sentinels load: `admin` may do anything, `counter` (the app) only the commands the counter needs,
# `exporter` (redis_exporter, `make monitor`) only what reading Redis's figures needs, and no key;
# `healthcheck` (the container's probe) only PING, with no password, so the probe needs no secret.
# The app may wait for its increments to reach the replicas under Sentinel (WAIT, and WAITAOF,
# which Redis has from 7.2 on: an older Redis refuses the whole file).
# Under Sentinel (REDIS_MODE=sentinel) also `replica`, which replicas log in to the primary as,
# and `sentinel`, which the sentinels log in to Redis and to each other as.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SECRETS_DIR:-secrets}

mkdir -p "$dir"
chmod 700 "$dir"   # the files inside are world-readable so container users can read their mounts
for name in redis_admin_password redis_app_password redis_exporter_password redis_replica_password \
  redis_sentinel_password; do
  if [ ! -s "$dir/$name" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$name"
    echo "made $dir/$name"
  fi
done

password_hash() { printf '%s' "$(cat "$dir/$1")" | sha256sum | cut -d' ' -f1; }
umask 022
# `default` cannot log in (off, no password) but keeps every permission: Redis replays its
# append-only log as that user, and a restricted default would drop logged increments.
cat >"$dir/redis_users.acl" <<ACL
user default off resetpass ~* &* +@all
user admin on #$(password_hash redis_admin_password) ~* &* +@all
user counter on #$(password_hash redis_app_password) resetchannels ~counter:* -@all +ping +get +set +incr +incrby +hincrby +hgetall +multi +exec +discard +eval +evalsha +script|load +wait +waitaof
user healthcheck on nopass resetchannels resetkeys -@all +ping
user exporter on #$(password_hash redis_exporter_password) resetchannels resetkeys -@all +ping +info +config|get +client|list +client|setname +slowlog|get +slowlog|len +latency|latest +latency|histogram +select +dbsize +memory|stats
user replica on #$(password_hash redis_replica_password) resetchannels resetkeys -@all +psync +replconf +ping
user sentinel on #$(password_hash redis_sentinel_password) allchannels resetkeys -@all +client +subscribe +publish +ping +info +multi +slaveof +config +exec +role +script|kill
ACL
# The sentinels' own users: the app may only ask which instance is the primary, the sentinels
# talk to each other as `sentinel`, the exporter reads their figures.
cat >"$dir/redis_sentinel.acl" <<ACL
user default off resetpass ~* &* +@all
user admin on #$(password_hash redis_admin_password) ~* &* +@all
user counter on #$(password_hash redis_app_password) resetchannels resetkeys -@all +ping +sentinel|masters +sentinel|master +sentinel|get-master-addr-by-name
user healthcheck on nopass resetchannels resetkeys -@all +ping
user exporter on #$(password_hash redis_exporter_password) resetchannels resetkeys -@all +ping +info +client|setname +sentinel|masters +sentinel|master +sentinel|sentinels +sentinel|replicas +sentinel|slaves +sentinel|ckquorum
user sentinel on #$(password_hash redis_sentinel_password) allchannels resetkeys -@all +ping +publish +subscribe +client|setname +client|kill +info +sentinel|is-master-down-by-addr +role
ACL
# (redis_exporter's file that maps each instance's address to its password: make monitor writes
# it, from the instances docker-compose.yml declares.)
chmod 644 "$dir"/*

scripts/certificates.sh "$dir"
# Renewed certificates, taken up by the stack running here (control/rotate.py says how).
if [ "${ROTATE:-}" = certs ] && [ "$dir" = secrets ]; then python3 -m control rotate-certs; fi
