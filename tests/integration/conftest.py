"""Fixtures for the app's tests: a real redis-server on a free port, the app, and gunicorn."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from redis import Redis

from counter import create_app
from helpers.support import ROOT, RedisServer, free_port, port_open, wait_for


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory):
    """The Redis users and passwords, as `make secrets` makes them."""
    directory = tmp_path_factory.mktemp("secrets")
    env = {"SECRETS_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-m", "control", "secrets"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return directory


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(shared_redis):
    """The shared server, emptied for each test."""
    Redis.from_url(shared_redis.url).flushall()
    return shared_redis.url


@pytest.fixture
def own_redis(tmp_path):
    """A server this test may stop and start."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(redis_url):
    return create_app({"REDIS_URL": redis_url})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def gunicorn_server(redis_url, tmp_path):
    """The app served by gunicorn with several workers and threads, as in its container: its
    process, port and log (a file)."""
    port = free_port()
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="3",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    log = tmp_path / "gunicorn.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT / "web",
            env=env,
            stderr=stderr,
        )
    wait_for(lambda: port_open(port), 15, "gunicorn")
    yield SimpleNamespace(process=process, port=port, log=log)
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def gunicorn(gunicorn_server):
    return gunicorn_server.port
