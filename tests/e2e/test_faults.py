"""Exactly-once counting under faults: killed replicas, scale-in, Redis crashes, repeated ids.

Each scenario runs 16 clients that record every count they receive, and ends with the same
checks: no count value handed out twice, the counter moved by exactly the number of
successful requests, and /stats summing to /count.
"""

import random
import time

import pytest

from helpers.stack import assert_exact, assert_kept

pytestmark = pytest.mark.e2e


def crash(stack, container):
    """SIGKILL the replica's gunicorn master from inside its container, as a crash would. It runs
    under Docker's init (PID 1), so the container exits and its restart policy brings it back."""
    done = stack.run(
        "docker", "exec", container, "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)", check=False
    )  # fmt: skip
    # 137: the shell that sent the signal went down with the container it crashed.
    assert done.returncode in (0, 137), (done.returncode, done.stderr)


def test_replicas_killed_every_few_seconds_lose_and_double_nothing(stack):
    stack.make("up", "SCALE=3")
    before = stack.count()
    kills = []

    def kill_replicas():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(3)
            victim = random.choice(stack.containers("web"))
            crash(stack, victim)
            kills.append(victim)

    result = stack.load(clients=16, seconds=25, retry=True, during=kill_replicas)
    assert len(kills) >= 5
    assert result.gave_up == 0, result.attempts
    # No cut 200: a replica writes each answer whole (counter/one_write.py), so one killed
    # mid-response gave nginx nothing, and nginx passed the request to another replica.
    assert result.attempts["IncompleteRead"] == 0, result.attempts
    assert_exact(stack, result, before)
    # The killed replicas came back, so the tier is whole again.
    deadline = time.monotonic() + 30
    while len(stack.containers("web")) < 3 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(stack.containers("web")) == 3
    restarts = [int(stack.inspect_one(c, "{{.RestartCount}}")) for c in stack.containers("web")]
    assert sum(restarts) >= len(kills), restarts  # each kill was a crash that the restart policy mended


def test_scale_in_from_six_to_one_under_load_fails_nothing(stack):
    stack.make("up", "SCALE=6")
    before = stack.count()

    def scale_in():
        time.sleep(4)
        stack.make("scale", "SCALE=1")

    result = stack.load(clients=16, seconds=15, during=scale_in)
    assert len(stack.replica_names()) == 1
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert len(result.served_by) == 6
    assert_kept(stack, result, before)


def test_redis_killed_under_load_loses_no_answered_increment(stack):
    stack.make("up", "SCALE=2")
    before = stack.count()

    crash = stack.redis_outage("kill", "--signal", "KILL", after=4, down_for=3)
    result = stack.load(clients=16, seconds=16, retry=True, during=crash)
    assert set(result.attempts) <= {200, 503}, result.attempts
    assert result.attempts[503] > 0, "the crash was not noticed"
    assert result.gave_up == 0
    # Every increment answered with 200 before the crash is still counted after it.
    assert max(result.counts) == result.successes + before
    assert_exact(stack, result, before)


def test_same_idempotency_key_twice_counts_once_with_the_same_count(stack):
    stack.make("up", "SCALE=3")
    before = stack.count()
    first = stack.get("/", {"Idempotency-Key": "checkout-7"})
    again = stack.get("/", {"Idempotency-Key": "checkout-7"})
    assert first[0] == again[0] == 200
    assert first[2] == again[2] == f"Hello World! I have been seen {before + 1} times.\n"
    assert again[1].getheader("Idempotent-Replayed") == "true"
    assert stack.count() == before + 1


def test_client_request_ids_are_replaced_so_they_cannot_suppress_counting(stack):
    stack.make("up", "SCALE=2")
    before = stack.count()
    for _ in range(3):
        assert stack.get("/", {"X-Request-Id": "same-id-every-time"})[0] == 200
    assert stack.count() == before + 3
