"""control/redis.py's rules for the Redis group: what a sentinel's answer says, when it sees a
member up, and the order a roll replaces the members in. Its steps against a running group are
the end-to-end tests' (test_ship_redis.py, test_swarm_lab.py, test_sentinel.py)."""

import subprocess

import pytest

from control import redis
from control.topology import Topology

SENTINEL = {
    "command": ["start-sentinel"],
    "profiles": ["sentinel"],
    "environment": {"REDIS_FIRST_PRIMARY": "redis", "REDIS_PRIMARY_NAME": "counter"},
}
CONFIG = {
    "services": {
        "redis": {"command": ["start-redis"]},
        "redis-2": {"command": ["start-redis"], "profiles": ["sentinel"]},
        "redis-3": {"command": ["start-redis"], "profiles": ["sentinel"]},
        **{f"sentinel-{n}": SENTINEL for n in (1, 2, 3)},
        "web": {"command": ["gunicorn"]},
    }
}


def answer(*pairs):
    """redis-cli's lines for a reply of key-value lists, as it prints them to a pipe."""
    return "\n".join(str(item) for entry in pairs for kv in entry.items() for item in kv) + "\n"


def replica(name, flags="slave", ping=300, link="ok"):
    return {
        "name": f"{name}:6379",
        "ip": name,
        "port": 6379,
        "flags": flags,
        "last-ok-ping-reply": ping,
        "master-link-status": link,
    }


def sentinel(name, flags="sentinel", ping=300, hello=900):
    return {
        "name": "0123abcd",
        "ip": name,
        "port": 26379,
        "flags": flags,
        "last-ok-ping-reply": ping,
        "last-hello-message": hello,
    }


def group_answering(text):
    def reach(argv, stdin=None):
        return subprocess.CompletedProcess(argv, 0, text, "")

    return redis.Group(Topology(CONFIG), "sentinel", reach)


def test_a_reply_of_several_entries_is_read_as_one_dict_each():
    text = answer(replica("redis-2"), replica("redis-3", flags="s_down,slave"))
    entries = redis.pairs(text.rstrip("\n"))
    assert [(e["ip"], e["flags"]) for e in entries] == [("redis-2", "slave"), ("redis-3", "s_down,slave")]


@pytest.mark.parametrize(
    "seen, within, up",
    [
        (replica("redis-2"), 1500, True),
        (replica("redis-2", flags="s_down,slave"), 1500, False),
        (replica("redis-2", ping=1600), 1500, False),
        (replica("redis-2", link="err"), 1500, False),
        (replica("redis-2", ping=400), 300, False),  # not heard from since it was replaced
        (replica("redis-3"), 1500, False),  # another member
    ],
)
def test_a_replica_is_seen_up_only_answering_in_sync_and_heard_from_lately(seen, within, up):
    assert group_answering(answer(seen)).sees_up("sentinel-1", "redis-2", within) is up


@pytest.mark.parametrize(
    "seen, up",
    [
        (sentinel("sentinel-2"), True),
        (sentinel("sentinel-2", hello=2600), False),  # has not said hello for over one round
        (sentinel("sentinel-2", flags="s_down,sentinel"), False),
    ],
)
def test_a_sentinel_is_seen_up_only_answering_and_saying_hello(seen, up):
    assert group_answering(answer(seen)).sees_up("sentinel-1", "sentinel-2") is up


def test_a_roll_replaces_the_sentinels_then_the_replicas_then_switches_and_replaces_the_primary():
    group = group_answering("")
    done = []
    group.wait = lambda seconds: done.append("wait")
    group.primary = lambda: "redis-2"
    group.replace_member = lambda replace, name: done.append(name)
    group.switch = lambda old: done.append(f"switch from {old}")
    group.roll(None, ["redis", "redis-2", "sentinel-3", "sentinel-1"])
    assert done == ["wait", "sentinel-1", "sentinel-3", "redis", "switch from redis-2", "redis-2"]


def test_a_roll_with_no_majority_naming_a_primary_stops_before_any_instance():
    group = group_answering("")
    done = []
    group.wait = lambda seconds: None
    group.primary = lambda: None
    group.replace_member = lambda replace, name: done.append(name)
    with pytest.raises(redis.Stop, match="no majority of the sentinels names one primary"):
        group.roll(None, ["redis", "sentinel-1"])
    assert done == ["sentinel-1"]


def test_a_switch_says_the_new_primary_how_long_writes_were_refused_and_each_phase(capsys):
    # What switch-primary.sh prints last (its stdout), after anything a redis-cli printed before.
    group = group_answering("OK\nredis-3 850 caught-up=50 failover=60 promoted=290 named=820 phase=455\n")
    group.switch("redis")
    said = capsys.readouterr().out
    assert "redis-3 is the primary now; writes were refused for 850 ms while it took over from redis" in said
    assert "(in ms: caught-up=50, failover=60, promoted=290, named=820, phase=455)" in said
