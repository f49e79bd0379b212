"""What crosses a Docker network in clear: tcpdump on its bridge on this host, and what of a list
of secrets the capture holds. Between the Swarm lab's engines that is the overlay's VXLAN, whose
packets carry the containers' own traffic as it was sent: in clear unless it was encrypted.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from .support import wait_for


def bridge_of(network):
    """The host's bridge interface of a Docker bridge network."""
    found = subprocess.run(
        ["docker", "-H", "unix:///var/run/docker.sock", "network", "inspect", "--format", "{{.Id}}", network],
        capture_output=True,
        text=True,
        check=True,
    )
    return "br-" + found.stdout.strip()[:12]


class Capture:
    """tcpdump of every packet on `interface` into a file, while the `with` block runs."""

    def __init__(self, interface, path):
        if shutil.which("tcpdump") is None:
            pytest.fail("tcpdump is not installed (apt-get install tcpdump)")
        self.interface, self.path = interface, Path(path)

    def __enter__(self):
        # -U: every packet written as it comes; -Z root: the file stays writable where it is made.
        self.process = subprocess.Popen(
            ["tcpdump", "-i", self.interface, "-s", "0", "-U", "-Z", "root", "-w", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(lambda: self.path.exists() or self.process.poll() is not None, 10, "tcpdump")
        if self.process.poll() is not None:
            raise RuntimeError(f"tcpdump on {self.interface}: {self.process.stderr.read().decode().strip()}")
        return self

    def __exit__(self, *_):
        self.process.terminate()
        self.process.wait(10)

    def count(self, needles):
        """{needle: times it occurs in the captured bytes}, for the needles that occur."""
        data = self.path.read_bytes()
        found = {needle: data.count(needle.encode()) for needle in needles}
        return {needle: times for needle, times in found.items() if times}

    @property
    def size(self):
        return self.path.stat().st_size
