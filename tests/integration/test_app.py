"""The app against a real Redis server, through Flask's test client and its CLI."""

import re
import signal
import threading
import time

import redis
from prometheus_client import REGISTRY

from counter import create_app
from counter.views import REPLICA
from helpers.support import RedisServer, wait_for

SENTENCE = re.compile(r"Hello World! I have been seen (\d+) times\.\n")


def seen(response):
    return int(SENTENCE.fullmatch(response.get_data(as_text=True)).group(1))


def test_greeting_counts_up_and_names_the_replica(client):
    first, second = client.get("/"), client.get("/")
    assert first.status_code == 200
    assert first.mimetype == "text/plain"
    assert first.get_data(as_text=True) == "Hello World! I have been seen 1 times.\n"
    assert seen(second) == 2
    assert first.headers["X-Served-By"] == REPLICA
    assert first.headers["Cache-Control"] == "no-store"


def test_count_reads_without_incrementing(client):
    client.get("/")
    assert client.get("/count").get_json() == {"count": 1}
    assert client.get("/count").get_json() == {"count": 1}
    assert seen(client.get("/")) == 2


def test_stats_attributes_every_increment_to_this_replica(client):
    for _ in range(5):
        client.get("/")
    assert client.get("/stats").get_json() == {"total": 5, "replicas": {REPLICA: 5}}


def test_head_answers_without_counting(client):
    response = client.head("/")
    assert response.status_code == 200
    assert response.headers["X-Served-By"] == REPLICA
    assert client.get("/count").get_json() == {"count": 0}


def test_same_idempotency_key_counts_once_and_replays_its_count(client):
    client.get("/")
    first = client.get("/", headers={"Idempotency-Key": "order-42"})
    again = client.get("/", headers={"Idempotency-Key": "order-42"})
    other = client.get("/", headers={"Idempotency-Key": "order-43"})
    assert (seen(first), seen(again), seen(other)) == (2, 2, 3)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/stats").get_json()["total"] == 3


def test_request_id_from_the_load_balancer_counts_once(client):
    for _ in range(3):
        response = client.get("/", headers={"X-Request-Id": "0123456789abcdef0123456789abcdef"})
        assert seen(response) == 1
    assert client.get("/count").get_json() == {"count": 1}


def test_idempotency_key_wins_over_request_id(client):
    client.get("/", headers={"Idempotency-Key": "k1", "X-Request-Id": "r1"})
    client.get("/", headers={"Idempotency-Key": "k1", "X-Request-Id": "r2"})
    client.get("/", headers={"Idempotency-Key": "k2", "X-Request-Id": "r1"})
    assert client.get("/count").get_json() == {"count": 2}


def test_bad_idempotency_keys_get_400_with_a_reason_and_count_nothing(client):
    for key in ["x" * 65, "has space", "semi;colon", "slash/", "é", ""]:
        response = client.get("/", headers={"Idempotency-Key": key})
        assert response.status_code == 400, key
        body = response.get_data(as_text=True)
        assert body == "400 Bad Request: Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 . _ -\n"
    response = client.get("/", headers={"Idempotency-Key": "A-z_0.9" + "x" * 57})
    assert response.status_code == 200
    assert client.get("/count").get_json() == {"count": 1}


def test_query_strings_are_refused_and_count_nothing(client):
    for path in ("/?n=1", "/count?x", "/stats?a=b&c=d"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.get_data(as_text=True) == "400 Bad Request: no query string is accepted here\n"
    assert client.get("/count").get_json() == {"count": 0}


def test_unknown_path_is_404_in_one_line(client):
    assert client.get("/count/").status_code == 404
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "404 Not Found\n"


def test_wrong_method_is_405_and_counts_nothing(client):
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)("/")
        assert response.status_code == 405
        assert response.get_data(as_text=True) == "405 Method Not Allowed\n"
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert client.post("/count").status_code == 405
    assert client.get("/count").get_json() == {"count": 0}


def test_health_and_readiness(client):
    assert client.get("/healthz").get_data(as_text=True) == "ok\n"
    assert client.get("/readyz").status_code == 200


