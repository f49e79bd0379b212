"""The Redis group of a stack, as the tests reach it: the instances and sentinels that
docker-compose.yml declares (control/topology.py), redis-cli as Redis's admin in any of their
containers, and which instance is the primary (control/redis.py's rule, asked from a container
the test chooses). How to run a command in a service's container is passed in (Compose or a
Swarm node)."""

import json
import subprocess

from control import redis
from control.topology import INSTANCE_PORT, SENTINEL_PORT, Topology
from helpers.support import ROOT

# redis-cli as Redis's admin, inside a Redis container (which has the secret): ADMIN_CLI + its arguments
ADMIN_CLI = [
    "sh",
    "-c",
    'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" '
    'exec redis-cli --no-auth-warning --user admin "$@"',
    "redis-cli",
]


def read_topology(env=None, tree=ROOT):
    """The topology that docker-compose.yml in `tree` declares (with `env`'s settings)."""
    config = subprocess.run(
        ["docker", "compose", "--profile", "sentinel", "config", "--format", "json"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Topology(json.loads(config))


class NoPrimary(OSError):
    """No majority of the sentinels names one primary (yet): a passing state, as a refused
    connection is, so that a wait (helpers.support.wait_for) asks again."""


class RedisGroup:
    """`run_in(service, argv, check)` runs argv in the service's container and returns its
    standard output, or "" (with check=False) where the service has no running container."""

    def __init__(self, topology, run_in):
        self.topology = topology
        self.run_in = run_in
        self.instances = topology.instances
        self.sentinels = topology.sentinels

    def cli(self, service, *args, check=True):
        """redis-cli as the admin in the service's own container: its output, stripped."""
        return self.run_in(service, [*ADMIN_CLI, *args], check).strip()

    def ask(self, via, name, *args, check=True):
        """redis-cli as the admin on instance or sentinel `name`, from the container of `via`."""
        port = SENTINEL_PORT if name in self.sentinels else INSTANCE_PORT
        return self.cli(via, "-h", name, "-p", str(port), *args, check=check)

    def replication(self, service):
        """INFO replication of an instance, as a dict (empty while it does not answer)."""
        lines = self.cli(service, "INFO", "replication", check=False).splitlines()
        return dict(line.split(":", 1) for line in lines if ":" in line)

    def reached_from(self, via):
        """The product's own view of the group (control/redis.py), asked from the container of `via`."""

        def reach(argv, stdin=None):
            output = self.run_in(via, ["sh", "-c", redis.AS_ADMIN, "sh", *argv], False)
            return subprocess.CompletedProcess(argv, 0, output, "")

        return redis.Group(self.topology, "sentinel", reach)

    def named(self, via):
        """The instance each sentinel that answers names primary (asked from `via`)."""
        return [name for name in self.reached_from(via).named() if name in self.instances]

    def primary(self, via):
        """The instance a majority of the sentinels name primary (asked from `via`), by the rule
        make uses: one back from a lost node may still name the old primary until it hears from
        the others."""
        group = self.reached_from(via)
        primary = group.primary()
        if primary is None:
            raise NoPrimary(f"no majority of the sentinels names one primary: {group.named()}")
        return primary
