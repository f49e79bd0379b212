"""The app served by real gunicorn workers, hit over HTTP by many clients at once."""

import json

from helpers import load_client


def test_concurrent_requests_across_workers_count_exactly(gunicorn):
    result = load_client.run(gunicorn, clients=12, seconds=3)
    served = load_client.Client(gunicorn)
    _, _, count_body = served.get("/count")
    _, _, stats_body = served.get("/stats")

    assert result.failed_attempts == 0 and not result.bad_bodies
    assert result.successes > 100
    # Every request got its own number, and the numbers leave no gap.
    assert sorted(result.counts) == list(range(1, result.successes + 1))
    assert count_body == f'{{"count":{result.successes}}}\n'
    stats = json.loads(stats_body)
    assert stats["total"] == result.successes == sum(stats["replicas"].values())
