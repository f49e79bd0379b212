"""Switching REDIS_MODE keeps the count; `make up` runs this before it starts the stack.
single -> sentinel: nothing to copy. The one Redis (`redis`) keeps its volume and is the first
  primary; the replicas copy everything from it.
sentinel -> single: the one Redis must first hold every increment. With the web tier stopped,
  it catches up with the primary the sentinels name (or is it); then the other instances and
  the sentinels go, with their volumes: what they knew is stale from here on, and a later
  switch back starts them afresh from it."""

import time

from control import docker, redis, topology
from control.compose import Compose
from control.errors import Stop
from control.explain import or_explain
from control.say import say

CATCH_UP_WAIT = 60  # s


def main(environ):
    compose = Compose(environ)
    if compose.mode != "single":
        return
    declared = compose.declared()
    single = declared.single
    others = [name for name in declared.instances + declared.sentinels if name != single]
    volumes = topology.volumes(declared.config, others)
    # None of their volumes: this project never ran under Sentinel, or has switched back already.
    if not any(docker.run("docker", "volume", "inspect", v, check=False).returncode == 0 for v in volumes):
        return
    say(f"switching Redis from sentinel to single mode: first '{single}' gets every increment")
    compose.mode = compose.environ["REDIS_MODE"] = "sentinel"  # until the others are gone
    compose.run("stop", "web", check=False)
    members = (*declared.instances, *declared.sentinels)
    or_explain(compose, "starting the Redis instances and sentinels", "up", "--detach", "--wait", *members)
    group = redis.Group(declared, "sentinel", redis.compose_reach(compose))
    primary = group.primary()
    if primary is None:
        raise Stop("no sentinel names a primary: cannot tell where the newest count is (see 'make logs')")
    if primary != single:
        caught_up(group, single, primary)
    compose.run("rm", "--stop", "--force", *others, check=False)
    for volume in volumes:
        docker.run("docker", "volume", "rm", volume, check=False)
    say(f"{single} holds every increment (the primary was {primary}); the replicas and sentinels are removed")


def caught_up(group, single, primary):
    """Until the one Redis, a replica, holds all the primary has (at most CATCH_UP_WAIT s)."""
    offset = int(group.replication(primary, "master_repl_offset") or 0)
    deadline = time.monotonic() + CATCH_UP_WAIT
    while not (
        group.replication(single, "master_host") == primary
        and group.replication(single, "master_link_status") == "up"
        and int(group.replication(single, "slave_repl_offset") or 0) >= offset
    ):
        if time.monotonic() > deadline:
            raise Stop(
                f"'{single}' did not catch up with the primary {primary} within {CATCH_UP_WAIT} s: "
                "not switching (see 'make logs')"
            )
        time.sleep(0.5)
