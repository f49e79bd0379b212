"""A newcomer's first `make up`: when the stack cannot start, the last line names the cause and the fix."""

import socket

import pytest

from helpers.stack import script_lines

pytestmark = pytest.mark.e2e


def failed_up(stack):
    done = stack.make("up", "SCALE=1", check=False, timeout=300)
    assert done.returncode != 0
    return script_lines(done)[-1], done


def test_a_base_image_that_cannot_be_pulled_is_named_with_the_fix(stack):
    stack.env["PYTHON_IMAGE"] = "counter-e2e-missing/python:1"
    last, _ = failed_up(stack)
    assert last == (
        "up.sh: the base image counter-e2e-missing/python:1 cannot be pulled here: run 'make offline-images' "
        "to build stand-ins from Debian's packages (or reach a registry)"
    )


def test_a_port_that_is_taken_is_named_with_the_fix(stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.port))
        holder.listen()
        last, _ = failed_up(stack)
    assert last == (
        f"up.sh: port {stack.port} is taken on this host: free it, or choose another with LB_PORT=... "
        "(make up LB_PORT=8080)"
    )


def test_a_service_that_never_turns_healthy_is_named_with_its_last_log_lines(stack):
    stack.env["GUNICORN_WORKERS"] = "many"  # gunicorn refuses it and exits, again and again
    last, done = failed_up(stack)
    assert last == "up.sh: starting the stack: web did not become healthy (its last log lines are above)"
    assert "web: GUNICORN_WORKERS must be a whole number, got 'many'" in done.stdout + done.stderr
