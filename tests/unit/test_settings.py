"""Every default in one place: the web tier's settings, gunicorn's use of them, and .env.example."""

import os
import re
import subprocess
import sys

import pytest

from control import autoscale
from control import settings as control_settings
from counter.settings import Settings, SettingsError
from helpers.support import ROOT


def test_defaults_hold_where_the_environment_is_silent_or_empty():
    settings = Settings.from_env({"IDEMPOTENCY_WINDOW": "", "UNRELATED": "x"})
    assert settings == Settings()
    assert settings.IDEMPOTENCY_WINDOW == 60
    assert settings.REDIS_URL == "redis://redis:6379/0"


def test_the_environment_overrides_with_typed_values():
    settings = Settings.from_env(
        {"REDIS_URL": "redis://elsewhere:1/2", "IDEMPOTENCY_WINDOW": "5", "REDIS_TIMEOUT": "0.1"}
    )
    assert (settings.REDIS_URL, settings.IDEMPOTENCY_WINDOW, settings.REDIS_TIMEOUT) == (
        "redis://elsewhere:1/2",
        5,
        0.1,
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("IDEMPOTENCY_WINDOW", "soon", "IDEMPOTENCY_WINDOW must be a whole number, got 'soon'"),
        ("IDEMPOTENCY_WINDOW", "0", "IDEMPOTENCY_WINDOW must be at least 1, got '0'"),
        ("REDIS_TIMEOUT", "fast", "REDIS_TIMEOUT must be a number, got 'fast'"),
        ("GUNICORN_WORKERS", "2.5", "GUNICORN_WORKERS must be a whole number, got '2.5'"),
        (
            "GUNICORN_WORKER_CLASS",
            "gevent",
            "GUNICORN_WORKER_CLASS must be one of sync, gthread, got 'gevent'",
        ),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_it(name, value, message):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == message


def test_a_redis_budget_without_room_for_one_try_is_refused():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"REDIS_TIMEOUT": "0.5", "REDIS_BUDGET": "1"})
    assert str(refused.value) == (
        "REDIS_BUDGET must be at least 3 times REDIS_TIMEOUT (one try's lookup, connect and reply), "
        "got 1.0 and 0.5"
    )


def gunicorn_check_config(**env):
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "--config", "gunicorn.conf.py"],
        cwd=ROOT / "web",
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
    )


def test_gunicorn_config_is_valid_and_reads_the_same_settings():
    assert gunicorn_check_config(REDIS_START_WAIT="0").returncode == 0  # no Redis here to wait for
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; c = runpy.run_path('gunicorn.conf.py'); print(c['workers'], c['threads'])",
        ],
        cwd=ROOT / "web",
        env=dict(os.environ, GUNICORN_WORKERS="5"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["5", str(Settings().GUNICORN_THREADS)]


def test_gunicorn_refuses_a_bad_setting_in_one_line_before_starting():
    done = gunicorn_check_config(GUNICORN_WORKERS="many")
    assert done.returncode != 0
    assert done.stderr.strip() == "web: GUNICORN_WORKERS must be a whole number, got 'many'"


SENTINELS = "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"


def shown_in_env_example():
    """{NAME: value} of every `# NAME=value` line in .env.example."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^# ([A-Z_]+)=(.*)$", text, re.M))


# Read by make itself (control/settings.py), with their default there.
READ_BY_MAKE = {
    "MAX_SCALE": str(control_settings.DEFAULT_MAX_SCALE),
    "AUTOSCALE": "off",
    **autoscale.DEFAULTS,
}
# Set by the scripts for each run, not by users.
# REDIS_SENTINELS is derived from docker-compose.yml's sentinels (control/topology.py);
# COUNTER_DIR is where make up runs and MOST_REPLICAS AUTOSCALE's upper bound (control/autoscaler.py).
SET_BY_SCRIPTS = {
    "HOST_USER",
    "LOCUST_REPORT",
    "LOCUST_MASTER",
    "MAX_FAIL_RATIO",
    "REDIS_SENTINELS",
    "COUNTER_DIR",
    "MOST_REPLICAS",
    "LOAD_SHAPE",
}


def test_env_example_names_every_variable_with_its_real_default():
    shown = shown_in_env_example()
    compose_defaults = dict(
        re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (ROOT / "docker-compose.yml").read_text())
    )
    app_defaults = {name: str(value) for name, value in Settings().as_dict().items()}
    for name, value in shown.items():
        if compose_defaults.get(name):
            assert value == compose_defaults[name], f"{name}: .env.example shows {value!r}"
        elif name in app_defaults:
            assert value == app_defaults[name], f"{name}: .env.example shows {value!r}"
        elif name in READ_BY_MAKE:
            assert value == READ_BY_MAKE[name], f"{name}: .env.example shows {value!r}"
        else:
            assert name in compose_defaults, f"{name} is in .env.example but nothing reads it"
    assert set(compose_defaults) - SET_BY_SCRIPTS <= set(shown)


def test_where_docker_compose_yml_gives_a_web_setting_a_default_it_is_the_web_tier_s():
    """The web service passes most of its settings empty unless set (empty is settings.py's
    default); the few with a default of their own in docker-compose.yml (shared with Redis's
    containers, or with the stop grace period) must not drift from the web tier's."""
    compose_defaults = re.findall(r"\$\{([A-Z_]+):-([^}]+)\}", (ROOT / "docker-compose.yml").read_text())
    app_defaults = {name: str(value) for name, value in Settings().as_dict().items()}
    given = {(name, value) for name, value in compose_defaults if name in app_defaults}
    assert {name for name, _ in given} >= {"REDIS_ACK_REPLICAS", "REDIS_MODE", "REDIS_TLS", "WEB_STOP_GRACE"}
    for name, value in given:
        assert value == app_defaults[name], f"{name}: docker-compose.yml's default {value!r}"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"REDIS_MODE": "cluster"}, "REDIS_MODE must be one of single, sentinel, got 'cluster'"),
        ({"REDIS_ACK_REPLICAS": "3"}, "REDIS_ACK_REPLICAS must be at most 2, got '3'"),
        (
            {"REDIS_MODE": "sentinel"},
            "REDIS_SENTINELS is empty: under REDIS_MODE=sentinel it lists every sentinel's host:port",
        ),
        (
            {"REDIS_MODE": "sentinel", "REDIS_SENTINELS": "sentinel-1:26379,sentinel-2"},
            "REDIS_SENTINELS must list host:port pairs separated by commas, "
            "got 'sentinel-1:26379,sentinel-2'",
        ),
        (
            {"REDIS_MODE": "sentinel", "REDIS_SENTINELS": SENTINELS, "REDIS_ACK_TIMEOUT": "0.1"},
            "REDIS_ACK_TIMEOUT must be under half of REDIS_TIMEOUT (WAIT and WAITAOF answer within one "
            "reply), got 0.1 and 0.2",
        ),
    ],
)
def test_sentinel_settings_are_checked_in_one_line(env, message):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == message


