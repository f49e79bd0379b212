"""`make switch` and `make deploy-switch`: a planned switch of the Redis primary under Sentinel,
the same one a roll of the group makes (redis.py's Group.switch), for a user who moves the primary
on purpose, for instance before stopping its host. On Compose here; on Swarm, deploy.py reaches the
group and calls `planned`."""

from control import docker, redis
from control.compose import Compose
from control.errors import Stop
from control.say import timed


def main(environ):
    compose = Compose(environ)
    if compose.mode != "sentinel":
        raise Stop("there is one Redis under REDIS_MODE=single: no other instance to switch to")
    docker.require_docker()
    planned(redis.compose_group(compose))


def planned(group):
    """The primary switched to an up-to-date replica, once the group can take a failover."""
    group.wait(120)
    primary = group.primary()
    if primary is None:
        raise Stop("no majority of the sentinels names one primary: not switching (see 'make logs')")
    timed(f"primary switched from {primary}", group.switch, primary)
