"""Helpers the tests share: free ports, waiting, and a real redis-server process."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True


def wait_for(check, seconds, what, interval=0.05):
    """Call check() every `interval` seconds until it is true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if check():
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(interval)
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
