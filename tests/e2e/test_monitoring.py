"""`make monitor`: Prometheus scrapes every tier, finds replicas as they come, and its rules fire."""

import json
import urllib.parse
import urllib.request

import pytest

from helpers.support import ROOT, free_port, wait_for

pytestmark = pytest.mark.e2e


def image_of(stack, service):
    config = json.loads(stack.compose("--profile", "monitoring", "config", "--format", "json").stdout)
    return config["services"][service]["image"]


def promtool(stack, *args):
    command = ["docker", "run", "--rm", "--network", "none", "-v", f"{ROOT / 'monitoring'}:/m:ro", "-w", "/m"]
    return stack.run(*command, "--entrypoint", "promtool", image_of(stack, "prometheus"), *args)


def test_the_config_is_valid_and_every_alert_fires_in_its_rule_tests(stack):
    assert "SUCCESS" in promtool(stack, "check", "config", "prometheus.yml").stdout
    tested = promtool(stack, "test", "rules", "alerts.test.yml")
    assert "SUCCESS" in tested.stdout + tested.stderr
    rules = (ROOT / "monitoring" / "alerts.yml").read_text()
    tests = (ROOT / "monitoring" / "alerts.test.yml").read_text()
    for alert in ("WebReplicaDown", "ServerErrors", "RedisUnreachable", "LoadBalancerDown"):
        assert f"alert: {alert}" in rules and f"alertname: {alert}" in tests


@pytest.fixture(scope="module")
def monitored(shared_stack):
    shared_stack.env["PROMETHEUS_PORT"] = str(free_port())
    done = shared_stack.make("monitor")
    assert f"Prometheus: http://127.0.0.1:{shared_stack.env['PROMETHEUS_PORT']}/" in done.stdout
    return shared_stack


def prometheus(stack, path, **query):
    url = f"http://127.0.0.1:{stack.env['PROMETHEUS_PORT']}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def targets(stack):
    """{job: [health of each target]}"""
    found = {}
    for target in prometheus(stack, "targets")["activeTargets"]:
        found.setdefault(target["labels"]["job"], []).append(target["health"])
    return found


def value(stack, query):
    (result,) = prometheus(stack, "query", query=query)["result"]
    return float(result["value"][1])


def test_every_tier_is_scraped_and_a_new_replica_is_found(monitored):
    stack = monitored
    stack.make("scale", "SCALE=2")
    expected = {"web": ["up"] * 2, "nginx": ["up"], "redis": ["up"], "prometheus": ["up"]}
    wait_for(lambda: targets(stack) == expected, 60, "every target up", 1)
    stack.make("scale", "SCALE=3")
    wait_for(lambda: targets(stack)["web"] == ["up"] * 3, 30, "the third replica scraped", 1)
    assert value(stack, "redis_up") == 1 and value(stack, "nginx_up") == 1

    before = value(stack, "sum(counter_increments_total)")
    for _ in range(30):
        assert stack.get("/")[0] == 200
    wait_for(
        lambda: value(stack, "sum(counter_increments_total)") >= before + 30, 30, "increments scraped", 1
    )
    assert value(stack, 'count(counter_redis_call_seconds_bucket{call="increment"})') > 0
    stack.make("scale", "SCALE=2")


def test_metrics_are_not_served_to_the_outside(monitored):
    assert monitored.get("/metrics")[0] == 404


def test_the_exporter_may_read_redis_figures_but_no_key(monitored):
    password = (ROOT / "secrets" / "redis_exporter_password").read_text()

    def as_exporter(*command):
        exec_ = ["exec", "-T", "-e", f"REDISCLI_AUTH={password}", "redis", "redis-cli", "--no-auth-warning"]
        return monitored.compose(*exec_, "--user", "exporter", *command, check=False)

    refused = as_exporter("GET", "counter:total")
    assert "NOPERM" in refused.stdout + refused.stderr
    assert "redis_version" in as_exporter("INFO", "server").stdout
