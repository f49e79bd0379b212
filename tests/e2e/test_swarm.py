"""The stack on a single-node Docker Swarm, made by these tests and left as they found it:
make deploy, deploy-scale under load, a rolling update under load, a broken image rolled back,
and make undeploy. Each load ends with the same checks as under Compose: no count handed out
twice, and the counter moved by exactly the number of successful requests.
"""

import copy
import json
import os
import re
import subprocess
import threading
import time

import pytest

from helpers.stack import Stack, assert_kept
from helpers.support import edit, free_port, project_copy, wait_for

pytestmark = pytest.mark.e2e

SERVICE_USERS = {"web": "10001", "lb": "101", "redis": "999"}
SERVICE_PROCESSES = {"web": {"gunicorn"}, "lb": {"nginx"}, "redis": {"redis-server"}}


def docker_cli(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def swarm_state():
    return docker_cli("info", "--format", "{{.Swarm.LocalNodeState}}")


class SwarmStack(Stack):
    """A stack on the swarm, driven with make like the Compose one (its name is the stack's)."""

    def __init__(self):
        super().__init__()
        self.env["STACK"] = self.name

    def from_tree(self, tree):
        """The same stack, driven from another copy of the project."""
        other = copy.copy(self)
        other.tree = tree
        return other

    def containers(self, service):
        return docker_cli(
            "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={self.name}_{service}"
        ).split()

    def healthy(self, service):
        return len(
            docker_cli(
                "ps",
                "-q",
                "--filter",
                f"label=com.docker.swarm.service.name={self.name}_{service}",
                "--filter",
                "health=healthy",
            ).split()
        )

    def image(self, service):
        return docker_cli(
            "service",
            "inspect",
            f"{self.name}_{service}",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        )

    def down(self):
        self.make("undeploy", "REMOVE_DATA=yes", check=False)


def test_deploy_outside_swarm_mode_says_how_to_make_one(docker_engine_alone):
    stack = SwarmStack()
    done = stack.make("deploy", check=False)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        "deploy: this Docker engine is not in swarm mode: make or join a swarm first "
        "('docker swarm init'), then deploy"
    )


@pytest.fixture(scope="module")
def docker_engine_alone(docker):
    if swarm_state() != "inactive":
        if os.environ.get("CI") == "true":
            pytest.fail("the Docker engine is already in a swarm: CI must start with one that is not")
        pytest.skip("this Docker engine is in a swarm that the tests did not make")


@pytest.fixture(scope="module")
def swarm(docker):
    """This engine in swarm mode: made here if it was not (then left again), used as it is if it was."""
    made = swarm_state() == "inactive"
    if made:
        docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    node = docker_cli("info", "--format", "{{.Swarm.NodeID}}")
    labels = json.loads(docker_cli("node", "inspect", node, "--format", "{{json .Spec.Labels}}"))
    yield
    if made:
        docker_cli("swarm", "leave", "--force")
        docker_cli("network", "rm", "docker_gwbridge", check=False)  # swarm init made it
    else:
        for label in {"counter.redis"} - set(labels):
            docker_cli("node", "update", "--label-rm", label, node, check=False)


@pytest.fixture(scope="module")
def deployed(swarm):
    stack = SwarmStack()
    stack.make("deploy", "SCALE=3", timeout=900)
    yield stack
    stack.down()


def test_deploy_serves_from_every_replica_with_the_composes_guarantees(deployed):
    served_by = {}
    for _ in range(150):
        status, response, _ = deployed.get("/")
        assert status == 200
        served_by[response.getheader("X-Served-By")] = served_by.get(response.getheader("X-Served-By"), 0) + 1
    assert set(served_by) == {c[:12] for c in deployed.containers("web")} and len(served_by) == 3
    assert min(served_by.values()) >= 25, served_by
    for service, uid in SERVICE_USERS.items():
        for container in deployed.containers(service):
            (info,) = json.loads(docker_cli("inspect", container))
            host = info["HostConfig"]
            assert host["ReadonlyRootfs"] is True, service
            assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], service
            assert host["Memory"] > 0 and host["NanoCpus"] > 0, service
            assert info["State"]["Health"]["Status"] == "healthy", service
            assert docker_cli("exec", container, "id", "-u") == uid
            assert docker_cli("exec", container, "sh", "-c", "touch /tmp/probe && echo ok") == "ok", service
            assert (
                "Read-only file system"
                in subprocess.run(
                    ["docker", "exec", container, "touch", "/probe"], capture_output=True, text=True
                ).stderr
            )
            # The service's processes cannot gain privileges (Docker's init and exec's aside).
            flags = docker_cli(
                "exec", container, "sh", "-c",
                'for p in /proc/[0-9]*; do echo "$(cat $p/comm) $(grep NoNewPrivs $p/status)"; done',
            )  # fmt: skip
            own = [line for line in flags.splitlines() if line.split()[0] in SERVICE_PROCESSES[service]]
            assert own and all(line.endswith("\t1") for line in own), (service, flags)
            bindings = host["PortBindings"] or {}
            if service == "lb":
                assert bindings == {"8080/tcp": [{"HostIp": "", "HostPort": str(deployed.port)}]}
            else:
                assert not bindings, (service, bindings)
    # Redis's users and TLS certificates are Swarm secrets, named by their content; with the
    # app's certificate but without a password Redis refuses, and without TLS it does not answer.
    secrets = docker_cli(
        "secret",
        "ls",
        "--filter",
        f"label=com.docker.stack.namespace={deployed.name}",
        "--format",
        "{{.Name}}",
    )
    assert sorted(name.rsplit("_", 1)[0] for name in secrets.split()) == [
        f"{deployed.name}_{name}"
        for name in (
            "redis_admin_password",
            "redis_app_password",
            "redis_replica_password",
            "redis_tls_app",
            "redis_tls_ca",
            "redis_tls_server",
            "redis_users_acl",
        )
    ]
    (web,) = deployed.containers("web")[:1]
    refused = subprocess.run(
        [
            "docker",
            "exec",
            web,
            "python",
            "-c",
            "import redis; redis.Redis(host='redis', ssl=True, ssl_check_hostname=False, "
            "ssl_certfile='/run/secrets/redis_tls', ssl_ca_certs='/run/secrets/redis_tls_ca')"
            ".get('counter:total')",
        ],
        capture_output=True,
        text=True,
    )
    assert "AuthenticationError" in refused.stderr
    # The name resolves (a DNS failure is no proof), then a connection in clear is not served.
    in_clear = "import socket, redis; socket.getaddrinfo('redis', 6379); redis.Redis(host='redis').ping()"
    plain = subprocess.run(["docker", "exec", web, "python", "-c", in_clear], capture_output=True, text=True)
    assert "redis.exceptions.ConnectionError" in plain.stderr, plain.stderr


