"""Helpers the tests share: free ports, waiting, and a real redis-server process."""

import os
import re
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
    """Whether something accepts connections on the port of 127.0.0.1."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def project_copy(tree):
    """A copy of the project at `tree`, with its secrets and .env, for a test that edits it."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # Every secret as it is: a new one (say, the exporter's password) would change Redis's ACL
    # file, so its secret, so Redis would be replaced in the middle of another change.
    secrets = [str(path.relative_to(ROOT)) for path in (ROOT / "secrets").glob("*")]
    for name in [*files, *secrets, ".env"]:
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    return tree


def edit(path, old, new):
    """Replace `old` (which must be there) with `new` in the file at `path`."""
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


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


def server_version():
    """The host's redis-server version, as a tuple of numbers."""
    done = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=True)
    return tuple(int(n) for n in re.search(r"v=(\d+)\.(\d+)\.(\d+)", done.stdout).groups())


def users_file(secrets_dir, name="redis_users.acl"):
    """The ACL file `make secrets` made, as the host's redis-server can load it: a Redis older than
    7.2 has no WAITAOF (the stack's Redis is 8), so its copy goes without that one permission."""
    acl = secrets_dir / name
    if server_version() >= (7, 2):
        return acl
    older = secrets_dir / f"{name}.before-7.2"
    older.write_text(acl.read_text().replace(" +waitaof", ""))
    return older


class SentinelServer(RedisServer):
    """A sentinel of the group `counter` whose first primary listens on `primary_port`, run by the
    stack's own redis/start-sentinel.sh: it logs in to Redis and to the other sentinels as the
    `sentinel` user, with the secrets `make secrets` made in `secrets_dir`."""

    SECRETS = {
        "redis_sentinel_acl": "redis_sentinel.acl",
        "redis_sentinel_password": "redis_sentinel_password",
        "redis_admin_password": "redis_admin_password",
    }

    def __init__(self, directory, primary_port, secrets_dir, grace=60):
        super().__init__(directory)
        self.primary_port = primary_port
        self.grace = grace
        self.sentinels = []  # every sentinel of the group, this one included (REDIS_SENTINELS)
        self.follow_after = 15  # SENTINEL_FOLLOW_AFTER
        self.secrets = directory / "secrets"  # named as Compose names them in a container
        self.secrets.mkdir(exist_ok=True)
        for name, made in self.SECRETS.items():
            (self.secrets / name).symlink_to(secrets_dir / made)

    def start(self):
        settings = {
            "SENTINEL_DIR": self.directory,  # a restart keeps what the sentinel learned there
            "SECRETS_DIR": self.secrets,
            "SENTINEL_PORT": self.port,
            "SENTINEL_ANNOUNCE": "127.0.0.1",
            "REDIS_PRIMARY_NAME": "counter",
            "REDIS_FIRST_PRIMARY": "127.0.0.1",
            "REDIS_PORT": self.primary_port,
            "REDIS_SENTINEL_QUORUM": 2,
            "REDIS_DOWN_AFTER_MS": 1000,
            "REDIS_FAILOVER_TIMEOUT_MS": 5000,
            "SENTINEL_START_GRACE": self.grace,
            "SENTINEL_FOLLOW_AFTER": self.follow_after,
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels),
            "REDIS_LIB": ROOT / "redis",
        }
        env = {**os.environ, **{key: str(value) for key, value in settings.items()}}
        script = ROOT / "redis/start-sentinel.sh"
        self.process = subprocess.Popen(["sh", str(script)], env=env, stdout=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 10, "redis-server --sentinel")
