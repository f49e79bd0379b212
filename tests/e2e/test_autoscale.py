"""`make up AUTOSCALE=MIN-MAX`: the web tier follows the load, out at once and in after the
window, with no failed request and the count exact; with no signal the autoscaler holds the
size; killed, it is restarted and resumes; its socket proxy refuses what scaling does not need."""

import os
import re
import signal
import time

import pytest

from helpers import load_client
from helpers.stack import Stack, assert_kept
from helpers.support import free_port, wait_for

pytestmark = pytest.mark.e2e

# Short, for the test: decisions every 3 s, a replica removed after 10 s of low load.
PERIOD, DOWN_AFTER = 3, 10
NO_SIGNAL = "no signal (Prometheus does not answer)"


@pytest.fixture(scope="module")
def autoscaled(docker):
    """A stack of small replicas (a quarter of a core each, so that more replicas is more capacity
    here), autoscaled within 1-4."""
    stack = Stack()
    stack.env.update(PROMETHEUS_PORT=str(free_port()), WEB_CPUS="0.25")
    done = stack.make(
        "up", "AUTOSCALE=1-4", f"AUTOSCALE_PERIOD={PERIOD}", f"AUTOSCALE_DOWN_AFTER={DOWN_AFTER}"
    )
    assert "(1 replicas, autoscaled)" in done.stdout
    yield stack
    stack.down()


def replicas(stack):
    return len(stack.containers("web"))


def log(stack):
    return stack.compose("--profile", "autoscale", "logs", "--no-color", "autoscaler").stdout


def autoscaler(stack):
    (container,) = stack.compose("--profile", "autoscale", "ps", "--quiet", "autoscaler").stdout.split()
    return container


def crash_the_autoscaler(stack):
    """Its process killed from outside (a crash, not a stop): Docker's restart policy applies."""
    container = autoscaler(stack)
    os.kill(int(stack.inspect_one(container, "{{.State.Pid}}")), signal.SIGKILL)
    wait_for(
        lambda: log(stack).count("==> autoscaling web within 1-4") == 2, 60, "the autoscaler restarted", 1
    )
    assert stack.inspect_one(container, "{{.RestartCount}}") == "1"


def test_the_web_tier_follows_a_rising_then_falling_load_with_no_failed_request(autoscaled):
    stack = autoscaled
    assert replicas(stack) == 1
    before = stack.count()
    pace, seen = [0.0], {}
    monitoring = ("--profile", "monitoring")

    def during():
        wait_for(lambda: replicas(stack) >= 3, 120, "three replicas or more under load", 1)
        crash_the_autoscaler(stack)
        pace[0] = 0.25  # the load falls to about 30 requests a second
        # No signal: Prometheus stopped, the autoscaler holds the size past its window. The size
        # is read once it has said so: a scale it began just before has ended by then.
        stack.compose(*monitoring, "stop", "prometheus")
        wait_for(lambda: NO_SIGNAL in log(stack), 60, "a decision without a signal", 1)
        seen["before"] = replicas(stack)
        time.sleep(DOWN_AFTER + 4 * PERIOD)
        seen["held"] = replicas(stack)
        # The control: with Prometheus back, the same low load takes it back to one replica.
        stack.compose(*monitoring, "start", "prometheus")
        wait_for(lambda: replicas(stack) == 1, 120, "back to one replica", 1)

    result = load_client.run(stack.port, clients=8, during=during, after=3, pace=lambda: pace[0])
    print(f"autoscaled: {dict(result.attempts)}, out to {seen['before']} replicas and back to 1")
    # None failed but where a stall of the host explains it (helpers/host_stalls.py, as in every
    # load test here); EXACT where none failed at all.
    assert result.failed_by_the_stack() == [], result.attempts
    assert_kept(stack, result, before)
    assert seen["held"] == seen["before"] >= 3
    said = log(stack)
    assert re.search(r"busy 0\.\d\d over target 0\.60 on 1 ready replicas: 1 -> [2-4]\n", said), said
    assert f"{NO_SIGNAL}: holding at {seen['before']}" in said
    assert re.search(rf"low for {DOWN_AFTER} s: 2 -> 1\n", said), said
    assert len(set(result.served_by)) >= 3  # the replicas that came did serve


