"""Redis under Sentinel (REDIS_MODE=sentinel): a primary, two replicas, three sentinels.

The tests share one stack started under Sentinel, over TLS (REDIS_TLS=on, as on Swarm; each test
leaves it with a primary and two replicas in sync, so each passes alone and in any order): each
under 16 clients retrying with their Idempotency-Key, its primary is killed, frozen, cut off the
network and wiped, its replicas lost; the whole stack restarts; its certificates are renewed
under 16 plain clients. Switching modes, one Redis to Sentinel and back, is one scenario on a
stack of its own.
Every load ends with the promise's checks (loadtest/exactness.py): no count handed out twice,
the counter moved by exactly the successes (every keyed retry counted once), and writes resume
within 10 s of losing the primary. The last test turns the acknowledgement off and shows that
the same checks then catch lost increments: without it, these tests would prove nothing.
"""

import hashlib
import json
import ssl
import time
import urllib.parse
import urllib.request

import pytest

import exactness
from helpers.faults import FaultWindow, docker
from helpers.stack import Stack, assert_exact
from helpers.support import ROOT, free_port, wait_for

pytestmark = pytest.mark.e2e

DOWN_AFTER_MS = 2000  # REDIS_DOWN_AFTER_MS's default
INSTANCES = ("redis", "redis-2", "redis-3")


@pytest.fixture(scope="module")
def sentinel_stack(docker):
    stack = Stack(redis_mode="sentinel")
    stack.make("up", "SCALE=2")
    # Then over TLS, as a user switches it on: the group cannot roll from clear to TLS (its
    # members could not talk to each other), so it restarts together.
    stack.env["REDIS_TLS"] = "on"
    switched = stack.make("up", "SCALE=2").stdout
    assert "switching REDIS_TLS to on: Redis, the sentinels and web restart together" in switched
    yield stack
    stack.down()


@pytest.fixture
def ha(sentinel_stack):
    """The shared stack, with its primary and both replicas in sync before and after the test."""
    in_sync(sentinel_stack)
    yield sentinel_stack
    in_sync(sentinel_stack)


def in_sync(stack):
    def whole():
        primary = stack.primary()
        return all(role(stack, name) == ("slave", primary, "up") for name in INSTANCES if name != primary)

    wait_for(whole, 60, "a primary with both replicas in sync", interval=0.5)


def role(stack, service):
    info = stack.replication(service)
    return info.get("role"), info.get("master_host"), info.get("master_link_status")


def lose_the_primary(stack, fault_for, seconds=16):
    """Load with `fault_for(primary's container)` applied; returns the primary that was lost."""
    old = stack.primary()
    before = stack.count()
    fault = fault_for(stack.container(old))
    result = stack.load(clients=16, seconds=seconds, retry=True, timeout=5, during=fault)
    assert result.gave_up == 0, result.attempts
    assert result.attempts[503] > 0, "the primary's loss was not noticed"
    assert_exact(stack, result, before)
    last_failure = max(started for started, _ in result.failures)
    resumed = min(t for t, _ in result.answered if t > last_failure) - fault.start
    print(
        f"\nwrites resumed {resumed:.2f} s after the fault (down-after {DOWN_AFTER_MS} ms); {result.attempts}"
    )
    assert resumed < 10
    assert stack.primary(ask=next(s for s in INSTANCES if s != old)) != old
    return old


def rejoins_as_replica(stack, old):
    """Wait until `old` follows the primary the sentinels name (asked of another instance)."""
    other = next(s for s in INSTANCES if s != old)
    wait_for(
        lambda: role(stack, old) == ("slave", stack.primary(ask=other), "up"),
        40,
        f"{old} a replica",
        interval=0.5,
    )


def test_a_killed_primary_is_replaced_and_rejoins_as_a_replica(ha):
    old = lose_the_primary(ha, lambda c: FaultWindow(docker(ha, "kill", "--signal", "KILL", c)))
    ha.run("docker", "start", ha.container(old))
    rejoins_as_replica(ha, old)


def test_a_frozen_primary_is_replaced_and_rejoins_as_a_replica(ha):
    old = lose_the_primary(
        ha, lambda c: FaultWindow(docker(ha, "pause", c), docker(ha, "unpause", c), lasting=12), seconds=18
    )
    rejoins_as_replica(ha, old)


def test_a_primary_cut_off_the_network_is_replaced_and_rejoins_as_a_replica(ha):
    network = f"{ha.name}_back"

    def cut(container):
        address = ha.inspect_one(
            container, f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        )
        return FaultWindow(
            docker(ha, "network", "disconnect", network, container),
            docker(ha, "network", "connect", "--ip", address, network, container),
            lasting=12,
        )

    old = lose_the_primary(ha, cut, seconds=18)
    rejoins_as_replica(ha, old)


