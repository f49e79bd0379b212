"""The Redis topology, as the services in docker-compose.yml declare it; everything else asks here.

A Redis instance is a service that runs `start-redis`, a sentinel one that runs `start-sentinel`.
The one Redis of REDIS_MODE=single is the instance in no Compose profile; under Sentinel the
sentinels' REDIS_FIRST_PRIMARY names the first primary and REDIS_PRIMARY_NAME the group.

    docker compose --profile sentinel config --format json | python3 -m control topology WHAT

WHAT is one of:
  instances [MODE]   the Redis instances, the first primary first (MODE single: the one Redis)
  sentinels [MODE]   the sentinels (none under single)
  group [MODE]       the instances, then the sentinels
  sentinel-list      host:port of every sentinel, separated by commas (REDIS_SENTINELS)
  primary-name       the sentinels' name for the primary
  volumes NAME...    the Docker volumes (with the project's prefix) that these services mount
  targets KIND MODE SCHEME   Prometheus's file_sd targets of the instances or sentinels (KIND
                     redis|sentinel), reached as SCHEME (redis, or rediss: over TLS)
  exporter-passwords FILE SCHEME   redis_exporter's password file: each address, with the user,
                     to the password in FILE
"""

import json
import sys

# Where the instances and sentinels listen: redis/start-redis.sh and redis/start-sentinel.sh.
INSTANCE_PORT = 6379
SENTINEL_PORT = 26379


class TopologyError(ValueError):
    """The Compose file does not declare a topology that can run."""


def runs(spec, command):
    return (spec.get("command") or [None])[0] == command


class Topology:
    def __init__(self, config):
        self.config = config
        services = config["services"]
        self.sentinels = sorted(name for name, spec in services.items() if runs(spec, "start-sentinel"))
        instances = sorted(name for name, spec in services.items() if runs(spec, "start-redis"))
        alone = [name for name in instances if not services[name].get("profiles")]
        if len(alone) != 1:
            raise TopologyError(f"one Redis instance must be in no profile (the one Redis), found {alone}")
        self.single = alone[0]
        first = {services[name]["environment"].get("REDIS_FIRST_PRIMARY") for name in self.sentinels}
        names = {services[name]["environment"].get("REDIS_PRIMARY_NAME") for name in self.sentinels}
        if self.sentinels and (len(first) != 1 or not first <= set(instances)):
            raise TopologyError(f"the sentinels' REDIS_FIRST_PRIMARY must name one instance, got {first}")
        if len(names) > 1:
            raise TopologyError(f"the sentinels' REDIS_PRIMARY_NAME must be one name, got {names}")
        self.first_primary = first.pop() if first else self.single
        self.primary_name = names.pop() if names else "counter"
        self.instances = [self.first_primary] + [n for n in instances if n != self.first_primary]

    def of(self, mode):
        """(instances, sentinels) that run under REDIS_MODE `mode`."""
        if mode == "single":
            return [self.single], []
        return self.instances, self.sentinels

    def addresses(self, kind, mode):
        instances, sentinels = self.of(mode)
        if kind == "redis":
            return [f"{name}:{INSTANCE_PORT}" for name in instances]
        return [f"{name}:{SENTINEL_PORT}" for name in sentinels]


def volumes(config, names):
    """The full names of the named volumes the services mount."""
    return [
        config["volumes"][mount["source"]].get("name", mount["source"])
        for name in names
        for mount in config["services"][name].get("volumes", [])
        if mount.get("type") == "volume"
    ]


def targets(topology, kind, mode, scheme):
    """Prometheus's file_sd targets of the instances or sentinels (KIND redis|sentinel) that run
    under MODE, reached as SCHEME (redis, or rediss: over TLS)."""
    addresses = topology.addresses(kind, mode)
    return [{"targets": addresses, "labels": {"__scheme": scheme}}] if addresses else []


def exporter_passwords(topology, password, scheme):
    """redis_exporter's password file: each address any mode has, with the user, to PASSWORD."""
    every = topology.addresses("redis", "sentinel") + topology.addresses("sentinel", "sentinel")
    return {f"{scheme}://exporter@{address}": password for address in every}


def answer(topology, what, args):
    mode = args[0] if args else "sentinel"
    if what in ("instances", "sentinels", "group"):
        instances, sentinels = topology.of(mode)
        names = {"instances": instances, "sentinels": sentinels, "group": instances + sentinels}[what]
        return "\n".join(names)
    if what == "sentinel-list":
        return ",".join(topology.addresses("sentinel", "sentinel"))
    if what == "volumes":
        return "\n".join(volumes(topology.config, args))
    if what == "primary-name":
        return topology.primary_name
    if what == "targets":
        return json.dumps(targets(topology, *args))
    if what == "exporter-passwords":
        path, scheme = args
        with open(path) as secret:
            return json.dumps(exporter_passwords(topology, secret.read().strip(), scheme))
    raise TopologyError(f"no such question: {what}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(answer(Topology(json.load(sys.stdin)), argv[0], argv[1:]))
    except (TopologyError, OSError, ValueError, KeyError) as error:
        print(f"topology: {error}", file=sys.stderr)
        return 1
    return 0
