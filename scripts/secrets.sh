#!/usr/bin/env bash
# Makes the Redis passwords on first use (never committed) and the ACL file Redis loads:
# `admin` may do anything, `counter` (the app) only the commands the counter needs, `exporter`
# (redis_exporter, `make monitor`) only what reading Redis's figures needs, and no key;
# `healthcheck` (the container's probe) only PING, with no password, so the probe needs no secret.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SECRETS_DIR:-secrets}

mkdir -p "$dir"
chmod 700 "$dir"   # the files inside are world-readable so container users can read their mounts
for name in redis_admin_password redis_app_password redis_exporter_password; do
  if [ ! -s "$dir/$name" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$name"
    echo "made $dir/$name"
  fi
done

hash() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
umask 022
# `default` cannot log in (off, no password) but keeps every permission: Redis replays its
# append-only log as that user, and a restricted default would drop logged increments.
cat >"$dir/redis_users.acl" <<ACL
user default off resetpass ~* &* +@all
user admin on #$(hash "$dir/redis_admin_password") ~* &* +@all
user counter on #$(hash "$dir/redis_app_password") resetchannels ~counter:* -@all +ping +get +set +incr +incrby +hincrby +hgetall +multi +exec +discard +eval +evalsha +script|load
user healthcheck on nopass resetchannels resetkeys -@all +ping
user exporter on #$(hash "$dir/redis_exporter_password") resetchannels resetkeys -@all +ping +info +config|get +client|list +client|setname +slowlog|get +slowlog|len +latency|latest +latency|histogram +select +dbsize +memory|stats
ACL
# redis_exporter reads its password from a file that maps Redis's address, with the user, to it.
printf '{"redis://exporter@redis:6379": "%s"}\n' "$(cat "$dir/redis_exporter_password")" >"$dir/redis_exporter_passwords.json"
chmod 644 "$dir"/*