def test_a_primary_back_with_its_data_lost_has_a_replica_promoted_and_copies_it(ha):
    assert [ha.get("/")[0] for _ in range(20)] == [200] * 20  # counts to lose, alone or not
    before, old = ha.stats(), ha.primary()
    container = ha.container(old)
    ha.run("docker", "exec", container, "sh", "-c", "rm -rf /data/*")
    ha.run("docker", "kill", "--signal", "KILL", container)
    ha.run("docker", "start", container)  # back at once: the sentinels still name it primary
    other = next(s for s in INSTANCES if s != old)
    wait_for(lambda: ha.primary(ask=other) != old, 30, "another primary", interval=0.5)
    rejoins_as_replica(ha, old)
    assert ha.stats() == before
    assert ha.redis_cli(old, "GET", "counter:total") == str(before["total"])
    logs = ha.run("docker", "logs", container).stderr
    assert (
        "the sentinels name this instance primary, but its data is gone: having them promote a replica"
        in logs
    )


def test_a_second_container_on_a_live_members_volume_waits_and_the_member_serves_on(ha):
    """As an engine does when a task and its replacement overlap (docs/swarm.md): the stack's Redis
    image started again over a live instance's and a live sentinel's volumes (--volumes-from). It
    waits for the volume (REDIS_DATA_WAIT, shortened here), opens nothing, and gives up; the live
    ones serve on, under plain clients that see no failure."""
    primary = ha.primary()
    before = ha.count()
    tried = {}

    def second_on(service):
        live = ha.container(service)
        image = ha.inspect_one(live, "{{.Config.Image}}")
        tried[service] = ha.run(
            "docker", "run", "--rm", "--network", "none", "--volumes-from", live,
            "--env", "REDIS_DATA_WAIT=3", image, check=False,
        ), ha.inspect_one(live, "{{.Config.Hostname}}")  # fmt: skip

    def both():
        time.sleep(1)
        second_on(primary)
        second_on("sentinel-1")

    result = ha.load(clients=4, seconds=12, during=both)
    for service, (done, holder) in tried.items():
        assert done.returncode == 1, (service, done.stderr)
        assert done.stderr.splitlines()[-1] == (
            f"hold-data: /data is still held by {holder} pid 1 after 3 s: not starting"
        ), service
    assert result.failed_attempts == 0, result.attempts
    assert_exact(ha, result, before)
    assert ha.primary() == primary


def test_with_no_replica_to_acknowledge_increments_get_503_saying_so_then_resume(ha):
    replicas = [ha.container(s) for s in INSTANCES if s != ha.primary()]
    before = ha.count()
    refused = "no replica to acknowledge: the primary has fewer than 1 replicas in sync"
    answers = []

    def ask_until_refused():
        answers.append(ha.get("/", {"Idempotency-Key": f"unconfirmed-{len(answers)}"}))
        return refused in ha.compose("logs", "--since", "30s", "web").stdout

    ha.run("docker", "pause", *replicas)
    try:
        # At first the waits time out; from min-replicas-max-lag (2 s) on, the primary refuses.
        wait_for(ask_until_refused, 30, "the primary refusing increments", interval=0.5)
    finally:
        ha.run("docker", "unpause", *replicas)
    assert {status for status, _, _ in answers} == {503}, [a[2] for a in answers]
    assert answers[0][1].getheader("Retry-After") == "1"
    # Retried with their keys, each counts once: one the primary ran but could not have confirmed
    # answers the count it was given, once a replica has it.
    wait_for(lambda: ha.get("/", {"Idempotency-Key": "unconfirmed-0"})[0] == 200, 20, "writes again")
    counts = [
        int(ha.get("/", {"Idempotency-Key": f"unconfirmed-{n}"})[2].split()[-2]) for n in range(len(answers))
    ]
    assert len(set(counts)) == len(answers) and ha.count() <= before + len(answers)


def test_a_restart_of_the_whole_stack_keeps_the_count_and_the_roles(ha):
    before, primary = ha.stats(), ha.primary()
    ha.make("down")
    ha.make("up", "SCALE=2")
    assert ha.primary() == primary
    assert ha.stats() == before


def test_prometheus_reads_each_instance_and_sentinel_and_sees_one_primary(ha):
    ha.env["PROMETHEUS_PORT"] = str(free_port())
    ha.make("monitor")
    url = f"http://127.0.0.1:{ha.env['PROMETHEUS_PORT']}/api/v1"

    def query(path, **params):
        with urllib.request.urlopen(f"{url}/{path}?{urllib.parse.urlencode(params)}", timeout=10) as answer:
            return json.load(answer)["data"]

    def healthy():
        found = [
            (t["labels"]["job"], t["labels"]["instance"], t["health"])
            for t in query("targets")["activeTargets"]
        ]
        return {
            (job, instance)
            for job, instance, health in found
            if job in ("redis", "sentinel") and health == "up"
        }

    group = ha.redis
    expected = {("redis", f"{s}:6379") for s in group.instances} | {
        ("sentinel", f"{s}:26379") for s in group.sentinels
    }
    wait_for(lambda: healthy() == expected, 60, "every instance and sentinel scraped", interval=1)
    masters = query("query", query='redis_instance_info{job="redis", role="master"}')["result"]
    assert [m["metric"]["instance"] for m in masters] == [f"{ha.primary()}:6379"]
    ok = query("query", query="redis_sentinel_master_ok_slaves")["result"]
    assert sorted(float(r["value"][1]) for r in ok) == [2.0, 2.0, 2.0]


