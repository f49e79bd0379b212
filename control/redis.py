"""The Redis group of a running stack, as make reaches it: its instances and sentinels (the
topology, under REDIS_MODE), redis-cli as Redis's admin on any of them, and which instance is
the primary (the one Redis, or under Sentinel the one a strict majority of the sentinels name:
sentinels.py).

How to reach them is passed in: `reach(argv)` runs argv in a container of the Redis image on the
stack's back network, where every member answers to its name, with the admin's password in
REDISCLI_AUTH, and returns its CompletedProcess; `compose_reach` is Compose's."""

from control import docker, sentinels
from control.errors import Stop
from control.topology import INSTANCE_PORT, SENTINEL_PORT

# sh -c: the admin's password from the container's secret, then ARGV
AS_ADMIN = 'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" && export REDISCLI_AUTH && exec "$@"'


class Group:
    def __init__(self, topology, mode, reach):
        self.topology = topology
        self.instances, self.sentinels = topology.of(mode)
        self.reach = reach

    def admin(self, name, *args):
        """redis-cli as the admin on an instance or a sentinel: its standard output ("" where it
        did not answer)."""
        port = SENTINEL_PORT if name in self.sentinels else INSTANCE_PORT
        argv = ["redis-cli", "--no-auth-warning", "--user", "admin", "-h", name, "-p", str(port), *args]
        done = self.reach(argv)
        return done.stdout.replace("\r", "") if done.returncode == 0 else ""

    def named(self):
        """What each sentinel names primary ("" where one does not answer)."""
        name = self.topology.primary_name
        return [
            self.admin(s, "SENTINEL", "get-master-addr-by-name", name).split("\n")[0] for s in self.sentinels
        ]

    def primary(self):
        """The primary, or None while no majority of the sentinels names one."""
        if not self.sentinels:
            return self.instances[0]
        return sentinels.primary(self.named(), len(self.sentinels))


def compose_reach(compose):
    """Compose's reach: in a running Redis instance's container, which has the admin's secret."""
    instances, _ = compose.declared().of(compose.mode)

    def reach(argv):
        for name in instances:
            for container in compose.running(name):
                return docker.run("docker", "exec", container, "sh", "-c", AS_ADMIN, "sh", *argv, check=False)
        raise Stop("no Redis instance is running: start the stack with 'make up'")

    return reach
