"""Fixtures for the app's tests: a real redis-server on a free port, the app, and gunicorn."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from counter import create_app

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {seconds} s")


class RedisServer:
    """A redis-server process of its own, with its data in `directory`."""

    def __init__(self, directory, *args):
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.directory = directory
        self.args = args
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", *self.args]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 10, "redis-server")

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


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
    return create_app({"REDIS_URL": redis_url, "REDIS_RETRIES": 0})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def gunicorn(redis_url):
    """The app served by gunicorn with several workers and threads, as in its container."""
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="3")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT / "web",
        env=env,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: port_open(port), 15, "gunicorn")
    yield port
    process.terminate()
    process.wait(timeout=20)
