"""The stack on a swarm of three Docker engines (make swarm-lab), all three managers, with Redis
under Sentinel (make deploy REDIS_MODE=sentinel): one Redis instance and one sentinel on each
node, a load balancer on each node, web replicas on node-2 and node-3, images through the lab's
registry. Then, under steady load: scaling, a drained node, a node lost outright and its return,
the node with the Redis primary lost, and that node cut off the network and healed; and a change
of Redis shipped with make deploy, the group rolled one member at a time. Redis's traffic is over
TLS, as make deploy has it by default: a capture of what crosses between the nodes, under load and
a failover, holds no password, command or key of Redis's.

Clients are given every node's address, as DNS round robin would give them, and move to the next
when a connection breaks. Every load ends with the promise's checks: no count handed out twice,
and (clients retrying with their Idempotency-Key where a node is lost) the counter moved by
exactly the successes.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from helpers import load_client
from helpers.capture import Capture, bridge_of
from helpers.faults import FaultWindow, resumed_after
from helpers.redis_group import NoPrimary, RedisGroup, read_topology
from helpers.stack import Stack, assert_exact, assert_kept
from helpers.support import ROOT, project_copy, wait_for

pytestmark = pytest.mark.e2e

REPLICAS = 4
NODES = ("node-1", "node-2", "node-3")
DOWN_AFTER_MS = 2000  # REDIS_DOWN_AFTER_MS's default


class LabStack(Stack):
    """The stack deployed on the lab, driven with make against one of its nodes."""

    def __init__(self, lab):
        super().__init__()
        self.lab = lab
        self.env.update(STACK="counter", LB_PORT="8080", LAB_NAME=lab, REDIS_MODE="sentinel")
        self.addresses = {node: self.address(node) for node in NODES}
        self.use("node-1")
        self.topology = read_topology(self.env)  # the services' names, the same in every copy
        self.whole = False  # whether make_whole() found it whole, and no test has run since

    def address(self, node):
        return self.host_docker(
            "inspect",
            "--format",
            f'{{{{(index .NetworkSettings.Networks "{self.lab}").IPAddress}}}}',
            self.node(node),
        )

    def node(self, name):
        return f"{self.lab}-{name}"

    def use(self, node):
        """Point make and docker at `node`'s engine (any node is a manager)."""
        self.env.update(lab_settings(self.lab, node))
        self.host, self.port = self.addresses[node], 8080

    def host_docker(self, *args):
        return self.run("docker", "-H", "unix:///var/run/docker.sock", *args).stdout.strip()

    def docker(self, *args, seconds=90):
        """`docker` on the node in use. While the swarm elects a leader (a node back from a cut-off
        can call an election), a manager answers that it has none, or its request to the leader
        runs out of time: asked again, for a while."""
        deadline = time.monotonic() + seconds
        while True:
            done = self.run("docker", *args, check=False)
            if done.returncode == 0:
                return done.stdout.strip()
            electing = "does not have a leader" in done.stderr or "DeadlineExceeded" in done.stderr
            if not electing or time.monotonic() > deadline:
                raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}: {done.stderr}")
            time.sleep(1)

    def load(self, **kwargs):
        return load_client.run(self.port, host=list(self.addresses.values()), **kwargs)

    def placement(self, service="web"):
        """{node: running tasks of the service}"""
        tasks = self.docker(
            "service", "ps", f"counter_{service}", "--filter", "desired-state=running", "--format",
            "{{.Node}} {{.CurrentState}}",
        )  # fmt: skip
        running = [line.split()[0] for line in tasks.splitlines() if line.split()[1] == "Running"]
        return {node: running.count(node) for node in set(running)}

    def node_state(self, node):
        return self.docker("node", "inspect", node, "--format", "{{.Status.State}}")

    def led(self):
        """Whether every node's engine sees the swarm's leader. A node back from a cut-off can call
        an election on its return (seen: no leader for the next test's make deploy)."""
        for address in self.addresses.values():
            seen = self.run("docker", "-H", f"tcp://{address}:2375", "node", "ls", "--format",
                            "{{.ManagerStatus}}", check=False)  # fmt: skip
            if seen.returncode != 0 or "Leader" not in seen.stdout.split():
                return False
        return True

    def wait(self, check, seconds, what):
        return wait_for(check, seconds, what, interval=0.5)

    def spread(self):
        """Replicas on node-2 and node-3 again, half on each. Swarm moves no task back by itself,
        and a forced update may place them unevenly (it counts the old tasks still running, seen:
        1 and 3 after three forced updates); from none, it spreads a service's tasks evenly."""
        for _ in range(3):
            if self.placement() == {"node-2": REPLICAS // 2, "node-3": REPLICAS // 2}:
                self.make("deploy-scale", f"SCALE={REPLICAS}")  # ends when nginx reaches each one
                return
            self.docker("service", "scale", "--detach=false", "counter_web=0")
            self.docker("service", "scale", "--detach=false", f"counter_web={REPLICAS}")
        raise AssertionError(f"web not spread evenly over node-2 and node-3: {self.placement()}")

    def placed_on(self):
        """{service: node} of the Redis group: `make deploy` labels a node counter.<service>=true
        for each instance and sentinel (control/deploy.py), this node's first."""
        placed = {}
        for node in NODES:
            labels = self.docker("node", "inspect", node, "--format", "{{json .Spec.Labels}}")
            for label, value in json.loads(labels).items():
                if label.startswith("counter.") and value == "true":
                    placed[label.removeprefix("counter.")] = node
        return placed

    def engine(self, node):
        return ["docker", "-H", f"tcp://{self.addresses[node]}:2375"]

    def container_of(self, service):
        """The container of the service's task that Swarm wants running (the one in state running
        if there are two), or None. After a node is cut off and back, an old task and its
        replacement can both have a container there for a while (docs/swarm.md): their names do
        not tell them apart, the task's desired state does."""
        tasks = self.run("docker", "service", "ps", f"counter_{service}", "--filter", "desired-state=running",
                         "--no-trunc", "--format", "{{.ID}}", check=False)  # fmt: skip
        template = "{{.Status.State}} {{.Status.ContainerStatus.ContainerID}}"
        states = [
            self.run("docker", "inspect", "--format", template, task, check=False).stdout.split()
            for task in tasks.stdout.split()
        ]
        found = [state for state in states if len(state) == 2]  # none while a task has no container
        containers = sorted((state != "running", container) for state, container in found)
        return containers[0][1] if containers else None

    @property
    def redis(self):
        """The Redis group (helpers/redis_group.py), reached on the node that holds each task."""
        return self.group(self.placed_on())

    def group(self, placed):
        def run_in(service, argv, check):
            container = self.container_of(service)
            if container is None:
                assert not check, f"counter_{service} has no task that Swarm wants running"
                return ""  # no task of it is running (yet)
            return self.run(*self.engine(placed[service]), "exec", container, *argv, check=check).stdout

        return RedisGroup(self.topology, run_in)

    def primary(self, ask="redis-2"):
        """The instance the sentinels name primary (asked from instance `ask`)."""
        return self.redis.primary(via=ask)

    def role(self, service):
        info = dict(
            line.split(":", 1)
            for line in self.redis_cli(service, "INFO", "replication", check=False).splitlines()
            if ":" in line
        )
        return info.get("role"), info.get("master_host"), info.get("master_link_status")

    def containers(self, service, node):
        """The service's containers on `node`, those that ended too."""
        label = f"label=com.docker.swarm.service.name=counter_{service}"
        listed = self.run(*self.engine(node), "ps", "--all", "--quiet", "--filter", label, check=False)
        return listed.stdout.split()

    def held(self, service, node):
        """{container: what hold-data logged} for the service's containers on `node`, the old ones
        too: a second container on one volume waits there for the first to stop."""
        engine = self.engine(node)
        logs = {c: self.run(*engine, "logs", c, check=False) for c in self.containers(service, node)}
        return {c: [line for line in (done.stdout + done.stderr).splitlines() if "hold-data" in line]
                for c, done in logs.items()}  # fmt: skip

    def logs(self, service, node, lines=12):
        """{container: its state and last lines of log} for the service's containers on `node`."""
        engine, found = self.engine(node), {}
        for container in self.containers(service, node):
            state = self.run(*engine, "inspect", "--format", "{{.State.Status}}", container, check=False)
            done = self.run(*engine, "logs", "--tail", str(lines), container, check=False)
            found[container] = [state.stdout.strip(), *(done.stdout + done.stderr).splitlines()]
        return found

    def heal(self):
        """Undo what a fault test that failed may have left undone: every node's engine running
        and on the lab's network at its address."""
        for node, address in self.addresses.items():
            container = self.node(node)
            if self.host_docker("inspect", "--format", "{{.State.Running}}", container) != "true":
                self.host_docker("start", container)
            networks = "{{json .NetworkSettings.Networks}}"
            if self.lab not in json.loads(self.host_docker("inspect", "--format", networks, container)):
                self.host_docker("network", "connect", "--ip", address, self.lab, container)

    def missing(self):
        """What keeps the stack from being whole, or None: every node ready and seeing a leader;
        each member of the Redis group one container, its task's, on its own node; an lb on every
        node; every sentinel naming one primary, every other instance its replica."""
        nodes = self.run("docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}", check=False)
        if nodes.returncode != 0 or sorted(nodes.stdout.split()) != sorted([*NODES, *["Ready"] * len(NODES)]):
            return f"every node ready: {nodes.stdout.split()}"
        if not self.led():
            return "a leader of the swarm, seen from every node"
        placed = self.placed_on()
        group = self.group(placed)
        for name in group.instances + group.sentinels:
            engine = self.engine(placed[name])
            service = f"label=com.docker.swarm.service.name=counter_{name}"
            on_node = self.run(*engine, "ps", "--quiet", "--filter", service, check=False).stdout.split()
            if self.placement(name) != {placed[name]: 1} or len(on_node) != 1:
                return f"{name}: one task running on {placed[name]}, found {self.placement(name)}, {on_node}"
        if self.placement("lb") != {node: 1 for node in NODES}:
            return f"an lb on every node: {self.placement('lb')}"
        named = group.named(via=group.instances[0])
        if len(named) != len(group.sentinels) or len(set(named)) != 1:
            return f"every sentinel naming one primary: {named}"
        primary = named[0]
        for name in group.instances:
            if name != primary and self.role(name) != ("slave", primary, "up"):
                return f"{name} a replica of {primary}: {self.role(name)}"
        return None

    def make_whole(self, seconds=240):
        """Heal the lab and wait until the stack is whole (missing() says what it waits for), so
        that a test that failed leaves the next one what it would have found."""
        if self.whole:
            return  # found whole after the last test, and nothing has run since
        self.heal()
        self.use("node-1")
        started, seen = time.monotonic(), []

        def whole():
            try:
                seen.append(self.missing())
            except AssertionError as error:  # a docker command failed (say, while a leader is elected)
                seen.append(str(error).splitlines()[0])
            return seen[-1] is None

        try:
            wait_for(whole, seconds, "the lab's stack whole", interval=1)
        except TimeoutError:
            raise AssertionError(f"the lab's stack not whole within {seconds} s: {seen[-1]}") from None
        self.whole = True
        if len(seen) > 1:
            took = time.monotonic() - started
            print(f"\nthe lab's stack whole again after {took:.1f} s; it lacked {seen[0]}")

    def down(self):
        pass  # the lab goes, and the stack with it


def lab_settings(lab, node):
    done = subprocess.run(
        [sys.executable, "-m", "control", "lab-env"],
        env=dict(os.environ, LAB_NAME=lab, NODE=node),
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
def lab_stack(lab):
    stack = LabStack(lab)
    output = stack.make("deploy", f"SCALE={REPLICAS}", timeout=900).stdout
    assert f"pushing {stack.env['REGISTRY']}/counter-web:" in output
    return stack


@pytest.fixture
def deployed(lab_stack):
    """The deployed stack, whole before the test and after it, whatever the test did or failed to
    undo: one test's failure stays its own."""
    lab_stack.make_whole()
    lab_stack.whole = False
    yield lab_stack
    lab_stack.make_whole()


def test_deploy_to_several_nodes_without_a_registry_is_refused(lab):
    stack = LabStack(lab)
    done = stack.make("deploy", "REGISTRY=", check=False)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        "deploy: this swarm has 3 nodes and only this one has the images: "
        "set REGISTRY=host:port of a registry every node can pull from"
    )


def test_deploy_puts_an_instance_and_a_sentinel_on_each_node_and_an_lb_everywhere(deployed):
    assert deployed.placement() == {"node-2": 2, "node-3": 2}
    placed, group = deployed.placed_on(), deployed.redis
    assert sorted(placed[name] for name in group.instances) == list(NODES)
    assert sorted(placed[name] for name in group.sentinels) == list(NODES)
    assert placed[group.instances[0]] == "node-1"  # the first primary, on the node deployed from
    for name in group.instances + group.sentinels:
        assert deployed.placement(name) == {placed[name]: 1}, name
    assert deployed.placement("lb") == {node: 1 for node in NODES}
    image = deployed.docker(
        "service", "inspect", "counter_web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    )
    assert image.startswith(deployed.env["REGISTRY"] + "/counter-web:")
    assert deployed.primary() == "redis"
    for name in group.instances:  # over TLS, with no plain port (REDIS_TLS=on, make deploy's default)
        ports = (
            group.cli(name, "CONFIG", "GET", "port").split()
            + group.cli(name, "CONFIG", "GET", "tls-port").split()
        )
        assert ports == ["port", "0", "tls-port", "6379"], name
    for node, address in deployed.addresses.items():  # every node's load balancer reaches every replica
        client = load_client.Client(8080, host=address)
        served = {client.get("/")[1].getheader("X-Served-By") for _ in range(40)}
        client.close()
        assert len(served) == REPLICAS, node


def test_scale_out_and_in_across_nodes_under_load_counts_every_keyed_request_once(deployed):
    before = deployed.count()

    def scale_out_then_in():
        time.sleep(2)
        deployed.make("deploy-scale", "SCALE=6")
        time.sleep(3)
        deployed.make("deploy-scale", f"SCALE={REPLICAS}")
        time.sleep(2)

    result = deployed.load(clients=16, seconds=20, retry=True, during=scale_out_then_in)
    # Six replicas, three Redis instances, three sentinels and three engines on two cores: an
    # acknowledgement now and then misses its 0.2 s, a 503 that the client's retry makes good.
    print(f"\nscaling 4 -> 6 -> 4: {result.attempts}, host stalls {result.stalls}")
    failed = result.failed_by_the_stack()
    assert len(failed) <= result.successes // 1000, (result.attempts, result.stalls)
    assert result.gave_up == 0
    assert len(result.served_by) >= 6
    assert_exact(deployed, result, before)


def test_draining_a_node_moves_its_replicas_and_keyed_requests_end_exact(deployed):
    deployed.spread()
    before = deployed.count()

    def drain():
        time.sleep(3)
        deployed.docker("node", "update", "--availability", "drain", "node-2")
        deployed.wait(lambda: deployed.placement() == {"node-3": REPLICAS}, 60, "replicas moved off node-2")
        time.sleep(2)

    try:
        result = deployed.load(clients=16, seconds=20, retry=True, during=drain)
    finally:
        deployed.docker("node", "update", "--availability", "active", "node-2")
    # Its load balancer went too: a client connected there saw its connection end or refused, and
    # moved on to the next node. Half the replicas leave at once, with a Redis instance and a
    # sentinel: now and then nginx finds none of the rest free in time (a 502 or 503, retried).
    ended = {"RemoteDisconnected", "ConnectionResetError", "ConnectionRefusedError", 502, 503}
    print(f"\ndraining node-2: {result.attempts}")
    assert {status for status in result.attempts if status != 200} <= ended, result.attempts
    assert result.failed_attempts <= result.successes // 50, result.attempts
    assert result.gave_up == 0
    assert_exact(deployed, result, before)
    deployed.wait(lambda: deployed.role("redis-2") == ("slave", "redis", "up"), 60, "redis-2 back")


# What must never cross between the nodes in clear: every Redis password, and Redis's commands
# and keys as the app sends them. nginx's requests to the web replicas do cross in clear (they
# carry only counts): that the capture holds them shows it sees inside the overlay's packets.
REDIS_IN_CLEAR = ("EVALSHA", "counter:")
SEEN_IN_CLEAR = "I have been seen"


def redis_secrets():
    return [path.read_text().strip() for path in (ROOT / "secrets").glob("redis_*_password")]


def named_primary(deployed, ask):
    """The primary a majority of the sentinels name, or None while they do not agree."""
    try:
        return deployed.primary(ask=ask)
    except NoPrimary:
        return None


def sentinel_master(deployed, via, sentinel):
    """What `sentinel` says of the primary (SENTINEL MASTER), asked from `via`; {} if it does not answer."""
    lines = deployed.redis.ask(via, sentinel, "SENTINEL", "MASTER", "counter", check=False).splitlines()
    return dict(zip(lines[::2], lines[1::2], strict=False))


def newest_epoch(deployed, via):
    """The newest config epoch the sentinels that answer know (asked from `via`): a failover's."""
    return max(
        int(sentinel_master(deployed, via, s).get("config-epoch", 0)) for s in deployed.redis.sentinels
    )


def test_losing_the_node_with_the_primary_promotes_another_fails_only_what_was_in_flight_and_shows_no_secret(
    deployed, tmp_path
):
    deployed.spread()
    primary, placed = deployed.primary(), deployed.placed_on()
    node = placed[primary]  # with a sentinel and a load balancer
    other = next(s for s in deployed.redis.instances if placed[s] != node)  # asked while it is lost
    before = deployed.count()
    kill = FaultWindow(lambda: deployed.host_docker("kill", deployed.node(node)))
    deployed.use(next(n for n in NODES if n != node))
    with Capture(bridge_of(deployed.lab), tmp_path / "between-nodes.pcap") as capture:
        result = deployed.load(clients=16, seconds=20, retry=True, timeout=5, during=kill)
    assert result.gave_up == 0, result.attempts
    assert_exact(deployed, result, before)
    shown = capture.count([*redis_secrets(), *REDIS_IN_CLEAR, SEEN_IN_CLEAR])
    print(f"\ncaptured between the nodes: {capture.size} bytes; in clear: {shown}")
    assert shown.pop(SEEN_IN_CLEAR, 0) > result.successes // 10  # the capture sees inside the overlay
    assert shown == {}
    resumed = resumed_after(result, kill.start)
    print(
        f"\n{node} lost: writes resumed {resumed:.2f} s after (down-after {DOWN_AFTER_MS} ms)",
        result.attempts,
    )
    assert resumed < 10
    deployed.wait(lambda: named_primary(deployed, other) not in (None, primary), 60, "another primary")

    deployed.host_docker("start", deployed.node(node))
    deployed.wait(lambda: deployed.node_state(node) == "ready", 90, f"{node} back")
    deployed.wait(
        lambda: deployed.role(primary) == ("slave", named_primary(deployed, other), "up"),
        90,
        f"{primary} a replica of the primary the sentinels name",
    )
    sentinel = next(name for name in deployed.redis.sentinels if placed[name] == node)

    def sentinel_follows():  # asked from its own node, as the others see it named
        fields = sentinel_master(deployed, primary, sentinel)
        return fields.get("ip") == named_primary(deployed, other) and fields.get("num-other-sentinels") == "2"

    deployed.wait(sentinel_follows, 120, f"{sentinel} back on {node}, naming the primary the others name")
    deployed.wait(lambda: deployed.placement("lb").get(node) == 1, 60, f"{node}'s load balancer")
    deployed.wait(deployed.led, 90, "a leader of the swarm, seen from every node")


def test_cutting_off_the_node_with_the_primary_then_healing_it_loses_and_doubles_nothing(deployed):
    primary = deployed.primary()
    node = deployed.placed_on()[primary]
    deployed.use(next(n for n in NODES if n != node))
    network, container = deployed.lab, deployed.node(node)
    address = deployed.addresses[node]
    before = deployed.count()
    seen = {}

    def cut_then_heal():
        time.sleep(3)
        seen["start"] = time.monotonic()
        deployed.host_docker("network", "disconnect", network, container)
        time.sleep(20)
        deployed.host_docker("network", "connect", "--ip", address, network, container)

    result = deployed.load(clients=16, seconds=30, retry=True, timeout=5, during=cut_then_heal)
    assert result.gave_up == 0, result.attempts
    assert_exact(deployed, result, before)
    # The node held web replicas too: until Swarm forgets them, nginx spends its time on them.
    resumed = resumed_after(result, seen["start"])
    print(f"\n{node} cut off for 20 s: writes resumed {resumed:.2f} s after; {result.attempts}")
    other = next(s for s in deployed.redis.instances if s != primary)
    deployed.wait(lambda: named_primary(deployed, other) not in (None, primary), 60, "another primary")
    moved = newest_epoch(deployed, other)
    later = {}

    def rejoined():
        """The old primary a replica of the primary the sentinels name; or, promoted again by a
        later failover (a newer epoch: the sentinels promote only a replica), the primary of the
        others. Seen once in CI: after the heal, the sentinels failed over back to it."""
        later.clear()
        named = named_primary(deployed, other)
        if named is None:
            return False
        if named != primary:
            return deployed.role(primary) == ("slave", named, "up")
        later["epoch"] = newest_epoch(deployed, other)
        replicas = [name for name in deployed.redis.instances if name != primary]
        return later["epoch"] > moved and all(deployed.role(r) == ("slave", primary, "up") for r in replicas)

    try:
        deployed.wait(rejoined, 60, f"{primary} a replica again")
    except TimeoutError as error:
        sentinels = {
            name: deployed.logs(name, deployed.placed_on()[name], lines=30)
            for name in deployed.redis.sentinels
        }
        raise AssertionError(
            f"{error}: its role {deployed.role(primary)}, the sentinels name "
            f"{named_primary(deployed, other)} (epoch {newest_epoch(deployed, other)}, moved at {moved}); "
            f"its containers on {node}: {deployed.logs(primary, node)}; the sentinels: {sentinels}"
        ) from None
    if later:
        print(f"{primary} promoted again by a later failover (epoch {later['epoch']}, moved away at {moved})")
    waited = time.monotonic()
    deployed.wait(deployed.led, 90, "a leader of the swarm, seen from every node")
    print(f"the swarm's leader seen from every node {time.monotonic() - waited:.1f} s later")
    print(f"{primary}'s containers on {node}, what hold-data said:", deployed.held(primary, node))


# A fifth of the 1,370 failed requests that updating all three instances at once cost when it was
# measured (issue: ship a change): that negative control must fail more.
PLAIN_FAILURES_AT_MOST = 1370 // 5


@pytest.fixture(scope="module")
def edited(lab_stack, tmp_path_factory):
    """A copy of the project for make deploy, whose redis/ a test edits; the stack as found after."""
    tree = project_copy(tmp_path_factory.mktemp("tree") / "counter")
    yield tree
    lab_stack.tree = ROOT


def logged(deployed, service, since):
    """The lines a service of the stack logged since `since` ("90s")."""
    command = ["docker", "service", "logs", "--raw", "--since", since, f"counter_{service}"]
    logs = deployed.run(*command, check=False)
    return (logs.stdout + logs.stderr).splitlines()


def sentinels_said(deployed, since):
    """What the sentinels logged of failovers since `since`, each line with its time."""
    said = [
        f"{name}: {line}"
        for name in deployed.redis.sentinels
        for line in logged(deployed, name, since)
        if "failover" in line or "promoted" in line
    ]
    return "\n".join(["", "what the sentinels said:", *said[-30:]])


def redeploy_redis_under_load(deployed, tree):
    """make deploy of a change of both Redis images (a line added to redis/redis-cli.sh), from `tree`,
    under 16 clients that do not retry, on node-2's load balancer. Returns (load result, make
    deploy's output, a report: when requests failed, make's steps, and what nginx and the replicas
    said then)."""
    script = tree / "redis/redis-cli.sh"
    script.write_text(script.read_text() + "# release 1\n")
    deployed.tree = tree
    deployed.use("node-1")  # make deploy builds where the base images are, as the first deploy did
    deployed.wait(lambda: {deployed.node_state(n) for n in NODES} == {"ready"}, 90, "every node ready")
    members = deployed.redis.instances + deployed.redis.sentinels
    old = {name: deployed.docker("service", "inspect", "--format", "{{.Version.Index}}", f"counter_{name}")
           for name in members}  # fmt: skip
    lines = []
    began, began_at = time.monotonic(), time.time()

    def redeploy():
        command = ["make", "--no-print-directory", "deploy", f"SCALE={REPLICAS}"]
        with subprocess.Popen(
            command, cwd=deployed.tree, env=deployed.env, stdout=subprocess.PIPE, text=True
        ) as make:
            lines.extend((time.monotonic() - began, line) for line in make.stdout)
        assert make.returncode == 0, "".join(line for _, line in lines)

    result = load_client.run(
        deployed.port, host=deployed.addresses["node-2"], clients=16, timeout=5, after=2, during=redeploy
    )
    output = "".join(line for _, line in lines)
    failed = [f"{when - began:.1f} s: {status}" for when, status in result.failures]
    timeline = "".join(f"{when:6.1f} s {line}" for when, line in lines)
    report = f"make deploy, redis/ edited: {result.attempts}, failed at {failed}\n{timeline}"
    if result.failures:  # each failed request as nginx saw it: every replica tried, and its answer
        since = f"{int(time.time() - began_at) + 1}s"
        tried = [line for line in logged(deployed, "lb", since) if " tried=" in line]
        tried = [line for line in tried if line.split()[1] != "200"]
        said = [line for line in logged(deployed, "web", since) if "counter store" in line]
        report += "\n".join(["", "what nginx tried:", *tried[-20:], "what the replicas said:", *said[-20:]])
        report += sentinels_said(deployed, since)
    print(f"\n{report}")
    for name in members:  # every member updated
        assert (
            deployed.docker("service", "inspect", "--format", "{{.Version.Index}}", f"counter_{name}")
            != old[name]
        )
    return result, output, report


def test_make_deploy_rolls_a_changed_redis_group_one_member_at_a_time_failing_no_request(deployed, edited):
    """Plain clients see nothing of the roll. Two things of the app make it so on Swarm (web/counter/
    redis_client.py): its connections to the sentinels replaced a minute before the planned switch
    are found dead while idle, not when the switch sends the app to ask the sentinels; and at the
    switch each process asks the sentinels one round for all its threads, not a round a thread
    over new connections, which on a busy host took longer than REDIS_TIMEOUT (1 to 12 failed
    requests a roll before)."""
    old_primary = deployed.primary()
    before = deployed.count()
    result, output, report = redeploy_redis_under_load(deployed, edited)
    assert not result.failed_by_the_stack(), report
    assert_kept(deployed, result, before)
    steps = [line.split(":")[0].removeprefix("==> ") for line in output.splitlines() if "done in" in line]
    sentinels = [s for s in steps if s.startswith("sentinel ")]
    assert len(sentinels) == 3 and steps.index(sentinels[-1]) < steps.index(
        f"primary switched from {old_primary}"
    ), output
    assert deployed.primary() != old_primary


def test_make_deploy_switch_moves_the_primary_failing_no_request_and_counts_exactly(deployed):
    """A planned switch on purpose (to drain the primary's node, say), under 16 clients that do not
    retry on node-2's load balancer: the same switch as the roll's, and no failed request."""
    old_primary = deployed.primary()
    before = deployed.count()
    done = {}

    def switch():
        done["make"] = deployed.make("deploy-switch")

    began = time.time()
    result = load_client.run(
        deployed.port, host=deployed.addresses["node-2"], clients=16, timeout=5, after=2, during=switch
    )
    output = done["make"].stdout
    report = f"make deploy-switch: {result.attempts}\n{output}"
    if result.failures:
        report += sentinels_said(deployed, f"{int(time.time() - began) + 1}s")
    print(f"\n{report}")
    assert not result.failed_by_the_stack(), report
    assert_kept(deployed, result, before)
    assert f"primary switched from {old_primary}" in output and "writes were refused for" in output
    assert deployed.primary() != old_primary


def test_negative_control_the_capture_finds_redis_traffic_sent_in_clear_between_nodes(deployed, tmp_path):
    """The same capture and the same checks, while a client on node-1 speaks to a Redis on node-2
    without TLS, as the app would with REDIS_TLS=off: its password, command and key are found."""
    deployed.use("node-1")
    image = deployed.docker(
        "service", "inspect", "counter_redis", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    )
    deployed.docker(
        "service", "create", "--detach=false", "--quiet", "--name", "counter_plain",
        "--network", "counter_back", "--constraint", "node.hostname==node-2",
        image, "redis-server", "--protected-mode", "no", "--save", "",
    )  # fmt: skip
    try:
        password = (ROOT / "secrets/redis_app_password").read_text().strip()
        with Capture(bridge_of(deployed.lab), tmp_path / "plain.pcap") as capture:
            for _ in range(5):
                deployed.run(
                    "docker", "run", "--rm", "--network", "counter_back", image,
                    "redis-cli", "-h", "counter_plain", "--no-auth-warning",
                    "--user", "counter", "--pass", password,
                    "EVALSHA", "0" * 40, "1", "counter:total",
                    check=False,
                )  # fmt: skip
    finally:
        deployed.docker("service", "rm", "counter_plain")
    shown = capture.count([*redis_secrets(), *REDIS_IN_CLEAR])
    print(f"\nplain Redis between the nodes, captured in clear: {shown}")
    assert set(shown) == {password, *REDIS_IN_CLEAR}


def test_negative_control_updating_the_group_at_once_fails_more_requests(deployed):
    """The group's members updated together, as one `docker stack deploy` of the changed stack
    file updates them (each service forced to a new task at once): requests fail, more than the
    bound above."""
    members = deployed.redis.instances + deployed.redis.sentinels

    def at_once():
        for name in members:
            deployed.docker("service", "update", "--detach", "--force", f"counter_{name}")

        def updated():
            states = [
                deployed.docker(
                    "service", "inspect", "--format", "{{.UpdateStatus.State}}", f"counter_{name}"
                )
                for name in members
            ]
            return set(states) == {"completed"}

        deployed.wait(updated, 180, "every member of the group updated")

    result = load_client.run(
        deployed.port, host=deployed.addresses["node-2"], clients=16, timeout=5, after=5, during=at_once
    )
    print(f"\nthe group updated at once (plain): {result.attempts}")
    assert result.failed_attempts > PLAIN_FAILURES_AT_MOST, result.attempts
