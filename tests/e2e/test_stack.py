"""The stack as users run it: make up, steady load, make scale, make down / clean, a Redis outage."""

import json
import time

import pytest

from helpers.stack import Stack, assert_exact, assert_kept, script_lines

pytestmark = pytest.mark.e2e


def test_up_serves_three_replicas_each_a_fair_share(stack):
    output = stack.make("up", "SCALE=3").stdout
    assert f"http://127.0.0.1:{stack.port}/" in output
    replicas = stack.replica_names()
    assert len(replicas) == 3

    served_by = {}
    for _ in range(300):
        status, response, body = stack.get("/")
        assert status == 200, body
        name = response.getheader("X-Served-By")
        served_by[name] = served_by.get(name, 0) + 1
    assert set(served_by) == replicas
    assert min(served_by.values()) >= 45, served_by  # none below 15%
    stats = stack.stats()
    assert stats["total"] == stack.count() == 300
    assert stats["replicas"] == served_by


def test_concurrent_keepalive_clients_are_counted_exactly(stack):
    stack.make("up", "SCALE=3")
    before = stack.count()
    result = stack.load(clients=16, seconds=20)
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert result.successes > 1000
    assert_kept(stack, result, before)


def test_live_scaling_under_load_fails_nothing_and_new_replicas_serve_within_10s(stack):
    stack.make("up", "SCALE=3")
    lb_started = stack.inspect("lb", "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}")
    before = stack.count()
    seen = {}

    def scale_out_then_in():
        time.sleep(3)
        old = stack.replica_names()
        stack.make("scale", "SCALE=6")
        scaled_at = time.monotonic()
        new = stack.replica_names() - old
        assert len(new) == 3
        while time.monotonic() - scaled_at < 10 and not new <= set(stack.stats()["replicas"]):
            time.sleep(0.2)
        seen["new replicas serving after"] = time.monotonic() - scaled_at
        seen["new replicas served"] = new <= set(stack.stats()["replicas"])
        time.sleep(3)
        stack.make("scale", "SCALE=2")
        time.sleep(3)

    result = stack.load(clients=16, seconds=25, during=scale_out_then_in)
    assert seen["new replicas served"], seen
    assert len(stack.replica_names()) == 2
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert_kept(stack, result, before)
    # The same nginx, never restarted: it followed the replicas through DNS alone.
    assert stack.inspect("lb", "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}") == lb_started
    assert lb_started.endswith(" 0")


def test_down_keeps_the_count_and_clean_resets_it(stack):
    stack.make("up", "SCALE=1")
    for _ in range(5):
        stack.get("/")
    stack.make("down")
    assert stack.containers("redis") == []
    stack.make("up", "SCALE=1")
    assert stack.count() == 5
    stack.make("clean")
    stack.make("up", "SCALE=1")
    assert stack.count() == 0


def test_stats_shows_each_replicas_share_and_reset_zeroes_the_count(stack):
    stack.make("up", "SCALE=2")
    for _ in range(10):
        stack.get("/")
    table = stack.make("stats").stdout.splitlines()
    assert table[0].split() == ["replica", "requests", "share"]
    assert {line.split()[0] for line in table[2:-2]} == stack.replica_names()
    assert table[-1].split() == ["total", "10", "100.0%"]
    assert "counter reset to 0" in stack.make("reset").stdout
    assert stack.stats() == {"total": 0, "replicas": {}}
    assert stack.get("/")[2] == "Hello World! I have been seen 1 times.\n"


def test_up_on_another_address_waits_for_it_there_and_says_where(docker):
    stack = Stack(host="127.0.0.2")
    try:
        output = stack.make("up", "SCALE=1", timeout=120).stdout
        assert f"counter is up: http://127.0.0.2:{stack.port}/" in output
        assert stack.get("/")[0] == 200
    finally:
        stack.down()


def test_a_scale_that_fails_stops_with_the_reason(stack):
    stack.make("up", "SCALE=1")
    (container,) = stack.containers("web")
    image = stack.inspect_one(container, "{{.Config.Image}}")
    stack.run("docker", "rmi", "--force", image)  # new replicas now have no image to start from
    done = stack.make("scale", "SCALE=2", check=False)
    assert done.returncode != 0
    assert script_lines(done)[-1] == "scale: scaling web to 2 replicas failed (Compose's messages are above)"
    assert image in done.stdout  # the cause, from Compose, is above it
    assert stack.get("/")[0] == 200  # the running replica went on serving


def test_redis_outage_gives_503_then_serving_resumes_exactly(stack):
    stack.make("up", "SCALE=2")
    before = stack.count()

    outage = stack.redis_outage("stop", after=3, down_for=4)
    result = stack.load(clients=16, seconds=15, retry=True, during=outage)
    assert set(result.attempts) <= {200, 503}, result.attempts
    assert result.attempts[503] > 0, "the outage was not noticed"
    assert result.slowest < 10, result.slowest  # answered, not hung
    assert result.gave_up == 0  # every request succeeded once Redis was back
    assert_exact(stack, result, before)
    assert stack.get("/readyz")[0] == 200


CHANGED = {  # every documented setting of the web tier, Redis and nginx, off its default
    "GUNICORN_WORKERS": "3",
    "GUNICORN_THREADS": "2",
    "GUNICORN_BACKLOG": "512",
    "GUNICORN_TIMEOUT": "25",
    "GUNICORN_KEEPALIVE": "70",
    "GUNICORN_GRACEFUL_TIMEOUT": "9",
    "GUNICORN_LOGLEVEL": "warning",
    "GUNICORN_ACCESSLOG": "-",
    "WEB_STOP_GRACE": "14s",
    "IDEMPOTENCY_WINDOW": "61",
    "REDIS_TIMEOUT": "0.15",
    "REDIS_BUDGET": "0.7",
    "REDIS_START_WAIT": "9.5",
    "REDIS_ACK_REPLICAS": "2",
    "REDIS_ACK_TIMEOUT": "0.04",
    "REDIS_APPENDFSYNC": "everysec",
    "REDIS_MAXMEMORY": "200mb",
    "REDIS_HZ": "5",
    "RATE_LIMIT": "900",
    "RATE_BURST": "50",
}


# The settings of CHANGED that are Redis's and nginx's, checked in their own services below.
ELSEWHERE = {"REDIS_APPENDFSYNC", "REDIS_MAXMEMORY", "REDIS_HZ", "RATE_LIMIT", "RATE_BURST"}


def test_every_documented_setting_reaches_its_service(stack):
    stack.env.update(CHANGED)
    stack.make("up", "SCALE=1")
    code = (
        "import json; from counter.settings import Settings; print(json.dumps(Settings.from_env().as_dict()))"
    )
    web = json.loads(stack.compose("exec", "-T", "web", "python", "-c", code).stdout)
    for name, value in CHANGED.items():
        if name not in ELSEWHERE:  # the web tier's own, each of them: a dropped one fails here
            assert str(web.get(name)) == value, name
    redis = {
        k: stack.redis_cli("redis", "CONFIG", "GET", k).splitlines()[1]
        for k in ("appendfsync", "maxmemory", "hz")
    }
    assert redis == {"appendfsync": "everysec", "maxmemory": str(200 * 1024 * 1024), "hz": "5"}
    limits = stack.compose("exec", "-T", "lb", "cat", "/tmp/rate_limit.conf").stdout
    assert "rate=900r/s" in limits and "burst=50" in limits
    assert stack.inspect("web", "{{.Config.StopTimeout}}") == "14"  # WEB_STOP_GRACE, in seconds
