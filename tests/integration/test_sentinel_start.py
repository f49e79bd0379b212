"""A sentinel's start (redis/start-sentinel.sh), against real processes: when the whole group
starts again, the sentinels are up before the instances (which ask them their roles), and a
primary slower than REDIS_DOWN_AFTER_MS to answer keeps its role rather than being failed over.
And a sentinel that names the old primary at the epoch of the failover that replaced it (what
a failed lookup of the new primary's name leaves: redis/follow-majority.sh) follows the majority.
"""

import re
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
        for sentinel in self.sentinels:
            sentinel.sentinels = self.sentinels

    def secret(self, name):
        return (self.secrets_dir / name).read_text()

    def admin(self, sentinel):
        return Redis(port=sentinel.port, username="admin", password=self.secret("redis_admin_password"))

    def view(self, sentinel):
        return self.admin(sentinel).sentinel_master("counter")

    def start(self):
        """Every member, the primary first, and wait until the sentinels know each other."""
        for server in (self.primary, *self.replicas, *self.sentinels):
            server.start()
        wait_for(self.settled, 30, "the sentinels to find the replicas and each other", interval=0.2)

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
    group.start()
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


@pytest.fixture
def stuck(secrets_dir, tmp_path):
    """The group with sentinel-1 naming the old primary at the epoch of the failover that the
    other two made while it was down, as a sentinel is left when it takes a failover's epoch from
    a hello but cannot resolve the new primary's name. Yields the group and the new primary's port.
    """
    group = Group(secrets_dir, tmp_path, grace=60)
    group.start()
    first, *others = group.sentinels
    first.stop()
    assert group.admin(others[0]).execute_command("SENTINEL", "FAILOVER", "counter")
    replicas = {replica.port for replica in group.replicas}
    wait_for(
        lambda: (
            len({group.view(s)["port"] for s in others} & replicas) == 1
            and len({group.view(s)["port"] for s in others}) == 1
        ),
        20,
        "the other two sentinels naming a replica primary",
        interval=0.2,
    )
    new, epoch = group.view(others[0])["port"], group.view(others[0])["config-epoch"]
    conf = first.directory / "sentinel.conf"
    text = re.sub(
        r"(?m)^sentinel config-epoch counter \d+$", f"sentinel config-epoch counter {epoch}", conf.read_text()
    )
    conf.write_text(re.sub(r"(?m)^sentinel current-epoch \d+$", f"sentinel current-epoch {epoch}", text))
    yield group, new
    group.stop()


def test_a_sentinel_left_on_the_old_primary_at_the_new_epoch_follows_the_majority(stuck):
    group, new = stuck
    first = group.sentinels[0]
    first.follow_after = 2
    first.start()
    view = group.view(first)
    assert (view["port"], view["config-epoch"]) == (
        group.primary.port,
        group.view(group.sentinels[1])["config-epoch"],
    )
    wait_for(lambda: group.view(first)["port"] == new, 30, "sentinel-1 naming the new primary", interval=0.5)
    wait_for(
        lambda: group.view(first)["num-other-sentinels"] == 2 and group.view(first)["num-slaves"] == 2,
        30,
        "sentinel-1 knowing the other sentinels and both replicas again",
        interval=0.5,
    )
    assert group.view(first)["down-after-milliseconds"] == 1000


def test_negative_control_left_alone_such_a_sentinel_names_the_old_primary_for_good(stuck):
    group, new = stuck
    first = group.sentinels[0]
    first.follow_after = 3600
    first.start()
    time.sleep(10)  # five of the hellos, every 2 s, that would bring a lagging sentinel along
    view = group.view(first)
    assert (view["port"], view["config-epoch"]) == (
        group.primary.port,
        group.view(group.sentinels[1])["config-epoch"],
    )
    assert new != group.primary.port
