"""The Redis users that `make secrets` makes: the app can count, and nothing more."""

import subprocess

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from counter import create_app
from support import ROOT, RedisServer


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("secrets")
    env = {"SECRETS_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "scripts/secrets.sh"], cwd=ROOT, env=env, check=True, capture_output=True)
    return directory


@pytest.fixture(scope="module")
def locked_redis(secrets_dir, tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("data"), "--aclfile", str(secrets_dir / "redis_users.acl"))
    server.start()
    yield server
    server.stop()


def app_as_counter_user(server, secrets_dir):
    return create_app(
        {
            "REDIS_URL": server.url,
            "REDIS_USERNAME": "counter",
            "REDIS_PASSWORD_FILE": str(secrets_dir / "redis_app_password"),
        }
    )


def password(secrets_dir, name):
    return (secrets_dir / name).read_text()


SECRET_OF = {"counter": "redis_app_password", "admin": "redis_admin_password"}


def connect_as(server, secrets_dir, username):
    return Redis.from_url(server.url, username=username, password=password(secrets_dir, SECRET_OF[username]))


def test_secrets_are_made_once_and_kept(secrets_dir):
    before = password(secrets_dir, "redis_app_password")
    subprocess.run(
        ["bash", "scripts/secrets.sh"], cwd=ROOT, env={"SECRETS_DIR": str(secrets_dir)}, check=True
    )
    assert password(secrets_dir, "redis_app_password") == before
    assert len(before) == 48
    assert password(secrets_dir, "redis_admin_password") != before
    assert before not in (secrets_dir / "redis_users.acl").read_text()


def test_app_counts_as_its_acl_user(locked_redis, secrets_dir):
    client = app_as_counter_user(locked_redis, secrets_dir).test_client()
    assert client.get("/", headers={"Idempotency-Key": "acl"}).status_code == 200
    assert client.get("/", headers={"Idempotency-Key": "acl"}).status_code == 200
    assert client.get("/count").get_json() == {"count": 1}
    assert client.get("/stats").get_json()["total"] == 1
    assert client.get("/readyz").status_code == 200


def test_counts_survive_a_redis_crash_under_the_acl(secrets_dir, tmp_path):
    # Redis replays its log as `default`: the ACL must not make it drop logged increments.
    server = RedisServer(tmp_path, "--aclfile", str(secrets_dir / "redis_users.acl"))
    server.start()
    client = app_as_counter_user(server, secrets_dir).test_client()
    try:
        for n in range(5):
            client.get("/", headers={"Idempotency-Key": f"crash-{n}"})
        server.stop()  # SIGKILL
        server.start()
        assert client.get("/stats").get_json()["total"] == 5
        replayed = client.get("/", headers={"Idempotency-Key": "crash-4"})
        assert replayed.get_data(as_text=True) == "Hello World! I have been seen 5 times.\n"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "command", [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("DEBUG", "SLEEP", "0")]
)
def test_app_user_is_refused_dangerous_commands(locked_redis, secrets_dir, command):
    app_user = connect_as(locked_redis, secrets_dir, "counter")
    with pytest.raises(ResponseError):  # DEBUG is also disabled server-wide, whose error comes first
        app_user.execute_command(*command)
    admin = connect_as(locked_redis, secrets_dir, "admin")
    verdict = admin.execute_command("ACL", "DRYRUN", "counter", *command).decode()
    assert verdict.startswith("This user has no permissions to run"), verdict


def test_app_user_is_refused_keys_outside_the_counter(locked_redis, secrets_dir):
    app_user = connect_as(locked_redis, secrets_dir, "counter")
    with pytest.raises(NoPermissionError):
        app_user.set("other", 1)


def test_no_password_no_access(locked_redis):
    with pytest.raises((AuthenticationError, ResponseError)):
        Redis.from_url(locked_redis.url).get("counter:total")
    with pytest.raises(AuthenticationError):
        Redis.from_url(locked_redis.url, username="counter", password="wrong").ping()


def test_admin_can_reset(locked_redis, secrets_dir):
    admin = connect_as(locked_redis, secrets_dir, "admin")
    admin.set("counter:total", 5)
    assert admin.flushdb() is True
    assert admin.get("counter:total") is None
