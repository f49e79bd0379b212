"""`make reset`: the counter set back to zero with Redis's admin credentials (the app's own user
cannot), on the primary."""

from control import docker, redis
from control.compose import Compose
from control.errors import Stop
from control.say import say


def main(environ):
    compose = Compose(environ)
    docker.require_docker()
    group = redis.Group(compose.declared(), compose.mode, redis.compose_reach(compose))
    primary = group.primary()
    if not primary or not compose.running(primary):
        raise Stop("no Redis primary is running: start the stack with 'make up'")
    if group.admin(primary, "FLUSHDB").strip() != "OK":
        raise Stop("redis refused the reset")
    say("counter reset to 0")
