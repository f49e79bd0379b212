"""`make bench`: containers' CPU time, read from their cgroup counters (cgroup v1's cpuacct.usage,
nanoseconds since the container started), so a window's CPU is exact rather than sampled."""

import os
import socket
from pathlib import Path

# The host's /sys/fs/cgroup, mounted read-only into the bench container (docker-compose.yml).
CGROUP = Path(os.environ.get("BENCH_CGROUP", "/host/cgroup")) / "cpuacct" / "docker"


class Unreadable(RuntimeError):
    """A container's CPU counter cannot be read: its message is one line with the path."""


def usage_ns(container):
    path = CGROUP / container / "cpuacct.usage"
    try:
        return int(path.read_text())
    except (OSError, ValueError) as error:
        raise Unreadable(
            f"cannot read the CPU counter of container {container[:12]} at {path} ({error}); "
            "make bench reads cgroup v1's cpuacct, as Docker Engine sets it up there"
        ) from None


def own_container():
    """This container's full id: its hostname is the id's first 12 characters."""
    short = socket.gethostname()
    found = sorted(path.name for path in CGROUP.glob(f"{short}*") if path.is_dir())
    if len(found) != 1:
        raise Unreadable(f"cannot find this container's CPU counter ({short}) under {CGROUP}")
    return found[0]


class Tiers:
    """Named groups of containers ({"web": [id, id], "lb": [id], ...}), read together."""

    def __init__(self, tiers):
        self.tiers = tiers

    def read(self):
        return {c: usage_ns(c) for containers in self.tiers.values() for c in containers}

    def seconds(self, before, after):
        """{tier: CPU seconds of its containers together} between two reads."""
        return {
            tier: sum(after[c] - before[c] for c in containers) / 1e9
            for tier, containers in self.tiers.items()
        }

    def per_container(self, before, after, seconds):
        """{tier: [ms of CPU per second of each container]} between two reads `seconds` apart."""
        return {
            tier: [(after[c] - before[c]) / 1e6 / seconds for c in containers]
            for tier, containers in self.tiers.items()
        }


def parse_tiers(specs):
    """["web=ID", "web=ID", "lb=ID"] -> {"web": [ID, ID], "lb": [ID]}"""
    tiers = {}
    for spec in specs:
        tier, sep, container = spec.partition("=")
        if not sep or not tier or not container:
            raise ValueError(f"a tier is NAME=CONTAINER_ID, got {spec!r}")
        tiers.setdefault(tier, []).append(container)
    return tiers
