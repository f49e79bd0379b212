"""A sentinel's start (redis/start-sentinel.sh), against real processes: when the whole group
starts again, the sentinels are up before the instances (which ask them their roles), and a
primary slower than REDIS_DOWN_AFTER_MS to answer keeps its role rather than being failed over.
"""

import time

import pytest
from redis import Redis

from helpers.support import RedisServer, SentinelServer, users_file, wait_for

LATE = 4  # seconds the primary starts after the sentinels: four times their REDIS_DOWN_AFTER_MS


class Group:
    """A primary, two replicas and three sentinels, stopped and started again as a whole."""

    def __init__(self, secrets_dir, directory, grace):
        self.secrets_dir = secrets_dir
        acl = ["--aclfile", str(users_file(secrets_dir))]
        login = ["--masteruser", "replica", "--masterauth", self.secret("redis_replica_password")]
        for name in ("redis-1", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3"):
            (directory / name).mkdir()
        self.primary = RedisServer(directory / "redis-1", *acl, *login)
        follow = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replicas = [RedisServer(directory / f"redis-{n}", *acl, *login, *follow) for n in (2, 3)]
        self.sentinels = [
            SentinelServer(directory / f"sentinel-{n}", self.primary.port, secrets_dir, grace=grace)
            for n in (1, 2, 3)
        ]

    def secret(self, name):
        return (self.secrets_dir / name).read_text()

    def view(self, sentinel):
        admin = Redis(port=sentinel.port, username="admin", password=self.secret("redis_admin_password"))
        return admin.sentinel_master("counter")

    def settled(self):
        views = [self.view(sentinel) for sentinel in self.sentinels]
        return all(v["num-slaves"] == 2 and v["num-other-sentinels"] == 2 for v in views)

    def start_with_the_primary_late(self):
        """Sentinels first (with what they learned), then the replicas, the primary LATE s after."""
        for server in (*self.sentinels, *self.replicas):
            server.start()
        time.sleep(LATE)
        self.primary.start()

    def stop(self):
        for server in (*self.sentinels, *self.replicas, self.primary):
            server.stop()


@pytest.fixture
def group(request, secrets_dir, tmp_path):
    group = Group(secrets_dir, tmp_path, grace=request.param)
    group.primary.start()
    for server in (*group.replicas, *group.sentinels):
        server.start()
    wait_for(group.settled, 30, "the sentinels to find the replicas and each other", interval=0.2)
    group.stop()
    yield group
    group.stop()


@pytest.mark.parametrize("group", [60], indirect=True)
def test_a_primary_that_answers_late_after_a_whole_restart_stays_primary(group):
    group.start_with_the_primary_late()

    def judging_as_usual():
        views = [group.view(sentinel) for sentinel in group.sentinels]
        return all(v["down-after-milliseconds"] == 1000 and v["flags"] == "master" for v in views)

    wait_for(judging_as_usual, 10, "each sentinel judging the primary as usual", interval=0.2)
    time.sleep(2)  # past REDIS_DOWN_AFTER_MS: a sentinel that judged it down would have said so
    views = [group.view(sentinel) for sentinel in group.sentinels]
    assert [v["port"] for v in views] == [group.primary.port] * 3
    assert {v["config-epoch"] for v in views} == {0}, "a failover happened"


@pytest.mark.parametrize("group", [0], indirect=True)
def test_negative_control_with_no_grace_the_late_primary_is_failed_over(group):
    group.start_with_the_primary_late()
    replicas = {replica.port for replica in group.replicas}
    wait_for(
        lambda: all(group.view(sentinel)["port"] in replicas for sentinel in group.sentinels),
        20,
        "the sentinels promoting a replica",
        interval=0.2,
    )
