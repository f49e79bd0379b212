"""The stack on a swarm of three Docker engines (make swarm-lab): images through the lab's
registry, web replicas on both workers, Redis and the load balancer on the manager; then, under
steady load, scaling, a drained worker and a worker lost outright, and its return.

Every load ends with the promise's checks: no count handed out twice, and (clients retrying with
their Idempotency-Key where a node is lost) the counter moved by exactly the successes.
"""

import os
import subprocess
import time
import uuid

import pytest

from helpers.stack import Stack, assert_exact
from helpers.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

REPLICAS = 4


class LabStack(Stack):
    """The stack deployed on the lab, driven with make against the lab's manager."""

    def __init__(self, lab):
        super().__init__()
        settings = lab_settings(lab)
        self.env.update(settings, STACK="counter", LB_PORT="8080", LAB_NAME=lab)
        self.host, self.port = settings["DOCKER_HOST"].removeprefix("tcp://").split(":")[0], 8080

    def docker(self, *args):
        return self.run("docker", *args).stdout.strip()

    def placement(self):
        """{node: running web replicas}"""
        nodes = self.docker(
            "service",
            "ps",
            "counter_web",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        )
        running = [line.split()[0] for line in nodes.splitlines() if line.split()[1] == "Running"]
        return {node: running.count(node) for node in set(running)}

    def node_state(self, node):
        return self.docker("node", "inspect", node, "--format", "{{.Status.State}}")

    def wait(self, check, seconds, what):
        return wait_for(check, seconds, what, interval=0.5)

    def spread(self):
        """Replicas on both workers again (Swarm does not move tasks back by itself)."""
        self.docker("service", "update", "--quiet", "--force", "--detach=false", "counter_web")
        self.wait(self.on_both_workers, 60, "web on both workers")

    def on_both_workers(self):
        placement = self.placement()
        return set(placement) == {"worker-1", "worker-2"} and sum(placement.values()) == REPLICAS

    def down(self):
        pass  # the lab goes, and the stack with it


def lab_settings(lab):
    done = subprocess.run(
        ["lab/lab.sh", "env"],
        env=dict(os.environ, LAB_NAME=lab),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(pair.split("=", 1) for pair in done.stdout.removeprefix("export ").split())


@pytest.fixture(scope="module")
def lab(docker):
    name = "counter-e2e-lab-" + uuid.uuid4().hex[:6]
    maker = Stack()
    maker.env["LAB_NAME"] = name
    maker.make("swarm-lab", timeout=900)
    yield name
    maker.make("swarm-lab-down", check=False)


@pytest.fixture(scope="module")
def deployed(lab):
    stack = LabStack(lab)
    output = stack.make("deploy", f"SCALE={REPLICAS}", timeout=900).stdout
    assert f"pushing {stack.env['REGISTRY']}/counter-web:" in output
    return stack


def test_deploy_to_several_nodes_without_a_registry_is_refused(lab):
    stack = LabStack(lab)
    done = stack.make("deploy", "REGISTRY=", check=False)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        "swarm.sh: this swarm has 3 nodes and only this one has the images: "
        "set REGISTRY=host:port of a registry every node can pull from"
    )


def test_deploy_pulls_through_the_registry_and_puts_web_on_both_workers(deployed):
    assert deployed.placement() == {"worker-1": 2, "worker-2": 2}
    for service in ("redis", "lb"):
        nodes = deployed.docker(
            "service",
            "ps",
            f"counter_{service}",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}}",
        )
        assert nodes == "manager", service
    image = deployed.docker(
        "service", "inspect", "counter_web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    )
    assert image.startswith(deployed.env["REGISTRY"] + "/counter-web:")
    served = {deployed.get("/")[1].getheader("X-Served-By") for _ in range(40)}
    assert len(served) == REPLICAS


def test_scale_out_and_in_across_nodes_under_load_fails_nothing(deployed):
    before = deployed.count()

    def scale_out_then_in():
        time.sleep(2)
        deployed.make("deploy-scale", "SCALE=6")
        time.sleep(3)
        deployed.make("deploy-scale", f"SCALE={REPLICAS}")
        time.sleep(2)

    result = deployed.load(clients=16, seconds=20, during=scale_out_then_in)
    assert result.failed_attempts == 0, result.attempts
    assert len(result.served_by) >= 6
    assert_exact(deployed, result, before)


def test_draining_a_worker_moves_its_replicas_and_fails_nothing(deployed):
    deployed.spread()
    before = deployed.count()

    def drain():
        time.sleep(3)
        deployed.docker("node", "update", "--availability", "drain", "worker-1")
        deployed.wait(
            lambda: deployed.placement() == {"worker-2": REPLICAS}, 60, "replicas moved off worker-1"
        )
        time.sleep(2)

    try:
        result = deployed.load(clients=16, seconds=20, during=drain)
    finally:
        deployed.docker("node", "update", "--availability", "active", "worker-1")
    assert result.failed_attempts == 0, result.attempts
    assert_exact(deployed, result, before)


def test_losing_a_worker_fails_only_what_was_in_flight_and_keyed_retries_end_exact(deployed):
    deployed.spread()
    before = deployed.count()
    seen = {}

    def lose_worker():
        time.sleep(3)
        seen["killed"] = time.monotonic()
        deployed.run(
            "docker", "-H", "unix:///var/run/docker.sock", "kill", f"{deployed.env['LAB_NAME']}-worker-1"
        )
        seen["noticed after"] = deployed.wait(
            lambda: deployed.node_state("worker-1") == "down", 90, "worker-1 seen down"
        )
        seen["replicas back after"] = deployed.wait(
            lambda: deployed.placement() == {"worker-2": REPLICAS}, 90, "replicas back on worker-2"
        )
        time.sleep(2)

    result = deployed.load(clients=16, seconds=30, retry=True, during=lose_worker)
    # A failed attempt is allowed only for a request that was in flight when the node went.
    late = [started - seen["killed"] for started, _ in result.failures if started > seen["killed"] + 2]
    assert not late, (late[:5], result.attempts, seen)
    assert result.gave_up == 0, result.attempts
    assert_exact(deployed, result, before)

    deployed.run(
        "docker", "-H", "unix:///var/run/docker.sock", "start", f"{deployed.env['LAB_NAME']}-worker-1"
    )
    deployed.wait(lambda: deployed.node_state("worker-1") == "ready", 90, "worker-1 back")
    assert sum(deployed.placement().values()) == REPLICAS
    assert deployed.get("/")[0] == 200
