#!/bin/sh
# A planned switch of the Redis primary that loses no acknowledged increment and that clients do
# not notice. `make up`, `make deploy` and `make switch` run it (control/redis.py's Group.switch)
# in a container on the back network, with Redis's admin password in REDISCLI_AUTH, after
# majority.sh (the rule for "named by the sentinels", sent with it, so that a container of an
# older image runs it too):
#   switch-primary.sh OLD GROUP PORT "INSTANCE..." "SENTINEL:PORT..."
# While the sentinels promote a replica, the old primary (and a replica still following it) could
# go on acknowledging writes that the new primary never gets. So, in this order:
#   1. the old primary refuses every write at once (min-replicas-to-write above its replicas:
#      NOREPLICAS, before a step runs), and the app asks again within its budget; and it pauses
#      what it would still send its replicas (CLIENT PAUSE WRITE: no expiry, no eviction; at most
#      half the sentinels' down-after, since the pause holds back their hellos and so the pings
#      behind them, and a paused primary would be failed over as down), so
#   2. every replica catches up with all the old primary has and stays there, and whichever is
#      promoted, the others and the old primary follow it with a partial resync (a full one would
#      leave their acknowledgements, and so the app's writes, waiting for seconds);
#   3. a sentinel promotes one (SENTINEL FAILOVER); the other replicas follow it at once (the new
#      primary takes writes only with a replica: min-replicas-to-write), and once a majority of
#      the sentinels name it,
#   4. the old primary follows it (REPLICAOF) and is unpaused, so what the app sends there is
#      refused (READONLY) and asked of the sentinels again; its own settings are then put back.
# Writes are refused from 1 to 4: the app's budget (0.75 s) and nginx's second try cover 1.5 s.
# Most of it is the sentinel's wait to see the promotion: it reads the promoted replica's INFO once
# a second, counted from its last reading. So, before step 1, the switch chooses that replica (the
# others are made less preferred: replica-priority) and times step 1 so that the failover is asked
# 0.4 to 0.6 s after the sentinel's routine reading of it; the promotion is then seen at the next
# reading, not a second after it.
# Prints the new primary, how long writes were refused (ms), and when within that time the replicas
# had caught up, the failover was asked, the replica was promoted and a majority named it; and the
# failover's phase: ms since the sentinel's reading of the replica's INFO when it was asked, and the
# questions' time it allowed for (ahead).
# Before step 3 a failure puts the
# old primary back as it was, within 5 s, if a majority of the sentinels still name it; after it,
# or if they do not, the old primary goes on refusing writes until it follows the new one (a
# sentinel makes it a replica within seconds; it then has its own settings back, within 15 s),
# rather than risk two primaries.
set -eu

old=$1 group=$2 port=$3 instances=$4 sentinels=$5
# ms since the sentinel last read the chosen replica's INFO, within which the failover is asked: its
# next reading is due 1000 ms after the last, and must come after the promotion, which the
# sentinel sends on its third tick (each tick 53 to 100 ms) after the failover is asked of it.
EARLY=450 LATE=650
PHASE_WAIT=25000 # ms: the sentinel reads a replica's INFO every 10 s; the others' new priority too

say() { echo "switch-primary: $*" >&2; }
cli() { # cli SECONDS HOST:PORT COMMAND...: redis-cli as the admin, for at most SECONDS; it
  # replaces the shell it runs in, so only in one of its own (a pipeline's, or one started with &)
  limit=$1 address=$2
  shift 2
  exec timeout "$limit" redis-cli --no-auth-warning --user admin -h "${address%:*}" -p "${address##*:}" "$@"
}
ask() { cli 2 "$@" | tr -d '\r'; } # ask HOST:PORT COMMAND...: its answer, without carriage returns
field() { ask "$1:$port" INFO replication | sed -n "s/^$2://p"; }
cr=$(printf '\r')
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# seen SENTINEL: "NAME PRIORITY MS-SINCE-INFO" for each replica the sentinel sees up
seen() {
  ask "$1" SENTINEL REPLICAS "$group" | awk '
    NR % 2 == 1 { key = $0; next }
    key == "name" { n++ }
    { value[n, key] = $0 }
    END { for (i = 1; i <= n; i++) if (value[i, "flags"] == "slave")
            print value[i, "ip"], value[i, "slave-priority"], value[i, "info-refresh"] }'
}

