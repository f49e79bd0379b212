"""A Compose project of the counter for the end-to-end tests, driven as users drive it: with make."""

import json
import os
import re
import subprocess
import time
import uuid

import exactness
from control import docker
from helpers import load_client
from helpers.redis_group import RedisGroup, read_topology
from helpers.support import ROOT, free_port

PREFIX = "counter-e2e-"


def free_back_network():
    """Three octets of a /24 that Docker takes for a new network now (each stack needs its own)."""
    return docker.free_network("10.210")


class Stack:
    """One Compose project of the counter, driven as a user drives it: with make."""

    def __init__(self, host="127.0.0.1", redis_mode="single"):
        self.name = PREFIX + uuid.uuid4().hex[:8]
        self.host = host
        self.port = free_port()
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=self.name, LB_PORT=str(self.port), LB_BIND=host)
        self.env.update(REDIS_MODE=redis_mode, BACK_NETWORK=free_back_network())
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
        """`docker compose`, covering the replicas and sentinels too under Sentinel (as make does)."""
        profile = ["--profile", "sentinel"] if self.env["REDIS_MODE"] == "sentinel" else []
        return self.run("docker", "compose", *profile, *args, **kwargs)

    def containers(self, service):
        """The service's running containers. Compose lists, then inspects each: one removed in
        between (a replica leaving) fails the whole `ps`, which is asked again."""
        for _ in range(3):
            done = self.compose("ps", "--quiet", "--status", "running", service, check=False)
            if "No such container" not in done.stderr:
                break
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

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
        self.load_began = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return load_client.run(self.port, host=self.host, **kwargs)

    def lb_log(self, lines=40):
        """The last lines nginx logged since the last load began: each failed request, with every
        replica it tried and what each answered, and nginx's warnings. For a failed test's message."""
        logs = self.compose("logs", "--no-log-prefix", "--since", self.load_began, "lb", check=False)
        return logs.stdout.splitlines()[-lines:]

    def redis_outage(self, *stop, after, down_for):
        """A `during` for load(): after a while, `docker compose <stop...> redis`, then start it."""

        def outage():
            time.sleep(after)
            self.compose(*stop, "redis")
            time.sleep(down_for)
            self.compose("start", "redis")

        return outage

    @property
    def redis(self):
        """The Redis group (helpers/redis_group.py), reached with `docker compose exec`."""

        def run_in(service, argv, check):
            return self.compose("exec", "-T", service, *argv, check=check).stdout

        return RedisGroup(read_topology(self.env, self.tree), run_in)

    def compose_up_build(self, *args):
        """Compose's own `up --detach --build`, as a user would run it (with the sentinels' list
        that make gives): the way to ship a change that `make up` is measured against."""
        sentinels = ",".join(self.redis.topology.addresses("sentinel", "sentinel"))
        env = ["env", "COMPOSE_BAKE=false", f"REDIS_SENTINELS={sentinels}"]
        profile = ["--profile", "sentinel"] if self.env["REDIS_MODE"] == "sentinel" else []
        return [*env, "docker", "compose", *profile, "up", "--detach", "--build", *args]

    def redis_cli(self, service, *args, check=True):
        """redis-cli as Redis's admin user, in the service's container: its output, stripped."""
        return self.redis.cli(service, *args, check=check)

    def replication(self, service):
        return self.redis.replication(service)

    def primary(self, ask=None):
        """The instance the sentinels name primary (asked from instance `ask`, else the first)."""
        group = self.redis
        return group.primary(via=ask or group.instances[0])

    def container(self, service):
        (container,) = self.compose("ps", "--all", "--quiet", service).stdout.split()
        return container

    def down(self):
        profiles = [
            "--profile",
            "loadtest",
            "--profile",
            "monitoring",
            "--profile",
            "sentinel",
            "--profile",
            "autoscale",
        ]
        self.compose(*profiles, "down", "--volumes", "--remove-orphans", check=False)


def script_lines(done):
    """What a make target's script wrote to stderr, without make's own "make[N]: ***" lines."""
    return [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\* ", line)]


def assert_exact(stack, result, before):
    """The promise (loadtest/exactness.py): every count handed out once, and the counter moved by
    exactly the successes; /stats adds up to /count."""
    assert not result.bad_bodies, result.bad_bodies[:3]
    stats = stack.stats()
    outcome, reason = exactness.verdict(
        result.successes, result.gave_up, stats["total"] - before, result.counts
    )
    assert outcome == "EXACT", reason
    assert sum(stats["replicas"].values()) == stats["total"]


def assert_within_bounds(stack, result, before):
    """The promise for clients that do not retry: no count handed out twice, and the counter
    moved by every success and at most every failure more (a request that failed after its
    step ran, a 503 or a cut connection, may have been counted: the client cannot know)."""
    assert not result.bad_bodies, result.bad_bodies[:3]
    assert len(set(result.counts)) == len(result.counts), "counts handed out twice"
    moved = stack.count() - before
    print(f"counted but answered an error: {moved - result.successes} of {result.failed_attempts}")
    assert result.successes <= moved <= result.successes + result.failed_attempts, (moved, result.attempts)


def assert_kept(stack, result, before):
    """The promise for plain clients whose failures a stall of the host explains (the test has
    asserted result.failed_by_the_stack() == []): EXACT where no attempt failed; where one did, a
    503 may have come after its step ran, which that client cannot know, so within the bounds."""
    if result.failed_attempts == 0:
        assert_exact(stack, result, before)
    else:
        assert_within_bounds(stack, result, before)


def ship_under_load(stack, command, retry=False):
    """Run `command` (a way to ship a change) under 16 clients with a 5 s timeout, keyed and
    retried when `retry`, plain otherwise; returns (load result, the command's output).

    Asserts the promise that holds whatever the command costs: EXACT when every request
    succeeded or the clients retry, within the bounds when a plain client saw a failure.
    """
    before = stack.count()
    done = {}
    result = stack.load(
        clients=16, timeout=5, retry=retry, after=2, during=lambda: done.update(out=stack.run(*command))
    )
    print(f"\n{' '.join(command)}: {result.attempts}; slowest {result.slowest:.2f} s")
    if retry:
        assert_exact(stack, result, before)
    else:
        assert_kept(stack, result, before)
    return result, done["out"].stdout
