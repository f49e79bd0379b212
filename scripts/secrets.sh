#!/usr/bin/env bash
# Makes the Redis passwords on first use (never committed) and the ACL file Redis loads:
# `admin` may do anything, `counter` (the app) only the commands the counter needs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SECRETS_DIR:-secrets}

mkdir -p "$dir"
chmod 700 "$dir"   # the files inside are world-readable so container users can read their mounts
for name in redis_admin_password redis_app_password; do
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
ACL
chmod 644 "$dir"/*
