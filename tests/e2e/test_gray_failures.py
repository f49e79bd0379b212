"""Gray failures: nothing crashes, something stops answering. Under 16 keep-alive clients that
give up on an answer after 5 s, a reasonable client's timeout (README, Time budgets), each fault
must cost no client an answer, and the count must stay exact (or, where a client cannot know,
within its honest bounds).
"""

import pytest

from helpers.faults import FaultWindow, docker
from helpers.stack import assert_exact, assert_kept

pytestmark = pytest.mark.e2e

CLIENT_TIMEOUT = 5.0


def test_a_frozen_replica_costs_no_request_and_little_throughput(three_replicas):
    stack = three_replicas
    victim = stack.containers("web")[0]
    before = stack.count()
    freeze = FaultWindow(
        docker(stack, "pause", victim), docker(stack, "unpause", victim), after=6, lasting=20
    )
    result = stack.load(clients=16, seconds=36, timeout=CLIENT_TIMEOUT, during=freeze)
    # no client timed out or saw an error
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert_kept(stack, result, before)
    # nginx stopped sending it requests after the first ones timed out and took them elsewhere:
    # most of the throughput is kept (3 replicas on this host's 2 cores: the other two absorb it).
    start = result.answered[0][0] + 1  # after the clients' first second
    kept = result.rate(freeze.start + 2, freeze.end) / result.rate(start, freeze.start)
    assert kept >= 0.6, kept
    # Within seconds of thawing it serves again (it gets a request to try 3 s after its last failure).
    assert result.rate(freeze.end, freeze.end + 6, replica=victim[:12]) > 0


def test_a_replica_cut_off_from_redis_costs_no_request(three_replicas):
    stack = three_replicas
    victim = stack.containers("web")[1]
    back = f"{stack.name}_back"
    before = stack.count()
    cut = FaultWindow(
        docker(stack, "network", "disconnect", back, victim),
        docker(stack, "network", "connect", back, victim),
        after=4,
        lasting=10,
    )
    result = stack.load(clients=16, seconds=24, timeout=CLIENT_TIMEOUT, during=cut)
    # its 503s went on to the other replicas
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert_kept(stack, result, before)
    assert result.rate(cut.end, cut.end + 8, replica=victim[:12]) > 0  # and it serves again


def test_a_frozen_redis_answers_every_client_in_time_and_keyed_retries_end_exact(three_replicas):
    stack = three_replicas
    (redis,) = stack.containers("redis")
    before = stack.count()
    freeze = FaultWindow(docker(stack, "pause", redis), docker(stack, "unpause", redis), after=4, lasting=5)
    result = stack.load(clients=16, seconds=16, retry=True, timeout=CLIENT_TIMEOUT, during=freeze)
    # Every attempt got an answer within the client's 5 s: a 200, or a 503 to come back later.
    assert set(result.attempts) <= {200, 503}, result.attempts
    assert result.attempts[503] > 0, "the frozen Redis was not noticed"
    assert result.gave_up == 0
    # Serving resumed by itself; a 503 may have been counted (Redis ran it, its answer came too
    # late), but the retry with the same key was answered that count, so the total is exact.
    assert result.rate(freeze.end + 2, freeze.end + 6) > 0
    assert_exact(stack, result, before)


def test_a_load_balancer_restart_is_measured_and_keyed_retries_end_exact(three_replicas):
    stack = three_replicas
    before = stack.count()
    restart = FaultWindow(lambda: stack.compose("restart", "lb"), lambda: None, after=4, lasting=0)
    result = stack.load(clients=16, seconds=14, retry=True, timeout=CLIENT_TIMEOUT, during=restart)
    assert result.gave_up == 0
    assert_exact(stack, result, before)
    # Serving stopped from the last answer before the restart to the first after it.
    gaps = [(b - a, a) for (a, _), (b, _) in zip(result.answered, result.answered[1:], strict=False)]
    outage, at = max(gaps)
    assert restart.start - 1 <= at <= restart.end, (at, restart.start, restart.end)
    print(f"\nload balancer restart: serving stopped for {outage:.2f} s; failed attempts {result.attempts}")
