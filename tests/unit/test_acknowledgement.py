"""The acknowledgement rule: an increment is answered only once the replicas confirmed it on disk."""

import pytest
from redis import exceptions as redis_errors

from counter import acknowledgement
from counter.acknowledgement import Acknowledgement, NotAcknowledged
from counter.settings import Settings

STEP = [7, 0]  # the step's reply: count 7, not a replay


def config(**changes):
    return {**Settings().as_dict(), **changes}


def test_one_redis_needs_no_rule_and_neither_does_sentinel_with_it_turned_off():
    assert acknowledgement.from_config(config(REDIS_MODE="single")) is None
    assert acknowledgement.from_config(config(REDIS_MODE="sentinel", REDIS_ACK_REPLICAS=0)) is None
    rule = acknowledgement.from_config(config(REDIS_MODE="sentinel", REDIS_ACK_REPLICAS=2))
    assert (rule.replicas, rule.timeout_ms) == (2, 50)


def test_an_increment_on_disk_on_enough_replicas_is_acknowledged():
    # Returns nothing and raises nothing; one replica short of it is refused (below).
    assert Acknowledgement(1, 0.05).check(STEP, [1, [1, 1]]) is None
    assert Acknowledgement(2, 0.05).check(STEP, [2, [1, 2]]) is None
    with pytest.raises(NotAcknowledged):
        Acknowledgement(2, 0.05).check(STEP, [2, [1, 1]])


@pytest.mark.parametrize(
    "replicas, waits, reason",
    [
        (1, [1, [1, 0]], "not acknowledged: 0 of 1 replicas wrote the increment to their append-only file"),
        (1, [0, [1, 0]], "not acknowledged: 0 of 1 replicas wrote the increment to their append-only file"),
        (2, [2, [1, 1]], "not acknowledged: 1 of 2 replicas wrote the increment to their append-only file"),
    ],
)
def test_too_few_replicas_on_disk_is_an_outage_that_says_how_many(replicas, waits, reason):
    with pytest.raises(NotAcknowledged, match=reason):
        Acknowledgement(replicas, 0.05).check(STEP, waits)


def test_a_primary_without_replicas_in_sync_refused_the_step_and_that_is_said():
    refused = redis_errors.ResponseError("NOREPLICAS Not enough good replicas to write.")
    with pytest.raises(NotAcknowledged, match="no replica to acknowledge"):
        Acknowledgement(1, 0.05).check(refused, [1, [1, 1]])


def test_other_errors_are_raised_as_they_are():
    with pytest.raises(redis_errors.ResponseError, match="WRONGTYPE"):
        Acknowledgement(1, 0.05).check(redis_errors.ResponseError("WRONGTYPE"), [1, [1, 1]])
    aof_off = redis_errors.ResponseError(
        "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
    )
    with pytest.raises(redis_errors.ResponseError, match="WAITAOF"):
        Acknowledgement(1, 0.05).check(STEP, [1, aof_off])


def test_not_acknowledged_is_an_outage_to_retry():
    assert issubclass(NotAcknowledged, redis_errors.ConnectionError)
