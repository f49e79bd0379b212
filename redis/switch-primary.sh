#!/bin/sh
# A planned switch of the Redis primary that loses no acknowledged increment. `make up` and
# `make deploy` run it (control/redis.py's Group.switch) in a container on the back network,
# with Redis's admin password in REDISCLI_AUTH, after majority.sh (the rule for "named by the
# sentinels", sent with it, so that a container of an older image runs it too):
#   switch-primary.sh OLD GROUP PORT "INSTANCE..." "SENTINEL:PORT..."
# While the sentinels promote a replica, the old primary (and a replica still following it) could
# go on acknowledging writes that the new primary never gets. So, in this order:
#   1. the old primary refuses every write at once (min-replicas-to-write above its replicas:
#      NOREPLICAS, before a step runs), and the app asks again within its budget;
#   2. every replica catches up with all the old primary has, so whichever is promoted has it;
#   3. the sentinels promote one (SENTINEL FAILOVER), and once a majority of them name it,
#   4. the old primary follows it (REPLICAOF), so what the app sends there is refused (READONLY)
#      and asked of the sentinels again; its own setting is then put back.
# Prints the new primary and how long writes were refused, in ms. Before step 3 a failure puts the
# old primary back as it was; after it, the old primary goes on refusing writes until it follows
# the new one (a sentinel makes it a replica within seconds), rather than risk two primaries.
set -eu

old=$1 group=$2 port=$3 instances=$4 sentinels=$5

say() { echo "switch-primary: $*" >&2; }
ask() { # ask HOST:PORT COMMAND...: its answer, without carriage returns
  address=$1
  shift
  timeout 2 redis-cli --no-auth-warning --user admin -h "${address%:*}" -p "${address##*:}" "$@" | tr -d '\r'
}
field() { ask "$1:$port" INFO replication | sed -n "s/^$2://p"; }
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

configured=$(ask "$old:$port" CONFIG GET min-replicas-to-write | tail -n 1)
put_back() { ask "$old:$port" CONFIG SET min-replicas-to-write "$configured" >/dev/null || true; }
give_up() { put_back; say "the primary is not switched from $old: $* (it takes writes again)"; exit 1; }

started=$(now_ms)
[ "$(ask "$old:$port" CONFIG SET min-replicas-to-write 1000000)" = OK ] || give_up "it would not refuse writes"
offset=$(field "$old" master_repl_offset)
for name in $instances; do
  [ "$name" != "$old" ] || continue
  waited=0
  until [ "$(field "$name" slave_repl_offset || echo 0)" -ge "$offset" ] 2>/dev/null; do
    [ "$waited" -lt 500 ] || give_up "$name did not catch up with it within 5 s"
    sleep 0.01
    waited=$((waited + 1))
  done
done

asked=""
for sentinel in $sentinels; do
  if [ "$(ask "$sentinel" SENTINEL FAILOVER "$group" 2>/dev/null)" = OK ]; then asked=$sentinel; break; fi
done
[ -n "$asked" ] || give_up "no sentinel would start the failover"

new="" waited=0
while [ -z "$new" ]; do
  [ "$waited" -lt 1500 ] || { say "$asked started the switch from $old, but no majority of the sentinels named a new primary within 15 s: $old refuses writes until it follows one"; exit 1; }
  new=$(for sentinel in $sentinels; do ask "$sentinel" SENTINEL get-master-addr-by-name "$group" 2>/dev/null | head -n 1; done \
    | majority "$(echo "$sentinels" | wc -w)")
  [ "$new" != "$old" ] || new=""
  [ -n "$new" ] || { sleep 0.01; waited=$((waited + 1)); }
done

[ "$(ask "$old:$port" REPLICAOF "$new" "$port")" = OK ] || { say "$old would not follow $new: it refuses writes until a sentinel makes it a replica"; exit 1; }
put_back
echo "$new $(($(now_ms) - started))"
