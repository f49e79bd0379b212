"""The Makefile's front door: help, and clear one-line refusals before anything starts."""

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.support import ROOT

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def make(*args, **env):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_is_the_default_and_lists_every_target_once():
    declared = re.findall(r"^\.PHONY: ([a-z-]+) +## ", (ROOT / "Makefile").read_text(), re.M)
    shown = re.findall(r"^  make (\S+) ", make().stdout, re.M)
    assert shown == declared
    for target in ("up", "scale", "down", "clean", "ps", "logs", "reset", "stats", "test", "help"):
        assert target in shown


@pytest.mark.parametrize("target", ["up", "scale", "deploy", "deploy-scale"])
def test_bad_scale_is_refused_before_anything_starts(target):
    """Each bad SCALE, refused in one line. A Docker host that does not exist: had the target gone
    past the check, it would say so. The six makes run side by side (each mostly waits)."""
    scales = ["0", "abc", "-1", "65", "3.5", ""]
    with ThreadPoolExecutor(len(scales)) as running:
        done = list(running.map(lambda scale: make(target, f"SCALE={scale}", **NO_ENGINE), scales))
    for scale, refused in zip(scales, done, strict=True):
        assert refused.returncode != 0, scale
        first_line = refused.stderr.splitlines()[0]
        assert first_line == f"{target}: SCALE must be a whole number from 1 to 64, got '{scale}'"


def test_up_without_a_docker_engine_says_so_in_one_line():
    done = make("up", "SCALE=2", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] in (
        "up: the Docker engine does not answer: start it (dockerd or Docker Desktop)",
        "up: Docker is not installed: see README.md, Prerequisites",
    )


def refusal(*args):
    """The first line a make target stops with, before it reaches for Docker."""
    done = make(*args, **NO_ENGINE)
    assert done.returncode != 0
    return done.stderr.splitlines()[0]


def test_scale_without_scale_asks_for_it_instead_of_picking_a_number():
    assert "SCALE" not in os.environ
    assert refusal("scale") == "scale: say how many web replicas: make scale SCALE=N (1 to 64)"


def test_bench_refuses_a_replica_list_without_one():
    assert refusal("bench", "BENCH_REPLICAS=2 4") == (
        "bench: BENCH_REPLICAS must include 1: every ratio is against one replica, got '2 4'"
    )


def test_deploy_refuses_a_registry_that_is_not_host_and_port():
    assert refusal("deploy", "REGISTRY=http://example") == (
        "deploy: REGISTRY must be a registry's host:port, such as 127.0.0.1:5000, got 'http://example'"
    )


def test_check_with_no_run_yet_says_so_in_one_line(tmp_path):
    shutil.copytree(ROOT / "control", tmp_path / "control")  # a tree with no reports/ at all
    done = subprocess.run(
        ["python3", "-m", "control", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **NO_ENGINE},
    )
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "check: no run to check: reports/ has no locust run (run 'make load' first)"
    ]


@pytest.mark.parametrize(
    "setting, message",
    [
        ("USERS=0", "USERS must be a whole number from 1 to 100000, got '0'"),
        ("DURATION=forever", "DURATION must be a time such as 30s, 5m or 1h30m, got 'forever'"),
        ("DURATION=0s", "DURATION must be a time such as 30s, 5m or 1h30m, got '0s'"),
        ("SPAWN_RATE=0", "SPAWN_RATE must be a number of users per second above 0, got '0'"),
        ("WORKERS=x", "WORKERS must be a whole number from 0 to 64, got 'x'"),
        ("MAX_FAIL_RATIO=2", "MAX_FAIL_RATIO must be a ratio from 0 to 1, got '2'"),
    ],
)
def test_bad_load_settings_are_refused_with_a_reason(setting, message):
    assert refusal("load", setting) == f"load: {message}"


@pytest.mark.parametrize(
    "target, setting, message",
    [
        ("up", "REDIS_MODE=cluster", "up: REDIS_MODE must be single or sentinel, got 'cluster'"),
        ("up", "MAX_SCALE=0", "up: MAX_SCALE must be a whole number from 1 to 1000, got '0'"),
        (
            "up",
            "BACK_NETWORK=10.210",
            "up: BACK_NETWORK must be the first three numbers of a /24, such as 10.210.0, got '10.210'",
        ),
    ],
)
def test_bad_stack_settings_are_refused_with_a_reason(target, setting, message):
    assert refusal(target, setting) == message


def test_switch_refuses_a_single_redis():
    assert refusal("switch", "REDIS_MODE=single") == (
        "switch: there is one Redis under REDIS_MODE=single: no other instance to switch to"
    )


@pytest.mark.parametrize(
    "args, line",
    [
        (("up", "AUTOSCALE=8-2"), "up: AUTOSCALE's MIN must not be over its MAX, got '8-2'"),
        (("up", "AUTOSCALE=1-80"), "up: AUTOSCALE must be a whole number from 1 to 64, got '80'"),
        (
            ("up", "AUTOSCALE=1-8", "AUTOSCALE_TARGET=0"),
            "up: AUTOSCALE_TARGET must be a fraction from 0.05 to 0.95, got '0'",
        ),
        (
            ("up", "AUTOSCALE=1-8", "SCALE=3"),
            "up: give SCALE or AUTOSCALE, not both: the autoscaler sets web's size",
        ),
        (
            ("deploy", "AUTOSCALE=1-8", "SCALE=3"),
            "deploy: give SCALE or AUTOSCALE, not both: the autoscaler sets web's size",
        ),
        (("deploy", "AUTOSCALE=0-8"), "deploy: AUTOSCALE must be a whole number from 1 to 64, got '0'"),
        (
            ("load", "SHAPE=square"),
            "load: SHAPE must be wave (rise, hold, fall), step (a tenth, then all) or empty (USERS "
            "throughout), got 'square'",
        ),
    ],
)
def test_bad_autoscaling_is_refused_before_anything_starts(args, line):
    assert refusal(*args) == line
