"""The Redis topology has one home, the services in docker-compose.yml (control/topology.py reads
them): a fourth Redis instance and a renamed sentinel, added there alone, are found by what
`make up`, `make bench`, `make deploy` and `make monitor` derive from it. Needs Compose's
`config` only (no engine)."""

import json
import os
import subprocess
import sys

import pytest

from helpers.support import edit, project_copy

pytestmark = pytest.mark.e2e

REDIS_4 = """  redis-4:
    <<: *redis
    profiles: [sentinel]
    environment: {<<: *redis-environment, REDIS_ANNOUNCE: redis-4}
    volumes: [redis-4-data:/data]
    networks:
      back: {ipv4_address: "${BACK_NETWORK:-10.210.0}.14"}

  sentinel-1:
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of the project whose docker-compose.yml has redis-4, and sentinel-3 named sentinel-c."""
    tree = project_copy(tmp_path_factory.mktemp("tree") / "counter")
    compose = tree / "docker-compose.yml"
    edit(compose, "  sentinel-1:\n", REDIS_4)
    edit(compose, "  redis-3-data: {}\n", "  redis-3-data: {}\n  redis-4-data: {}\n")
    hosts = '  - "redis-3:${BACK_NETWORK:-10.210.0}.13"\n'
    edit(compose, hosts, hosts + '  - "redis-4:${BACK_NETWORK:-10.210.0}.14"\n')
    edit(compose, '  - "sentinel-3:', '  - "sentinel-c:')
    edit(compose, "  sentinel-3:\n", "  sentinel-c:\n")
    edit(compose, "SENTINEL_ANNOUNCE: sentinel-3}", "SENTINEL_ANNOUNCE: sentinel-c}")
    return tree


def topology(tree, *question):
    """What `python3 -m control topology` answers of the tree's docker-compose.yml."""
    config = subprocess.run(
        ["docker", "compose", "--profile", "sentinel", "config", "--format", "json"],
        cwd=tree, capture_output=True, text=True, check=True, env={**os.environ, "REDIS_SENTINELS": ""},
    ).stdout  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "control", "topology", *question],
        input=config, cwd=tree, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_make_lists_every_instance_and_sentinel(tree, docker):
    assert topology(tree, "instances", "sentinel") == ["redis", "redis-2", "redis-3", "redis-4"]
    assert topology(tree, "sentinels", "sentinel") == ["sentinel-1", "sentinel-2", "sentinel-c"]
    assert topology(tree, "instances", "single") == ["redis"]  # bench's single tier
    # What the app and every instance are given (REDIS_SENTINELS): make up exports it.
    (listed,) = topology(tree, "sentinel-list")
    assert listed == "sentinel-1:26379,sentinel-2:26379,sentinel-c:26379"


def test_prometheus_targets_name_every_instance_and_sentinel(tree, docker):
    targets = json.loads(" ".join(topology(tree, "targets", "redis", "sentinel", "redis")))
    assert targets == [
        {
            "targets": [f"{name}:6379" for name in ("redis", "redis-2", "redis-3", "redis-4")],
            "labels": {"__scheme": "redis"},
        }
    ]
    sentinels = json.loads(" ".join(topology(tree, "targets", "sentinel", "sentinel", "rediss")))
    assert sentinels == [
        {
            "targets": ["sentinel-1:26379", "sentinel-2:26379", "sentinel-c:26379"],
            "labels": {"__scheme": "rediss"},
        }
    ]
    assert json.loads(" ".join(topology(tree, "targets", "sentinel", "single", "redis"))) == []


def test_the_swarm_stack_places_every_instance_and_sentinel_on_its_labelled_node(tree, docker):
    config = subprocess.run(
        ["docker", "compose", "--profile", "sentinel", "config", "--format", "json"],
        cwd=tree, capture_output=True, text=True, check=True,
        env={**os.environ, "REDIS_SENTINELS": "x:1"},
    ).stdout  # fmt: skip
    images = [f"--image={name}=reg/c-{name}:1" for name in ("redis", "web", "lb")]
    done = subprocess.run(
        ["python3", "-m", "control", "stackfile", "--stack", "c", "--replicas", "2", *images],
        input=config, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    services = json.loads(done.stdout)["services"]
    for name in ("redis-4", "sentinel-c"):
        assert services[name]["deploy"]["placement"] == {
            "constraints": [f"node.labels.counter.{name} == true"]
        }
    assert "sentinel-3" not in services
