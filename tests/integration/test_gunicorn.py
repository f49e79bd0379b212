"""The app served by real gunicorn workers, hit over HTTP by many clients at once."""

import json
import re

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


def metric(text, name):
    return float(re.search(rf"^{re.escape(name)} (\S+)$", text, re.M).group(1))


def test_metrics_add_up_every_worker_whichever_answers(gunicorn):
    result = load_client.run(gunicorn, clients=12, seconds=2)
    client = load_client.Client(gunicorn)
    assert (
        client.get("/", {"Idempotency-Key": "again"})[0] == client.get("/", {"Idempotency-Key": "again"})[0]
    )
    for _ in range(6):  # connections land on different workers; each answer is the whole replica's
        client.close()
        _, _, text = client.get("/metrics")
        assert metric(text, "counter_increments_total") == result.successes + 1
        assert metric(text, "counter_replays_total") == 1
        requests = metric(text, 'counter_http_requests_total{endpoint="hello",status="200"}')
        assert requests == result.successes + 2
        assert metric(text, 'counter_redis_call_seconds_count{call="increment"}') == result.successes + 2