def test_deploy_scale_out_and_in_under_load_fails_nothing_and_counts_exactly(deployed):
    before = deployed.count()

    def scale_out_then_in():
        time.sleep(3)
        deployed.make("deploy-scale", "SCALE=5")
        assert len(deployed.containers("web")) == 5
        time.sleep(4)
        deployed.make("deploy-scale", "SCALE=2")
        time.sleep(3)

    result = deployed.load(clients=16, seconds=25, during=scale_out_then_in)
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls)
    assert len(result.served_by) >= 5, result.served_by
    assert_kept(deployed, result, before)
    deployed.make("deploy-scale", "SCALE=3")


# Through the autoscaler's socket proxy on Swarm: web's update with another image, then with
# more replicas than AUTOSCALE's MAX, then a privileged container.
SWARM_PROBE = """
import http.client, json
def call(method, path, body=None):
    connection = http.client.HTTPConnection("docker-proxy", 2375, timeout=10)
    connection.request(method, path, body and json.dumps(body), {{"Content-Type": "application/json"}})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")
status, web = call("GET", "/services/{web}")
update = f"/services/{{web['ID']}}/update?version={{web['Version']['Index']}}"
other = json.loads(json.dumps(web["Spec"]))
other["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox"
more = json.loads(json.dumps(web["Spec"]))
more["Mode"]["Replicated"]["Replicas"] = 9
privileged = {{"Image": "busybox", "HostConfig": {{"Privileged": True}}}}
for path, body in ((update, other), (update, more), ("/containers/create", privileged)):
    status, answer = call("POST", path, body)
    print(status, answer["message"])
"""


def test_deploy_autoscaled_follows_a_rising_then_falling_load_with_no_failed_request(deployed):
    """`make deploy AUTOSCALE=1-3`: Prometheus and the autoscaler join the stack, on the manager;
    the autoscaler scales web through a service update its socket proxy checks, and the stack goes
    back to a size of its own after (`AUTOSCALE=off`)."""
    stack = deployed
    stack.make("deploy-scale", "SCALE=1")
    period, window = 3, 10
    pace, seen = [0.0], {}
    before = stack.count()
    try:
        done = stack.make(
            "deploy", "AUTOSCALE=1-3", f"AUTOSCALE_PERIOD={period}", f"AUTOSCALE_DOWN_AFTER={window}"
        )
        assert "autoscaler: web within 1-3 replicas" in done.stdout, done.stdout
        refused = stack.make("deploy-scale", "SCALE=2", check=False)
        assert refused.returncode != 0 and "the autoscaler sets web's size" in refused.stderr
        (autoscaler,) = stack.containers("autoscaler")
        assert "docker.sock" not in docker_cli("inspect", "--format", "{{json .Mounts}}", autoscaler)
        probed = docker_cli("exec", autoscaler, "python3", "-c", SWARM_PROBE.format(web=f"{stack.name}_web"))
        assert probed.splitlines() == [
            f"403 refused by the autoscaler's socket proxy: {why}"
            for why in (
                "an update of web that changes more than its replicas",
                "a web replica beyond the autoscaler's most, 3",
                f"a new container that is not one of {stack.name}'s web replicas",
            )
        ]

        def during():
            wait_for(lambda: len(stack.containers("web")) >= 2, 120, "two replicas or more under load", 1)
            seen["most"] = len(stack.containers("web"))
            pace[0] = 0.25  # the load falls to about 30 requests a second
            wait_for(lambda: len(stack.containers("web")) == 1, 120, "back to one replica", 1)

        result = stack.load(clients=8, during=during, after=3, pace=lambda: pace[0])
        said = docker_cli("service", "logs", "--raw", f"{stack.name}_autoscaler")
    finally:
        stack.make("deploy", "AUTOSCALE=off", "SCALE=3", timeout=600)  # as the other tests found it
    print(f"autoscaled on Swarm: {dict(result.attempts)}, out to {seen['most']} replicas and back to 1")
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls)
    assert_kept(stack, result, before)
    assert re.search(r"busy 0\.\d\d over target 0\.60 on 1 ready replicas: 1 -> [23]\n", said), said
    assert re.search(rf"low for {window} s: 2 -> 1\n", said), said
    assert docker_cli("service", "ls", "--quiet", "--filter", f"name={stack.name}_autoscaler") == ""
    assert len(stack.containers("web")) == 3