def test_switching_to_sentinel_and_back_carries_the_count_each_way(stack):
    stack.make("up", "SCALE=2")
    for _ in range(30):
        assert stack.get("/")[0] == 200
    before = stack.stats()
    stack.env["REDIS_MODE"] = "sentinel"
    stack.make("up", "SCALE=2")
    assert stack.stats() == before  # the count and each replica's share, over once
    assert stack.primary() == "redis"
    for replica in ("redis-2", "redis-3"):
        wait_for(lambda r=replica: role(stack, r) == ("slave", "redis", "up"), 20, f"{replica} replicating")
    assert stack.get("/")[2] == f"Hello World! I have been seen {before['total'] + 1} times.\n"

    for _ in range(10):
        assert stack.get("/")[0] == 200
    before = stack.stats()
    stack.env["REDIS_MODE"] = "single"
    stack.make("up", "SCALE=2")
    assert stack.stats() == before
    assert stack.containers("redis-2") == stack.containers("sentinel-1") == []
    volumes = stack.run("docker", "volume", "ls", "--quiet", "--filter", f"name={stack.name}_").stdout.split()
    assert volumes == [f"{stack.name}_redis-data"]


def test_without_the_acknowledgement_the_same_checks_catch_lost_increments(stack):
    stack.env.update(REDIS_MODE="sentinel", REDIS_ACK_REPLICAS="0", REDIS_APPENDFSYNC="everysec")
    stack.make("up", "SCALE=2")
    replicas = [stack.container(s) for s in ("redis-2", "redis-3")]
    before = stack.count()

    def lose_what_the_replicas_missed():
        time.sleep(2)
        stack.run("docker", "pause", *replicas)  # they fall behind: nothing waits for them
        time.sleep(3)
        stack.run("docker", "kill", "--signal", "KILL", stack.container("redis"))
        stack.run("docker", "unpause", *replicas)  # one of them, without those 3 s, is promoted

    result = stack.load(clients=16, seconds=16, retry=True, timeout=5, during=lose_what_the_replicas_missed)
    delta = stack.count() - before
    outcome, reason = exactness.verdict(result.successes, result.gave_up, delta, result.counts)
    print(f"\nwithout the acknowledgement: {reason}")
    assert outcome == "MISMATCH"
    assert "counts handed out twice" in reason and "lost counts" in reason


# The fingerprint of the certificate each address serves, asked from a web replica with its own.
SERVED = """
import hashlib, socket, ssl, sys
context = ssl.create_default_context(cafile="/run/secrets/redis_tls_ca")
context.check_hostname = False
context.load_cert_chain("/run/secrets/redis_tls")
for address in sys.argv[1:]:
    host, port = address.split(":")
    with context.wrap_socket(socket.create_connection((host, int(port)), 2)) as tls:
        print(address, hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
"""


def served(stack, addresses):
    out = stack.compose("exec", "-T", "web", "python", "-c", SERVED, *addresses).stdout
    return dict(line.split() for line in out.splitlines())


def fingerprint(pem):
    """The certificate's, of a file that holds it and its key."""
    text = pem.read_text()
    certificate = text[: text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(certificate)).hexdigest()


def test_renewed_certificates_are_taken_up_under_load_with_no_failed_request(ha):
    addresses = [f"{name}:6379" for name in INSTANCES] + [f"{name}:26379" for name in ha.redis.sentinels]
    old = fingerprint(ROOT / "secrets/redis_tls_server.pem")
    assert set(served(ha, addresses).values()) == {old}
    before = ha.count()
    done = {}

    def rotate():
        done["out"] = ha.make("secrets", "ROTATE=certs").stdout

    result = ha.load(clients=16, after=3, during=rotate)
    print(f"\nmake secrets ROTATE=certs under load: {result.attempts}\n{done['out']}")
    assert result.failed_attempts == 0, result.attempts
    assert_exact(ha, result, before)
    new = fingerprint(ROOT / "secrets/redis_tls_server.pem")
    assert new != old
    assert served(ha, addresses) == {address: new for address in addresses}
    for name in ha.redis.sentinels:
        assert f"sentinel {name} restarted with its new certificate, and back among the others" in done["out"]