def test_redis_down_gives_503_and_counts_nothing(own_redis):
    app = create_app({"REDIS_URL": own_redis.url, "REDIS_BUDGET": 0.95})
    client = app.test_client()
    client.get("/")
    own_redis.stop()
    for path in ("/", "/count", "/stats", "/readyz"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert (
            response.get_data(as_text=True)
            == "503 Service Unavailable: the counter store cannot be reached\n"
        )
        assert response.headers["Retry-After"] == "1"
    assert client.get("/healthz").status_code == 200
    own_redis.start()
    wait_for(lambda: client.get("/count").status_code == 200, 2, "serving again", 0.1)
    assert client.get("/count").get_json() == {"count": 1}
    assert seen(client.get("/")) == 2


def test_a_frozen_redis_gets_a_503_within_the_budget_then_serving_resumes(own_redis):
    app = create_app({"REDIS_URL": own_redis.url, "REDIS_BUDGET": 0.95})
    client = app.test_client()
    assert seen(client.get("/", headers={"Idempotency-Key": "k1"})) == 1
    own_redis.process.send_signal(signal.SIGSTOP)  # it accepts connections and answers nothing
    try:
        started = time.monotonic()
        response = client.get("/", headers={"Idempotency-Key": "k2"})
        took = time.monotonic() - started
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    # The reply is awaited for the whole budget (a stall that short would have been taken), and
    # then no other try fits. Nothing waits beyond the budget.
    assert 0.9 <= took <= 0.95 + 0.2, took
    # The frozen Redis may have run the increment it never answered: the client's retry with its
    # key counts it once either way, and serving resumed by itself.
    wait_for(lambda: client.get("/count").status_code == 200, 2, "serving again", 0.1)
    assert seen(client.get("/", headers={"Idempotency-Key": "k2"})) == 2
    assert client.get("/count").get_json() == {"count": 2}


def test_with_the_default_budget_a_reply_late_by_a_moment_s_stall_is_still_taken(own_redis):
    """A Redis that answers nothing for 0.3 s (an fsync held by the disk, a busy host), longer
    than a try's REDIS_TIMEOUT: the reply is awaited within the request's budget and the request
    is answered, once."""
    client = create_app({"REDIS_URL": own_redis.url}).test_client()
    assert client.get("/count").get_json() == {"count": 0}
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        threading.Timer(0.3, own_redis.process.send_signal, (signal.SIGCONT,)).start()
        response = client.get("/", headers={"Idempotency-Key": "late"})
        took = time.monotonic() - started
    finally:
        time.sleep(0.35)
        own_redis.process.send_signal(signal.SIGCONT)
    assert seen(response) == 1 and 0.3 <= took < 0.75, (response.status_code, took)
    assert client.get("/count").get_json() == {"count": 1}


def test_a_connection_the_server_closes_mid_call_is_tried_again_at_once_and_holds_nothing_off(own_redis):
    """Redis closes its clients' connections when it is told to follow another primary while some
    wait, and a sentinel does as it reconfigures an instance: the call, waiting since before, has
    less budget left than a try at a Redis in an unknown state takes, but a new connection is quick
    to try. It is answered, counted once, and the next call is not held off."""
    app = create_app({"REDIS_URL": own_redis.url, "REDIS_BUDGET": 0.75, "REDIS_TIMEOUT": 0.2})
    client = app.test_client()
    assert seen(client.get("/")) == 1
    admin = redis.Redis.from_url(own_redis.url)
    admin.execute_command("CLIENT", "PAUSE", "5000", "WRITE")  # the increment waits

    def close_them():
        time.sleep(0.35)  # more than the budget less a try's 0.6 s
        admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        admin.execute_command("CLIENT", "UNPAUSE")

    closing = threading.Thread(target=close_them)
    closing.start()
    try:
        response = client.get("/")
    finally:
        closing.join()
        admin.execute_command("CLIENT", "UNPAUSE")
    assert response.status_code == 200 and seen(response) == 2
    assert seen(client.get("/")) == 3  # not held off
    assert client.get("/count").get_json() == {"count": 3}


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_after_an_outage_a_replica_answers_503_at_once_for_a_moment_counted_apart(own_redis):
    app = create_app({"REDIS_URL": own_redis.url, "REDIS_BUDGET": 0.95})
    client = app.test_client()
    assert client.get("/count").status_code == 200
    timed = sample("counter_redis_call_seconds_count", call="count")
    held = sample("counter_redis_calls_held_off_total", call="count")
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        first = time.monotonic()
        assert client.get("/count").status_code == 503  # spent its budget on the frozen Redis
        second = time.monotonic()
        assert client.get("/count").status_code == 503  # did not ask it again
        third = time.monotonic()
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert second - first >= 0.9 and third - second < 0.1, (second - first, third - second)
    # The call that asked Redis is timed; the one answered at once is not a Redis call of 0 s.
    assert sample("counter_redis_call_seconds_count", call="count") == timed + 1
    assert sample("counter_redis_calls_held_off_total", call="count") == held + 1
    wait_for(lambda: client.get("/count").status_code == 200, 2, "serving again", 0.1)


def test_a_starting_app_waits_for_redis_before_it_serves(tmp_path):
    late = RedisServer(tmp_path)
    starter = threading.Timer(1.0, late.start)  # Redis comes up a second after the app starts
    starter.start()
    try:
        started = time.monotonic()
        app = create_app({"REDIS_URL": late.url, "REDIS_START_WAIT": 10.0})
        waited = time.monotonic() - started
        starter.join()
        assert 1.0 <= waited < 10.0, waited
        assert seen(app.test_client().get("/")) == 1
    finally:
        starter.join()
        late.stop()


def figure(client, name):
    text = client.get("/metrics").get_data(as_text=True)
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_increments_replays_and_errors(client):
    names = (
        'counter_http_requests_total{endpoint="hello",status="200"}',
        'counter_http_requests_total{endpoint="none",status="404"}',
        "counter_increments_total",
        "counter_replays_total",
    )
    before = [figure(client, name) for name in names]
    client.get("/", headers={"Idempotency-Key": "m1"})
    client.get("/", headers={"Idempotency-Key": "m1"})
    client.get("/nowhere")
    after = [figure(client, name) for name in names]
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 1, 1]


def test_unexpected_errors_are_500_without_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert response.get_data(as_text=True) == "500 Internal Server Error\n"


def test_stats_command_prints_each_replicas_share(app, client):
    for _ in range(3):
        client.get("/")
    done = app.test_cli_runner().invoke(args=["stats"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split() == ["replica", "requests", "share"]
    assert lines[2].split() == [REPLICA, "3", "100.0%"]
    assert lines[-1].split() == ["total", "3", "100.0%"]