def test_sentinels_are_read_as_host_and_port():
    from counter.settings import sentinel_addresses

    assert sentinel_addresses("a:1, b:26379") == [("a", 1), ("b", 26379)]


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"REDIS_BUDGET": "0.9", "REDIS_TIMEOUT": "0.2", "REDIS_MODE": "sentinel"}
            | {"REDIS_SENTINELS": SENTINELS},
            "REDIS_BUDGET must leave a replica time to answer within nginx's 1 s wait for it, "
            "got a request's worst of 1.1 s",
        ),
        (
            {"REDIS_START_WAIT": "30", "GUNICORN_TIMEOUT": "30"},
            "REDIS_START_WAIT must be under GUNICORN_TIMEOUT (gunicorn ends a worker that takes longer "
            "to start), got 30 and 30",
        ),
        (
            {"GUNICORN_GRACEFUL_TIMEOUT": "15", "WEB_STOP_GRACE": "15s"},
            "GUNICORN_GRACEFUL_TIMEOUT must be under WEB_STOP_GRACE (the container is killed then), "
            "got 15 and 15s",
        ),
        ({"WEB_STOP_GRACE": "soon"}, "WEB_STOP_GRACE must be a duration such as 15s or 1m30s, got 'soon'"),
    ],
)
def test_limits_between_settings_are_checked_in_one_line(env, message):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == message


def test_a_stop_grace_in_minutes_or_milliseconds_is_read():
    from counter.settings import seconds

    assert (
        Settings.from_env({"WEB_STOP_GRACE": "1m30s", "GUNICORN_GRACEFUL_TIMEOUT": "80"}).WEB_STOP_GRACE
        == "1m30s"
    )
    assert seconds("1m30s") == 90 and seconds("10500ms") == 10.5 and seconds("15s") == 15
    with pytest.raises(SettingsError, match="GUNICORN_GRACEFUL_TIMEOUT must be under WEB_STOP_GRACE"):
        Settings.from_env({"WEB_STOP_GRACE": "1m30s", "GUNICORN_GRACEFUL_TIMEOUT": "90"})


def test_nginx_waits_for_a_replica_as_long_as_the_web_tier_says():
    from counter.settings import NGINX_REPLICA_WAIT

    nginx = (ROOT / "lb" / "site" / "nginx.conf").read_text()
    assert (
        re.search(r"^\s*proxy_read_timeout (\d+(?:\.\d+)?)s;", nginx, re.M).group(1)
        == f"{NGINX_REPLICA_WAIT:g}"
    )


def test_the_stop_grace_period_and_what_the_web_tier_checks_are_one_setting():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "stop_grace_period: ${WEB_STOP_GRACE:-15s}" in compose
    assert "WEB_STOP_GRACE: ${WEB_STOP_GRACE:-15s}" in compose
    assert Settings().WEB_STOP_GRACE == "15s"


def test_a_test_cannot_run_settings_that_production_would_refuse():
    from counter import create_app

    with pytest.raises(SettingsError, match="REDIS_BUDGET must be at least 3 times REDIS_TIMEOUT"):
        create_app({"REDIS_BUDGET": 0.5, "REDIS_TIMEOUT": 0.2})


def test_the_smallest_app_runs_on_the_web_tiers_gunicorn_defaults():
    """make bench's yardstick (docker-compose.yml, service smallest) spells out gunicorn's flags:
    their defaults must stay the web tier's, which live in Settings."""
    flags = re.findall(
        r"- --[a-z-]+=\$\{(GUNICORN_[A-Z_]+):-([^}]*)\}", (ROOT / "docker-compose.yml").read_text()
    )
    assert {name for name, _ in flags} == {
        "GUNICORN_WORKERS",
        "GUNICORN_WORKER_CLASS",
        "GUNICORN_THREADS",
        "GUNICORN_KEEPALIVE",
    }
    defaults = Settings().as_dict()
    for name, value in flags:
        assert value == str(defaults[name]), name
