"""A newcomer's first `make up`: when the stack cannot start, the last line names the cause and the fix."""

import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from helpers.stack import script_lines
from helpers.support import ROOT

pytestmark = pytest.mark.e2e


def failed_up(stack):
    done = stack.make("up", "SCALE=1", check=False, timeout=300)
    assert done.returncode != 0
    return script_lines(done)[-1], done


def test_a_base_image_that_cannot_be_pulled_is_named_with_the_fix(stack):
    stack.env["PYTHON_IMAGE"] = "counter-e2e-missing/python:1"
    last, _ = failed_up(stack)
    assert last == (
        "up: the base image counter-e2e-missing/python:1 cannot be pulled here: run 'make offline-images' "
        "to build stand-ins from Debian's packages (or reach a registry)"
    )


MISSING_MONITORING = {  # a host that never ran `make monitor`, and cannot pull its images
    "PROMETHEUS_IMAGE": "counter-e2e-missing/prometheus:1",
    "NGINX_EXPORTER_IMAGE": "counter-e2e-missing/nginx-exporter:1",
    "REDIS_EXPORTER_IMAGE": "counter-e2e-missing/redis-exporter:1",
}


def test_a_port_that_is_taken_is_named_with_the_fix_not_an_image_it_did_not_need(stack):
    stack.env.update(MISSING_MONITORING)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.port))
        holder.listen()
        last, _ = failed_up(stack)
    assert last == (
        f"up: port {stack.port} is taken on this host: free it, or choose another with LB_PORT=... "
        "(make up LB_PORT=8080)"
    )


def test_monitor_and_load_ui_name_their_own_port_setting_when_it_is_taken(stack):
    stack.make("up", "SCALE=1")
    with socket.socket() as prometheus, socket.socket() as locust:
        for holder in (prometheus, locust):
            holder.bind(("127.0.0.1", 0))
            holder.listen()
        stack.env.update(
            PROMETHEUS_PORT=str(prometheus.getsockname()[1]), LOCUST_PORT=str(locust.getsockname()[1])
        )
        monitor = stack.make("monitor", check=False, timeout=300)
        load_ui = stack.make("load-ui", check=False, timeout=300)
    assert monitor.returncode != 0 and load_ui.returncode != 0
    assert script_lines(monitor)[-1] == (
        f"monitor: port {stack.env['PROMETHEUS_PORT']} is taken on this host: free it, or choose another "
        "with PROMETHEUS_PORT=... (make monitor PROMETHEUS_PORT=9091)"
    )
    assert script_lines(load_ui)[-1] == (
        f"load-ui: port {stack.env['LOCUST_PORT']} is taken on this host: free it, or choose another "
        "with LOCUST_PORT=... (make load-ui LOCUST_PORT=8090)"
    )
    # Where monitoring's images are missing, monitoring says so: the image it needed.
    stack.env.update(MISSING_MONITORING, PROMETHEUS_PORT="0")
    missing = stack.make("monitor", check=False, timeout=300)
    last = script_lines(missing)[-3:]
    assert last[-1].startswith("monitor: the base image counter-e2e-missing/"), last


def test_a_service_that_never_turns_healthy_is_named_with_its_last_log_lines(stack):
    stack.env["GUNICORN_WORKERS"] = "many"  # gunicorn refuses it and exits, again and again
    last, done = failed_up(stack)
    assert last == "up: starting the stack: web did not become healthy (its last log lines are above)"
    assert "web: GUNICORN_WORKERS must be a whole number, got 'many'" in done.stdout + done.stderr


def nginx_base_image(stack):
    """The base image lb is built from here: it exists, and it has no pip."""
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    return config["services"]["lb"]["build"]["args"]["NGINX_IMAGE"]


PIP_MISSING = (
    r"the (web|tutorial|smallest|bench) image did not build: .*pip: not found.* "
    r"\(fix its Dockerfile or what it installs\)"
)


def test_an_image_that_does_not_build_is_named_with_its_error(stack):
    stack.env["PYTHON_IMAGE"] = nginx_base_image(stack)  # a real image, but no Python in it
    last, _ = failed_up(stack)
    assert re.fullmatch("up: " + PIP_MISSING, last), last


def test_bench_names_an_image_that_does_not_build(stack):
    stack.env["PYTHON_IMAGE"] = nginx_base_image(stack)
    done = stack.make("bench", "BENCH_REPLICAS=1", check=False, timeout=300)
    assert done.returncode != 0
    last = script_lines(done)[-1]
    assert re.fullmatch("bench: " + PIP_MISSING, last), last


def offline_images(env, *user):
    """`make offline-images` for a Debian suite with no base image yet, so it would bootstrap one."""
    env = dict(os.environ, STANDIN_SUITE="e2e-never-built", **env)
    # python3 as any user finds it (not a shim under root's home, which another user cannot read)
    python3 = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    command = [*user, python3, "-m", "control", "offline-images"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode != 0
    return done.stderr.splitlines()


def test_offline_images_without_debootstrap_says_how_to_get_it(docker):
    assert offline_images({"PATH": "/usr/local/bin:/usr/bin:/bin"}) == [  # debootstrap is in /usr/sbin
        "offline-images: debootstrap is not installed: install it (apt-get install debootstrap), "
        "then run 'make offline-images' again"
    ]


def test_offline_images_without_root_says_to_run_it_as_root(docker):
    docker_group = os.stat("/var/run/docker.sock").st_gid  # an unprivileged user who may use Docker
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={docker_group}"]
    assert offline_images({}, *nobody) == [
        "offline-images: making the Debian base image needs root: run 'sudo make offline-images'"
    ]