configured=$(ask "$old:$port" CONFIG GET min-replicas-to-write | tail -n 1)
others="" # "NAME:PRIORITY" of each replica made less preferred, to put back
preferences_back() {
  for other in $others; do ask "${other%:*}:$port" CONFIG SET replica-priority "${other##*:}" >/dev/null || true; done
}
put_back() {
  ask "$old:$port" CONFIG SET min-replicas-to-write "$configured" >/dev/null || true
  ask "$old:$port" CLIENT UNPAUSE >/dev/null || true
  preferences_back
}
stuck() { # stuck MESSAGE: the old primary refuses writes until it follows another, then is put back
  preferences_back
  until_ms=$(($(now_ms) + 15000))
  until [ "$(field "$old" role)" = slave ]; do
    [ "$(now_ms)" -lt "$until_ms" ] || { say "$*; it still refuses writes: once it follows the primary, CONFIG SET min-replicas-to-write $configured"; exit 1; }
    sleep 0.1
  done
  put_back
  say "$*; it follows $(field "$old" master_host) now, with its own settings"
  exit 1
}
named() { # the instance a majority of the sentinels name primary, or nothing (all asked at once)
  for sentinel in $sentinels; do ask "$sentinel" SENTINEL get-master-addr-by-name "$group" 2>/dev/null | head -n 1 & done \
    | majority "$(echo "$sentinels" | wc -w)"
}
give_up() {
  [ "$(named)" = "$old" ] || stuck "the primary is not switched from $old: $*, and the sentinels no longer name it"
  put_back
  say "the primary is not switched from $old: $* (it takes writes again)"
  exit 1
}

# The sentinel to ask, the replica it is to promote (the first it sees up), and the others.
leader="" chosen=""
for sentinel in $sentinels; do
  chosen=$(seen "$sentinel" | awk '$2 > 0 { print $1; exit }')
  [ -z "$chosen" ] || { leader=$sentinel; break; }
done
[ -n "$chosen" ] || give_up "no sentinel sees a replica to promote"
preferred=$(ask "$chosen:$port" CONFIG GET replica-priority | tail -n 1)
[ -n "$preferred" ] || give_up "$chosen, the replica to promote, does not answer"
for name in $instances; do
  [ "$name" != "$old" ] && [ "$name" != "$chosen" ] || continue
  priority=$(ask "$name:$port" CONFIG GET replica-priority | tail -n 1)
  [ -n "$priority" ] && [ "$priority" -le "$preferred" ] && [ "$priority" -gt 0 ] || continue
  others="$others $name:$priority"
  ask "$name:$port" CONFIG SET replica-priority "$((preferred + 1))" >/dev/null || true
