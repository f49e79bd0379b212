"""The app served by real gunicorn workers, hit over HTTP by many clients at once."""

import json
import re
import signal

from counter.metrics import FLUSH_EVERY
from helpers import load_client
from helpers.support import port_open, wait_for


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

    # Each worker writes its figures out every FLUSH_EVERY s and before it answers a scrape.
    def flushed():
        client.close()  # a new connection, maybe to another worker
        text = client.get("/metrics")[2]
        # both figures: a worker flushes one after the other
        return metric(text, "counter_increments_total") == result.successes + 1 and (
            metric(text, "counter_replays_total") == 1
        )

    wait_for(flushed, FLUSH_EVERY + 5, "every worker's figures", interval=0.2)
    for _ in range(6):  # connections land on different workers; each answer is the whole replica's
        client.close()
        _, _, text = client.get("/metrics")
        assert metric(text, "counter_increments_total") == result.successes + 1
        assert metric(text, "counter_replays_total") == 1
        requests = metric(text, 'counter_http_requests_total{endpoint="hello",status="200"}')
        assert requests == result.successes + 2
        assert metric(text, 'counter_redis_call_seconds_count{call="increment"}') == result.successes + 2
    # The replica's CPU from its cgroup, and its start: the same whichever worker answers.
    client.close()
    first = client.get("/metrics")[2]
    client.close()
    second = client.get("/metrics")[2]
    assert 0 < metric(first, "counter_cpu_seconds_total") <= metric(second, "counter_cpu_seconds_total")
    assert metric(first, "counter_started_time_seconds") == metric(second, "counter_started_time_seconds")
    assert metric(first, "counter_cpu_limit_cores") > 0


def test_told_to_stop_a_replica_refuses_new_connections_at_once_and_still_answers_its_own(
    gunicorn_server,
):
    kept = load_client.Client(gunicorn_server.port)
    assert kept.get("/")[0] == 200  # a kept-alive connection, as nginx holds them
    gunicorn_server.process.send_signal(signal.SIGTERM)
    # No socket listens any more: a new connection is refused, so nginx tries another replica
    # at once rather than wait on a connection nobody will answer.
    wait_for(lambda: not port_open(gunicorn_server.port), 5, "new connections refused", interval=0.01)
    # while the worker still finishes what it holds: the kept-alive connection is answered, and
    # told to close.
    status, response, _ = kept.get("/")
    assert (status, response.getheader("Connection")) == (200, "close")
    assert gunicorn_server.process.wait(timeout=20) == 0
    assert "Traceback" not in gunicorn_server.log.read_text()
