#!/bin/sh
# hold-data DIR COMMAND...: runs COMMAND once no other process holds DIR, and holds it while
# COMMAND and whatever it execs run. Redis has no guard of its own: two redis-server processes on
# one directory both open and append to the same append-only file. An engine can start a second
# container on a volume while the first still runs (Swarm does, for a pinned task whose node was
# cut off and came back: docs/swarm.md), so every process of this image starts through here.
#
# The hold is a lock (flock) on DIR/data.lock, on descriptor 9, which COMMAND inherits: the kernel
# lets it go when the last process that has it ends, however it ends. A second process waits,
# saying so, at most REDIS_DATA_WAIT seconds (default 60), and then gives up without touching DIR.
set -eu

[ $# -ge 2 ] || { echo "usage: hold-data DIR COMMAND..." >&2; exit 2; }
dir=$1
shift
say() { echo "hold-data: $*" >&2; }
wait_at_most=${REDIS_DATA_WAIT:-60}
lock=$dir/data.lock

exec 9<>"$lock"
waited=0
until flock -x -n 9; do
  holder=$(cat "$lock" 2>/dev/null || true)
  if [ "$waited" -ge "$wait_at_most" ]; then
    say "$dir is still held by ${holder:-another process} after ${wait_at_most} s: not starting"
    exit 1
  fi
  if [ $((waited % 10)) -eq 0 ]; then
    say "$dir is held by ${holder:-another process}: waiting for it to stop (at most ${wait_at_most} s)"
  fi
  sleep 1
  waited=$((waited + 1))
done
[ "$waited" -eq 0 ] || say "$dir is free after ${waited} s"
# Who holds it, for the next one's log: this container (its hostname) and this process.
echo "$(cat /proc/sys/kernel/hostname) pid $$" >"$lock"
exec "$@"
