"""Redis over TLS (REDIS_TLS=on): a real redis-server configured by redis/tls-conf.sh with the
certificates make secrets makes (control/secrets.py). Only a client with a valid certificate from the
stack's own authority gets in; the app is such a client."""

import shutil
import subprocess
import sys

import pytest
from redis import Redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from counter import create_app
from helpers.support import ROOT, RedisServer, users_file, wait_for


def certificates(directory, **env):
    """make secrets into `directory`: its output."""
    done = subprocess.run(
        [sys.executable, "-m", "control", "secrets"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(directory), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def tls_redis(secrets_dir, tmp_path_factory):
    """redis-server with the stack's TLS settings (tls-conf) and users: the server and its log."""
    directory = tmp_path_factory.mktemp("tls-redis")
    mounted = directory / "secrets"  # as a container has them: /run/secrets/redis_tls and _ca
    mounted.mkdir()
    (mounted / "redis_tls").symlink_to(secrets_dir / "redis_tls_server.pem")
    (mounted / "redis_tls_ca").symlink_to(secrets_dir / "redis_tls_ca.crt")
    server = RedisServer(directory)
    conf = subprocess.run(
        ["sh", str(ROOT / "redis/tls-conf.sh"), str(server.port), str(mounted)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    log = directory / "redis.log"
    server.args = (
        *[
            f"--{word}" if i == 0 else word
            for line in conf.splitlines()
            for i, word in enumerate(line.split())
        ],
    )
    server.args += ("--aclfile", str(users_file(secrets_dir)), "--logfile", str(log))
    server.start()
    yield server, log
    server.stop()


def client(server, secrets_dir, **tls):
    """Redis's admin, over TLS as `tls` says (redis-py's ssl_* settings)."""
    password = (secrets_dir / "redis_admin_password").read_text()
    return Redis(
        port=server.port,
        username="admin",
        password=password,
        socket_timeout=2,
        retry=Retry(NoBackoff(), 0),
        ssl=True,
        ssl_check_hostname=False,
        **tls,
    )


def refused(server, log, secrets_dir, logged, **tls):
    """The client is refused, and Redis's log gets a new line that says `logged`. (Redis 7 and 8 say
    "certificate verify failed" for an expired certificate and for a foreign one alike; the client
    hears which, when the alert arrives before its first write: TLS 1.3 checks the client's
    certificate after the handshake.)"""
    before = log.read_text().count(logged)
    with pytest.raises(redis_errors.ConnectionError):
        client(server, secrets_dir, **tls).ping()
    wait_for(lambda: log.read_text().count(logged) > before, 5, f"a new line {logged!r} in Redis's log")


def test_the_app_counts_over_tls_with_its_certificate(tls_redis, secrets_dir):
    server, _ = tls_redis
    app = create_app(
        {
            "REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
            "REDIS_USERNAME": "counter",
            "REDIS_PASSWORD_FILE": str(secrets_dir / "redis_app_password"),
            "REDIS_TLS": "on",
            "REDIS_TLS_CERT_FILE": str(secrets_dir / "redis_tls_app.pem"),
            "REDIS_TLS_CA_FILE": str(secrets_dir / "redis_tls_ca.crt"),
        }
    )
    first = app.test_client().get("/")
    second = app.test_client().get("/")
    assert (first.status_code, second.status_code) == (200, 200)
    seen = [int(answer.get_data(as_text=True).split()[-2]) for answer in (first, second)]
    assert seen[1] == seen[0] + 1


def test_the_plain_port_is_closed(tls_redis, secrets_dir):
    server, log = tls_redis
    password = (secrets_dir / "redis_admin_password").read_text()
    with pytest.raises(redis_errors.ConnectionError):
        Redis(port=server.port, username="admin", password=password, socket_timeout=2).ping()
    wait_for(lambda: "wrong version number" in log.read_text(), 5, "Redis's log line")


def test_a_client_without_a_certificate_is_refused_with_the_password(tls_redis, secrets_dir):
    server, log = tls_redis
    ca = str(secrets_dir / "redis_tls_ca.crt")
    refused(server, log, secrets_dir, "peer did not return a certificate", ssl_ca_certs=ca)


def presenting(pem, secrets_dir):
    """redis-py's TLS settings for a client that presents `pem` and trusts the stack's authority."""
    return {
        "ssl_certfile": str(pem),
        "ssl_keyfile": str(pem),
        "ssl_ca_certs": str(secrets_dir / "redis_tls_ca.crt"),
    }


def same_authority(secrets_dir, directory):
    """`directory` holds the stack's authority (its certificate and key), as make secrets has it."""
    for name in ("redis_tls_ca.crt", "redis_tls_ca.key"):
        shutil.copy(secrets_dir / name, directory / name)


def test_a_foreign_certificate_is_refused(tls_redis, secrets_dir, tmp_path):
    server, log = tls_redis
    certificates(tmp_path)  # another authority, and its certificates
    foreign = presenting(tmp_path / "redis_tls_admin.pem", secrets_dir)
    refused(server, log, secrets_dir, "certificate verify failed", **foreign)


def test_an_expired_certificate_is_refused(tls_redis, secrets_dir, tmp_path):
    server, log = tls_redis
    same_authority(secrets_dir, tmp_path)
    certificates(tmp_path, ROTATE="certs", CERT_DAYS="-1")  # expired yesterday
    expired = presenting(tmp_path / "redis_tls_admin.pem", secrets_dir)
    refused(server, log, secrets_dir, "certificate verify failed", **expired)


def test_a_valid_certificate_gets_in_and_a_renewed_one_too(tls_redis, secrets_dir, tmp_path):
    server, _ = tls_redis
    assert client(server, secrets_dir, **presenting(secrets_dir / "redis_tls_admin.pem", secrets_dir)).ping()
    same_authority(secrets_dir, tmp_path)
    assert "made" in certificates(tmp_path, ROTATE="certs")  # make secrets ROTATE=certs
    renewed = tmp_path / "redis_tls_admin.pem"
    assert renewed.read_text() != (secrets_dir / "redis_tls_admin.pem").read_text()
    assert client(server, secrets_dir, **presenting(renewed, secrets_dir)).ping()


def test_a_certificate_near_its_end_is_named_with_how_to_renew_it(tmp_path):
    certificates(tmp_path, CERT_DAYS="3")
    said = certificates(tmp_path)
    assert "redis_tls_app.pem expires on" in said
    assert "make secrets ROTATE=certs" in said


def test_your_own_authority_without_its_key_keeps_your_certificates_and_names_a_missing_one(tmp_path):
    certificates(tmp_path)  # as if made by your own authority
    (tmp_path / "redis_tls_ca.key").unlink()
    yours = (tmp_path / "redis_tls_app.pem").read_text()
    certificates(tmp_path)
    assert (tmp_path / "redis_tls_app.pem").read_text() == yours
    (tmp_path / "redis_tls_exporter.pem").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "control", "secrets"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"secrets: no {tmp_path}/redis_tls_ca.key to make {tmp_path}/redis_tls_exporter.pem with: "
        "put the certificate and key of your authority's making there (one file)"
    ]
