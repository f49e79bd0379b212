"""The app under Sentinel, against real processes: a primary, two replicas and three sentinels,
each logging in with the users `make secrets` makes. The acknowledgement (WAITAOF) needs Redis
7.2 or later, which the end-to-end tests run; here the Redis is the host's, so it is off.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis
from redis.exceptions import NoPermissionError

from counter import create_app
from counter.redis_client import KEEP_OPEN_EVERY, LoginRefused
from helpers.support import RedisServer, SentinelServer, free_port, users_file, wait_for


def secret(secrets_dir, name):
    return (secrets_dir / name).read_text()


class Group:
    def __init__(self, secrets_dir, directory):
        acl = ["--aclfile", str(users_file(secrets_dir))]
        login = ["--masteruser", "replica", "--masterauth", secret(secrets_dir, "redis_replica_password")]
        self.secrets_dir = secrets_dir
        for name in ("redis-1", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3"):
            (directory / name).mkdir()
        self.primary = RedisServer(directory / "redis-1", *acl, *login)
        self.primary.start()
        self.replicas = [
            RedisServer(
                directory / f"redis-{n}", *acl, *login, "--replicaof", "127.0.0.1", str(self.primary.port)
            )
            for n in (2, 3)
        ]
        self.sentinels = [
            SentinelServer(directory / f"sentinel-{n}", self.primary.port, secrets_dir) for n in (1, 2, 3)
        ]
        for server in (*self.replicas, *self.sentinels):
            server.start()
        wait_for(self.settled, 30, "the sentinels to find the replicas and each other", interval=0.2)

    def as_admin(self, server):
        return Redis(
            port=server.port, username="admin", password=secret(self.secrets_dir, "redis_admin_password")
        )

    def view(self, sentinel):
        return self.as_admin(sentinel).sentinel_master("counter")

    def settled(self):
        views = [self.view(sentinel) for sentinel in self.sentinels]
        return all(v["num-slaves"] == 2 and v["num-other-sentinels"] == 2 for v in views)

    def primary_port(self):
        return self.view(self.sentinels[0])["port"]

    def app(self, **settings):
        return create_app(
            {
                "REDIS_MODE": "sentinel",
                "REDIS_SENTINELS": ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
                "REDIS_USERNAME": "counter",
                "REDIS_PASSWORD_FILE": str(self.secrets_dir / "redis_app_password"),
                "REDIS_ACK_REPLICAS": 0,
                **settings,
            }
        )

    def stop(self):
        for server in (*self.sentinels, *self.replicas, self.primary):
            server.stop()


@pytest.fixture(scope="module")
def group(secrets_dir, tmp_path_factory):
    group = Group(secrets_dir, tmp_path_factory.mktemp("group"))
    yield group
    group.stop()


def test_replicas_and_sentinels_log_in_as_their_own_users(group):
    # settled: every sentinel logged in to the primary and the replicas (which replicate as
    # `replica`) and found the other two sentinels.
    view = group.view(group.sentinels[2])
    assert view["is_master"] and (view["num-slaves"], view["num-other-sentinels"]) == (2, 2)


def test_the_app_counts_on_the_primary_the_sentinels_name_and_replicas_follow(group):
    client = group.app().test_client()
    before = client.get("/count").get_json()["count"]
    assert client.get("/").get_data(as_text=True) == f"Hello World! I have been seen {before + 1} times.\n"
    assert client.get("/stats").get_json()["total"] == before + 1
    primary = next(s for s in (group.primary, *group.replicas) if s.port == group.primary_port())
    assert int(group.as_admin(primary).get("counter:total")) == before + 1
    replica = next(s for s in (group.primary, *group.replicas) if s is not primary)
    wait_for(lambda: int(group.as_admin(replica).get("counter:total") or 0) == before + 1, 5, "replication")


def test_the_apps_user_may_only_ask_the_sentinels_where_the_primary_is(group):
    as_app = Redis(
        port=group.sentinels[0].port,
        username="counter",
        password=secret(group.secrets_dir, "redis_app_password"),
    )
    assert "counter" in as_app.sentinel_masters()
    for command in (("SENTINEL", "FAILOVER", "counter"), ("SENTINEL", "SET", "counter", "quorum", "1")):
        with pytest.raises(NoPermissionError):
            as_app.execute_command(*command)


def test_a_demoted_primary_is_left_for_the_new_one_within_the_request(group):
    client = group.app().test_client()
    assert client.get("/").status_code == 200  # a pooled connection to the primary
    before, old = client.get("/count").get_json()["count"], group.primary_port()
    group.as_admin(group.sentinels[0]).sentinel_failover("counter")
    wait_for(lambda: group.primary_port() != old, 15, "a new primary")
    old_primary = next(s for s in (group.primary, *group.replicas) if s.port == old)
    wait_for(
        lambda: group.as_admin(old_primary).info("replication")["role"] == "slave", 15, "the old one demoted"
    )
    # The pooled connection now reaches a replica (READONLY): the request goes to the new primary.
    assert client.get("/").get_data(as_text=True) == f"Hello World! I have been seen {before + 1} times.\n"


def test_threads_that_need_the_primary_at_once_ask_the_sentinels_one_round(group):
    # As every thread of a replica does at a switch, when the old primary closes their connections.
    threads = 32
    pool = group.app().extensions["counter_store"].client.connection_pool
    admins = [group.as_admin(sentinel) for sentinel in group.sentinels]

    def commands():
        return [admin.info("stats")["total_commands_processed"] for admin in admins]

    start = threading.Barrier(threads)

    def ask(_):
        start.wait()
        return pool.get_master_address()

    before = commands()
    with ThreadPoolExecutor(threads) as asking:
        answers = set(asking.map(ask, range(threads)))
    taken = [after - earlier for earlier, after in zip(before, commands(), strict=True)]
    assert answers == {("127.0.0.1", group.primary_port())}
    # One round: a SENTINEL MASTERS, the INFO of `commands()`, and maybe a PING or two from the
    # other sentinels (2 each here). A round per thread: over `threads` each (40 each here).
    assert max(taken) < 8, taken


def connections_of_the_app(group, sentinel):
    return sum(client["user"] == "counter" for client in group.as_admin(sentinel).client_list())


def test_a_process_keeps_a_connection_to_each_sentinel_open_when_no_request_needs_one(group):
    """A sentinel restarted (as a roll replaces it) gets a connection from the app again with no
    request made: at a switch, the round then costs a question to each, not a new connection."""
    group.app()  # a process, its connections to the sentinels made at start
    sentinel = group.sentinels[1]
    sentinel.stop()
    sentinel.start()
    assert connections_of_the_app(group, sentinel) == 0
    try:
        wait_for(lambda: connections_of_the_app(group, sentinel) > 0, 3 * KEEP_OPEN_EVERY, "a connection")
    finally:
        wait_for(group.settled, 30, "the restarted sentinel among the others", interval=0.2)


def test_a_wrong_password_at_the_sentinels_fails_the_app_at_start(group, tmp_path):
    (tmp_path / "wrong").write_text("not-the-password")
    with pytest.raises(LoginRefused, match="sentinel 127.0.0.1:[0-9]+: "):
        group.app(REDIS_PASSWORD_FILE=str(tmp_path / "wrong"))


def test_with_no_sentinel_answering_a_request_is_a_503_saying_what_each_one_said(group, caplog):
    nowhere = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    client = group.app(REDIS_SENTINELS=nowhere, REDIS_START_WAIT=0).test_client()
    with caplog.at_level(logging.WARNING):
        response = client.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    lines = {r.getMessage() for r in caplog.records}
    (line,) = {line for line in lines if line.startswith("counter store unreachable")}
    assert line.startswith("counter store unreachable: no primary for 'counter': 127.0.0.1:")
    assert line.count("Connection refused") == 2, line