done
# The pause: at most half the sentinels' down-after (asked now, before writes are refused).
down_after=$(ask "$leader" SENTINEL MASTER "$group" | sed -n '/^down-after-milliseconds$/{n;p;}')
pause=$((${down_after:-2000} / 2))
[ "$pause" -le 1000 ] || pause=1000
caught() { # caught NAME SECONDS: whether NAME's offset reaches the old primary's (OFFSET) within
  # SECONDS, asked every 5 ms on one connection (redis-cli ignores a closed pipe: it is stopped)
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  cli "$2" "$1:$port" -r -1 -i 0.005 INFO replication >"$fifo" 2>/dev/null &
  watching=$!
  found=1 # (read line by line: awk would wait for a full buffer)
  while IFS=: read -r key value; do
    [ "$key" = slave_repl_offset ] && [ "${value%"$cr"}" -ge "$offset" ] && { found=0; break; }
  done <"$fifo"
  kill "$watching" 2>/dev/null || true
  rm -f "$fifo"
  return "$found"
}
behind() { # behind SECONDS: the replicas not caught up within SECONDS, all asked at once
  for name in $instances; do
    [ "$name" = "$old" ] || { caught "$name" "$1" || echo "$name"; } &
  done
  wait
}
# Writes are refused AHEAD ms before the failover is asked: the time that the questions between
# take (one to the old primary, one to each replica at once, the failover), timed by asking them
# (answers unused) just before the sentinel's reading is due, twice (the first after a sleep is
# the slower); at most EARLY.
rehearse() {
  ahead=$EARLY offset=0
  for _ in 1 2; do
    from=$(now_ms)
    ask "$old:$port" INFO replication >/dev/null
    behind 2 >/dev/null
    ask "$leader" PING >/dev/null
    took=$(($(now_ms) - from))
    [ "$took" -ge "$ahead" ] || ahead=$took
  done
}
ms_sleep() { [ "$1" -le 0 ] || sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"; }
# Until the sentinel sees the others as less preferred, then the failover, asked after the steps
# below, is aimed EARLY to LATE ms after its last reading of the chosen one's INFO (as of its
# answer, taken as halfway through the question): a question within LATE of a reading waits for
# EARLY; one after it sleeps until the next reading is near, then asks again, and the first answer
# after that reading goes on (the questions' time put at most EARLY, so that one always can).
rehearse
deadline=$(($(now_ms) + PHASE_WAIT)) since_info=0
while :; do
  asked_at=$(now_ms)
  replicas=$(seen "$leader")
  polled=$(now_ms)
  before=$since_info
  # "PREFERRED MS-SINCE-INFO": 1 once the sentinel sees every other replica less preferred
  reading=$(echo "$replicas" | awk -v chosen="$chosen" '
    $1 == chosen { mine = $2; since = $3; next }
    { priority[$1] = $2 }
    END { preferred = since != ""; for (name in priority) if (priority[name] <= mine) preferred = 0
          print preferred, since == "" ? 0 : since }')
  since_info=$((${reading#* } + (polled - asked_at) / 2))
  if [ "${reading%% *}" = 1 ] && { [ "$since_info" -le $((LATE - ahead)) ] || [ "$since_info" -lt $((before - 500)) ]; }; then
    ms_sleep $((EARLY - ahead - since_info - ($(now_ms) - polled)))
    break
  fi
  [ "$(now_ms)" -lt "$deadline" ] || { say "the sentinel's reading of $chosen was not caught: the switch may take longer"; break; }
  # its next reading is due 10 s after the last (SENTINEL_INFO_PERIOD): until 500 ms before it
  if [ "${reading%% *}" = 1 ] && [ "$since_info" -lt 9500 ]; then
    ms_sleep $((9500 - since_info))
    rehearse
  else
    sleep 0.01
  fi
done

started=$(now_ms)
# (on one connection, and the replicas asked at once: each question costs a new TLS connection)
answer=$(printf 'CONFIG SET min-replicas-to-write 1000000\nCLIENT PAUSE %s WRITE\nINFO replication\n' "$pause" |
  ask "$old:$port")
[ "$(echo "$answer" | head -n 2 | tr '\n' ' ')" = "OK OK " ] || give_up "it would not refuse writes and pause"
offset=$(echo "$answer" | sed -n 's/^master_repl_offset://p')
late=$(behind 5)
[ -z "$late" ] || give_up "$(echo "$late" | paste -sd " " -) did not catch up with it within 5 s"
caught_up=$(($(now_ms) - started))

asked=""
for sentinel in $leader $sentinels; do
  if [ "$(ask "$sentinel" SENTINEL FAILOVER "$group" 2>/dev/null)" = OK ]; then asked=$sentinel; break; fi
done
[ -n "$asked" ] || give_up "no sentinel would start the failover"
failover=$(($(now_ms) - started))
phase=$((${since_info:-0} + started + failover - polled))

# The promoted replica takes writes once a replica follows it (min-replicas-to-write), and the
# sentinels tell the other replicas to follow it only once they see the promotion (their next INFO
# of it). So the other replicas are told here as soon as it is promoted; the old primary, which
# takes writes the moment it follows another, is told once a majority of the sentinels name the
# new primary.
until_ms=$(($(now_ms) + 3000))
while role=$(field "$chosen" role) && [ "$role" != master ] && [ "$(now_ms)" -lt "$until_ms" ]; do
  sleep 0.01
done
promoted=$(($(now_ms) - started))
if [ "$role" = master ]; then
  for name in $instances; do
    [ "$name" = "$old" ] || [ "$name" = "$chosen" ] || ask "$name:$port" REPLICAOF "$chosen" "$port" >/dev/null &
  done
  wait
fi

new="" deadline=$(($(now_ms) + 15000))
while [ -z "$new" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || stuck "$asked started the switch from $old, but no majority of the sentinels named a new primary within 15 s"
  new=$(named)
  [ "$new" != "$old" ] || new=""
  [ -n "$new" ] || sleep 0.01
done

named_at=$(($(now_ms) - started))
# Its paused writes then go on, each refused (READONLY): the app asks the sentinels, who name $new.
[ "$(printf 'REPLICAOF %s %s\nCLIENT UNPAUSE\n' "$new" "$port" | ask "$old:$port" | head -n 1)" = OK ] ||
  stuck "$old would not follow $new"
refused=$(($(now_ms) - started))
put_back
echo "$new $refused caught-up=$caught_up failover=$failover promoted=$promoted named=$named_at phase=$phase ahead=$ahead"
