"""At most one Redis process on a data directory (redis/hold-data.sh, the Redis image's entrypoint):
real redis-server processes, a second one started on the directory of a first that serves under
load, as an engine starts a task's replacement while the old one still runs. The negative control
starts the second one without the guard and shows what two processes do to one directory."""

import contextlib
import os
import signal
import subprocess
import threading
import time

import pytest
from redis import Redis

from helpers.support import ROOT, free_port, port_open, wait_for

HOLD_DATA = ROOT / "redis/hold-data.sh"


class Instance:
    """redis-server on `directory` (appendfsync always, as the stack runs it), held or not."""

    def __init__(self, directory, held=True, wait=60):
        self.directory, self.port = directory, free_port()
        self.log = directory.parent / f"instance-{self.port}.log"
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
                   "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        if held:
            command = ["sh", str(HOLD_DATA), str(directory), *command]
        env = dict(os.environ, REDIS_DATA_WAIT=str(wait))
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.client = Redis(port=self.port, socket_timeout=5)

    def serving(self):
        return port_open(self.port)

    def open_files(self):
        """The files in its directory that the process has open, but the lock."""
        fds = f"/proc/{self.process.pid}/fd"
        paths = []
        for fd in os.listdir(fds):
            with contextlib.suppress(FileNotFoundError):  # closed since it was listed
                paths.append(os.readlink(f"{fds}/{fd}"))
        return sorted(p for p in paths if p.startswith(str(self.directory)) and not p.endswith("data.lock"))

    def stop(self, how=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.process.wait(timeout=30)

    def said(self):
        return self.log.read_text()


@pytest.fixture
def data(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


class Load:
    """Increments on `instance` in a thread until stopped: the values it was answered."""

    def __init__(self, instance):
        self.instance, self.answered, self.errors = instance, [], []
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                self.answered.append(self.instance.client.incr("counter:total"))
            except OSError as error:
                self.errors.append(error)
                return

    def stop(self):
        self.running = False
        self.thread.join()
        return self.answered


def written(directory):
    """Every file in the directory, but the lock, with when it was last written."""
    return {path: path.stat().st_mtime_ns for path in directory.rglob("*") if path.name != "data.lock"}


def check_aof(directory):
    manifest = directory / "appendonlydir/appendonly.aof.manifest"
    return subprocess.run(["redis-check-aof", str(manifest)], capture_output=True, text=True)


def two_on_one_directory(data, held):
    """A first instance serving under load, a second started on its directory for 2 s, and the
    values each handed out: (first, second, load's answers, second's answers)."""
    first = Instance(data, held=held)
    wait_for(first.serving, 10, "the first redis-server")
    load = Load(first)
    wait_for(lambda: len(load.answered) > 200, 10, "the first's increments")
    second = Instance(data, held=held)
    time.sleep(2)
    second_answers = []
    if second.serving():  # two processes on one directory: each hands out what it holds
        second_answers = [second.client.incr("counter:total") for _ in range(10)]
    return first, second, load, second_answers


def test_a_second_redis_on_a_held_directory_waits_and_takes_over_with_the_count_intact(data):
    first, second, load, second_answers = two_on_one_directory(data, held=True)
    try:
        assert second_answers == [] and not second.serving()
        assert second.process.poll() is None  # still waiting, not given up
        assert second.open_files() == []  # it opened nothing there: no AOF, no manifest
        assert "is held by" in second.said() and "waiting for it to stop" in second.said()
        time.sleep(1)
        assert load.errors == [] and load.answered[-1] > load.answered[0]  # the first serves on
    finally:
        answered = load.stop()
        first.stop()
    assert sorted(answered) == list(range(1, len(answered) + 1))  # no value handed out twice
    wait_for(second.serving, 15, "the second redis-server, once the first stopped")
    assert "is free after" in second.said()
    assert int(second.client.get("counter:total")) == answered[-1]
    second.stop()
    checked = check_aof(data)
    assert checked.returncode == 0, checked.stdout
    assert "All AOF files and manifest are valid" in checked.stdout


def test_a_second_redis_gives_up_after_its_wait_and_leaves_the_files_alone(data):
    first = Instance(data)
    wait_for(first.serving, 10, "the first redis-server")
    first.client.incr("counter:total")
    files = written(data)
    second = Instance(data, wait=2)
    try:
        assert second.process.wait(timeout=15) == 1
        assert "still held by" in second.said() and "not starting" in second.said()
        assert written(data) == files
        assert first.client.incr("counter:total") == 2
    finally:
        first.stop()


def test_a_killed_holder_lets_the_next_one_start_at_once(data):
    first = Instance(data)
    wait_for(first.serving, 10, "the first redis-server")
    first.client.incr("counter:total")
    first.stop(signal.SIGKILL)  # the kernel lets the lock go with the process, however it ends
    second = Instance(data)
    try:
        wait_for(second.serving, 10, "the second redis-server")
        assert "is held by" not in second.said()
        assert second.client.get("counter:total") == b"1"
    finally:
        second.stop()


def test_negative_control_two_unguarded_redis_on_one_directory_hand_out_a_count_twice(data):
    """Without hold-data the second loads the first's files, opens the same append-only file and
    serves: it hands out counts the first handed out already, and both append to one file."""
    first, second, load, second_answers = two_on_one_directory(data, held=False)
    try:
        assert second.serving()
        assert any(name.endswith(".incr.aof") for name in second.open_files())
        answered = load.stop()
        assert set(second_answers) & set(answered)  # the same count handed out twice
    finally:
        load.stop()
        first.stop()
        second.stop()
