"""The Redis users that `make secrets` makes: the app can count, and nothing more."""

import hashlib
import os
import subprocess
import sys

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from counter import create_app
from counter.redis_client import LoginRefused
from helpers.support import ROOT, RedisServer, free_port, users_file


@pytest.fixture(scope="module")
def locked_redis(secrets_dir, tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("data"), "--aclfile", str(users_file(secrets_dir)))
    server.start()
    yield server
    server.stop()


def app_as_counter_user(server, secrets_dir, password_file="redis_app_password"):
    return create_app(
        {
            "REDIS_URL": server.url,
            "REDIS_USERNAME": "counter",
            "REDIS_PASSWORD_FILE": str(secrets_dir / password_file),
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
        [sys.executable, "-m", "control", "secrets"],
        cwd=ROOT,
        env={"SECRETS_DIR": str(secrets_dir)},
        check=True,
    )
    assert password(secrets_dir, "redis_app_password") == before
    assert len(before) == 48
    acl = (secrets_dir / "redis_users.acl").read_text()
    for name in ("redis_app_password", "redis_admin_password"):
        assert password(secrets_dir, name) not in acl  # only its hash is there
        assert "#" + hashlib.sha256(password(secrets_dir, name).encode()).hexdigest() in acl


def test_each_user_logs_in_with_its_own_password_only(locked_redis, secrets_dir):
    assert connect_as(locked_redis, secrets_dir, "admin").ping()
    assert connect_as(locked_redis, secrets_dir, "counter").ping()
    admins = password(secrets_dir, "redis_admin_password")
    with pytest.raises(AuthenticationError):
        Redis.from_url(locked_redis.url, username="counter", password=admins).ping()


def test_the_healthcheck_user_may_ping_with_no_secret_and_do_nothing_else(locked_redis):
    # The container's probe, as docker-compose.yml runs it: redis-cli exits 0 only on PONG.
    probe = ["redis-cli", "-p", str(locked_redis.port), "-e", "--no-auth-warning", "--user", "healthcheck"]
    ping = subprocess.run([*probe, "--pass", "any", "ping"], capture_output=True, text=True)
    assert (ping.returncode, ping.stdout.strip()) == (0, "PONG")
    read = subprocess.run([*probe, "--pass", "any", "get", "counter:total"], capture_output=True, text=True)
    assert read.returncode != 0 and "NOPERM" in read.stdout + read.stderr
    anonymous = subprocess.run([*probe[:3], "-e", "ping"], capture_output=True, text=True)
    assert anonymous.returncode != 0 and "NOAUTH" in anonymous.stdout + anonymous.stderr


def test_app_counts_as_its_acl_user(locked_redis, secrets_dir):
    client = app_as_counter_user(locked_redis, secrets_dir).test_client()
    assert client.get("/", headers={"Idempotency-Key": "acl"}).status_code == 200
    assert client.get("/", headers={"Idempotency-Key": "acl"}).status_code == 200
    assert client.get("/count").get_json() == {"count": 1}
    assert client.get("/stats").get_json()["total"] == 1
    assert client.get("/readyz").status_code == 200


def test_counts_survive_a_redis_crash_under_the_acl(secrets_dir, tmp_path):
    # Redis replays its log as `default`: the ACL must not make it drop logged increments.
    server = RedisServer(tmp_path, "--aclfile", str(users_file(secrets_dir)))
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


def refused_logins(server, secrets_dir):
    """How many logins Redis refused so far, from its ACL log."""
    log = connect_as(server, secrets_dir, "admin").acl_log(count=1000)
    return sum(int(entry["count"]) for entry in log if entry["reason"] == "auth")


def test_a_wrong_password_fails_the_app_at_start_naming_the_cause(locked_redis, secrets_dir):
    (secrets_dir / "wrong_password").write_text("not-the-password")
    before = refused_logins(locked_redis, secrets_dir)
    with pytest.raises(LoginRefused, match="Redis refused the login of user 'counter'"):
        app_as_counter_user(locked_redis, secrets_dir, "wrong_password")
    assert refused_logins(locked_redis, secrets_dir) - before == 1  # tried once, not retried


def test_a_login_refused_while_serving_is_500_and_not_retried(locked_redis, secrets_dir):
    client = app_as_counter_user(locked_redis, secrets_dir).test_client()
    assert client.get("/").status_code == 200
    admin = connect_as(locked_redis, secrets_dir, "admin")
    app_password = password(secrets_dir, "redis_app_password")
    admin.execute_command("ACL", "SETUSER", "counter", "resetpass", ">rotated-elsewhere")
    admin.client_kill_filter(_type=None, user="counter")
    try:
        before = refused_logins(locked_redis, secrets_dir)
        response = client.get("/")
        assert response.status_code == 500
        assert response.get_data(as_text=True) == (
            "500 Internal Server Error: the counter store refused the app's login\n"
        )
        assert "Retry-After" not in response.headers  # not an outage: waiting will not help
        assert refused_logins(locked_redis, secrets_dir) - before == 1
    finally:
        admin.execute_command("ACL", "SETUSER", "counter", "resetpass", ">" + app_password)


def test_gunicorn_with_a_refused_login_exits_and_never_serves(locked_redis, secrets_dir):
    port = free_port()
    env = dict(
        os.environ,
        REDIS_URL=locked_redis.url,
        REDIS_USERNAME="counter",
        REDIS_PASSWORD_FILE=str(secrets_dir / "redis_admin_password"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT / "web",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Redis refused the login of user 'counter'" in done.stderr
