"""A Compose project of the counter for the end-to-end tests, driven as users drive it: with make."""

import json
import os
import re
import subprocess
import time
import uuid

from helpers import load_client
from helpers.support import ROOT, free_port

PREFIX = "counter-e2e-"


class Stack:
    """One Compose project of the counter, driven as a user drives it: with make."""

    def __init__(self, host="127.0.0.1"):
        self.name = PREFIX + uuid.uuid4().hex[:8]
        self.host = host
        self.port = free_port()
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=self.name, LB_PORT=str(self.port), LB_BIND=host)
        # Tests wait on health at every start and scale: probed every 2 s (not the default 10 s,
        # which keeps an idle stack cheap), they see it sooner. What is exact stays the same.
        self.env["HEALTHCHECK_INTERVAL"] = "2s"

    tree = ROOT  # the project's folder that make runs in

    def run(self, *command, check=True, timeout=600):
        done = subprocess.run(
            command, cwd=self.tree, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def make(self, *args, **kwargs):
        return self.run("make", "--no-print-directory", *args, **kwargs)

    def compose(self, *args, **kwargs):
        return self.run("docker", "compose", *args, **kwargs)

    def containers(self, service):
        return self.compose("ps", "--quiet", "--status", "running", service).stdout.split()

    def inspect(self, service, template):
        """`docker inspect` of the service's one running container."""
        (container,) = self.containers(service)
        return self.inspect_one(container, template)

    def inspect_one(self, container, template):
        return self.run("docker", "inspect", "--format", template, container).stdout.strip()

    def replica_names(self):
        """The hostnames of the running web replicas: Docker gives each its short container id."""
        return {container[:12] for container in self.containers("web")}

    def get(self, path, headers=None):
        client = load_client.Client(self.port, host=self.host)
        try:
            return client.get(path, headers)
        finally:
            client.close()

    def json(self, path):
        status, _, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def count(self):
        return self.json("/count")["count"]

    def stats(self):
        return self.json("/stats")

    def load(self, **kwargs):
        return load_client.run(self.port, host=self.host, **kwargs)

    def redis_outage(self, *stop, after, down_for):
        """A `during` for load(): after a while, `docker compose <stop...> redis`, then start it."""

        def outage():
            time.sleep(after)
            self.compose(*stop, "redis")
            time.sleep(down_for)
            self.compose("start", "redis")

        return outage

    def down(self):
        profiles = ["--profile", "loadtest", "--profile", "monitoring"]
        self.compose(*profiles, "down", "--volumes", "--remove-orphans", check=False)


def script_lines(done):
    """What a make target's script wrote to stderr, without make's own "make[N]: ***" lines."""
    return [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\* ", line)]


def assert_exact(stack, result, before):
    """The promise: every count handed out once, and the counter moved by exactly the successes."""
    assert not result.bad_bodies, result.bad_bodies[:3]
    assert len(set(result.counts)) == len(result.counts), "a count value was handed out twice"
    stats = stack.stats()
    assert stats["total"] - before == result.successes, (stats["total"], before, result.successes)
    assert sum(stats["replicas"].values()) == stats["total"]