@pytest.fixture(scope="module")
def changed_tree(deployed, tmp_path_factory):
    """A copy of the project, with its secrets, in which the tests change web's code."""
    return project_copy(tmp_path_factory.mktemp("tree") / "counter")


def watch_healthy_web(stack, stop, seen):
    while not stop.is_set():
        seen.append(stack.healthy("web"))
        time.sleep(0.3)


def test_deploy_plan_says_what_would_change_and_changes_nothing(deployed, changed_tree):
    views = changed_tree / "web/counter/views.py"
    original = views.read_text()
    edit(views, '"Cache-Control": "no-store"}', '"Cache-Control": "no-store", "X-Release": "planned"}')
    old_image = deployed.image("web")
    try:
        output = deployed.from_tree(changed_tree).make("deploy", "PLAN=1", timeout=600).stdout
    finally:
        views.write_text(original)
    plan = output[output.index("(PLAN=1: nothing is changed):") :].splitlines()[1:]
    assert len(plan) == 1, output
    assert re.fullmatch(
        r"==>   web: its image changed \(\S+ -> \S+\); replaced one task at a time, new first", plan[0]
    )
    assert deployed.image("web") == old_image
    assert "X-Release" not in dict(deployed.get("/")[1].getheaders())


def test_rolling_update_under_load_replaces_replicas_new_first_and_counts_exactly(deployed, changed_tree):
    edit(
        changed_tree / "web/counter/views.py",
        '"Cache-Control": "no-store"}',
        '"Cache-Control": "no-store", "X-Release": "2"}',
    )
    updater = deployed.from_tree(changed_tree)
    old_image = deployed.image("web")
    before = deployed.count()
    healthy, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_healthy_web, args=(deployed, stop, healthy))

    def update():
        time.sleep(2)
        watcher.start()
        updater.make("deploy", timeout=600)
        stop.set()

    result = deployed.load(clients=16, after=3, during=update)
    watcher.join()
    assert deployed.image("web") != old_image
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls)
    assert_kept(deployed, result, before)
    assert min(healthy) >= 3, healthy  # a new replica was healthy before an old one stopped
    assert all(deployed.get("/")[1].getheader("X-Release") == "2" for _ in range(12))


def test_a_broken_image_is_rolled_back_by_swarm_while_serving_goes_on(deployed, changed_tree):
    # It listens on another port: its healthcheck (and nginx) never reach it.
    edit(changed_tree / "web/counter/settings.py", '"0.0.0.0:8000"', '"0.0.0.0:8001"')
    updater = deployed.from_tree(changed_tree)
    good_image = deployed.image("web")
    before = deployed.count()
    outcome = {}

    def broken_update():
        """The deploy, then Swarm's rollback until it ends: all of it under load."""
        time.sleep(2)
        outcome["deploy"] = updater.make("deploy", check=False, timeout=600)
        wait_for(lambda: deployed.healthy("web") >= 3, 60, "3 healthy web replicas", interval=1)

    result = deployed.load(clients=16, after=3, during=broken_update)
    done = outcome["deploy"]
    assert done.returncode != 0
    assert "deploy: the update of web failed, so Swarm rolls it back" in done.stderr
    assert deployed.image("web") == good_image
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls)
    assert_kept(deployed, result, before)


def test_deploy_refuses_a_registry_that_does_not_answer(deployed):
    port = free_port()
    done = deployed.make("deploy", f"REGISTRY=127.0.0.1:{port}", check=False)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        f"deploy: the registry at 127.0.0.1:{port} does not answer: "
        "start it, or set REGISTRY to one that does"
    )


def test_undeploy_removes_the_stack_and_keeps_the_count(deployed):
    for _ in range(5):
        assert deployed.get("/")[0] == 200
    count = deployed.count()
    output = deployed.make("undeploy").stdout
    assert f"the count stays in volume {deployed.name}_redis-data" in output
    assert (
        docker_cli(
            "service", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={deployed.name}"
        )
        == ""
    )
    deployed.make("deploy", "SCALE=3", timeout=600)  # as the other tests found it
    assert deployed.count() == count