# A steady load, between what one replica and what two do at the target: 8 clients, a request
# each STEADY_PACE s at most (about 200 a second).
STEADY_PACE, SETTLED_FOR, HOLD = 0.04, 30, 120


def test_a_steady_load_settles_between_min_and_max_and_then_changes_nothing_for_two_minutes(autoscaled):
    """No flapping: once the size has stayed the same for SETTLED_FOR s under a steady load, it
    stays so for HOLD s more. The size it settles at is neither bound, so that it could move."""
    stack = autoscaled
    before = stack.count()
    sizes, decided = [], {}

    def during():
        since, size = time.monotonic(), replicas(stack)
        deadline = since + 180
        while time.monotonic() - since < SETTLED_FOR:
            assert time.monotonic() < deadline, f"no size held for {SETTLED_FOR} s within 180 s"
            time.sleep(1)
            if replicas(stack) != size:
                since, size = time.monotonic(), replicas(stack)
        decided["before"] = log(stack).count(" -> ")
        held = time.monotonic()
        while time.monotonic() - held < HOLD:
            sizes.append(replicas(stack))
            time.sleep(1)
        decided["after"] = log(stack).count(" -> ")

    result = load_client.run(stack.port, clients=8, during=during, after=0, pace=lambda: STEADY_PACE)
    print(f"steady: {dict(result.attempts)}, held at {sorted(set(sizes))} for {HOLD} s ({len(sizes)} looks)")
    assert result.failed_by_the_stack() == [], result.attempts
    assert_kept(stack, result, before)
    assert len(set(sizes)) == 1 and 1 < sizes[0] < 4, sizes
    assert decided["after"] == decided["before"], log(stack)[-2000:]


PROBE = """
import http.client, json
def create(host_config, image="{project}-web"):
    labels = {{"com.docker.compose.project": "{project}", "com.docker.compose.service": "web"}}
    body = json.dumps({{"Image": image, "Labels": labels, "HostConfig": host_config}})
    connection = http.client.HTTPConnection("docker-proxy", 2375, timeout=10)
    connection.request("POST", "/v1.41/containers/create", body, {{"Content-Type": "application/json"}})
    response = connection.getresponse()
    return response.status, json.loads(response.read()).get("message", "")
socket = {{"Binds": ["/var/run/docker.sock:/run/docker.sock"]}}
for host_config in ({{"Privileged": True}}, socket, {{"PidMode": "host"}}):
    print(*create(host_config))
print(*create({{}}, "{project}-redis"))
"""


def test_the_autoscaler_reaches_docker_only_through_a_proxy_that_refuses_what_scaling_does_not_need(
    autoscaled,
):
    stack = autoscaled
    mounts = stack.inspect_one(autoscaler(stack), "{{json .Mounts}}")
    assert "docker.sock" not in mounts
    script = PROBE.format(project=stack.name)
    done = stack.compose("--profile", "autoscale", "exec", "-T", "autoscaler", "python3", "-c", script)
    lines = done.stdout.splitlines()
    assert lines == [
        "403 refused by the autoscaler's socket proxy: a container with privileges, capabilities or devices",
        "403 refused by the autoscaler's socket proxy: a container that mounts /var/run/docker.sock "
        "(only the project's secrets files may be)",
        "403 refused by the autoscaler's socket proxy: a container in the host's or another "
        "container's namespaces",
        f"403 refused by the autoscaler's socket proxy: a web replica of another image than {stack.name}-web "
        f"({stack.name}-redis)",
    ]
    # Docker's own command line is not there either: only `docker compose`.
    other = stack.compose("--profile", "autoscale", "exec", "-T", "autoscaler", "docker", "ps", check=False)
    assert other.returncode == 1 and "only 'docker compose' runs here" in other.stderr
    # And `make scale` says who sets the size.
    refused = stack.make("scale", "SCALE=3", check=False)
    assert refused.returncode != 0
    assert "the autoscaler sets web's size" in refused.stderr


def test_make_down_leaves_nothing_behind_the_autoscaler_does_not_scale_web_back_up(autoscaled):
    """Last in the module: it takes the stack down."""
    stack = autoscaled
    stack.make("down")
    time.sleep(3 * PERIOD)  # decisions it would have made, had it outlived web
    label = f"label=com.docker.compose.project={stack.name}"
    assert stack.run("docker", "ps", "--all", "--quiet", "--filter", label).stdout.split() == []
