"""Shipping a change to a running Compose stack with `make up`, under 16 plain keep-alive clients
(no Idempotency-Key, 5 s timeout), as a user ships one: web's code edited, a broken one, nginx's
configuration edited, and an unchanged stack. Each load ends with the promise's checks: no count
handed out twice, the counter moved by exactly the successes; and here no request failed.

The negative control runs the same edit with a plain `docker compose up -d --build`, which
recreates every replica at once: it fails the very assertion that `make up` passes.
"""

import re

import pytest

from helpers.stack import Stack, assert_exact, script_lines, ship_under_load
from helpers.support import edit, project_copy

pytestmark = pytest.mark.e2e

VIEWS = "web/counter/views.py"


@pytest.fixture(scope="module")
def stack(docker, tmp_path_factory):
    """One stack, run from a copy of the project that the tests edit."""
    stack = Stack()
    stack.tree = project_copy(tmp_path_factory.mktemp("tree") / "counter")
    stack.make("up", "SCALE=1")
    yield stack
    stack.down()


def next_release(stack, number=[0]):  # noqa: B006 (one count for the module)
    """Edit web's code: its answers carry X-Release, one more than the last edit's."""
    number[0] += 1
    views = stack.tree / VIEWS
    header = r'"Cache-Control": "no-store"(, "X-Release": "\d+")?\}'
    text, found = re.subn(
        header, f'"Cache-Control": "no-store", "X-Release": "{number[0]}"}}', views.read_text()
    )
    assert found == 1, "web/counter/views.py no longer sets Cache-Control as expected"
    views.write_text(text)
    return str(number[0])


def release_served(stack):
    """{X-Release of the answers} of 30 requests through nginx."""
    return {stack.get("/")[1].getheader("X-Release") for _ in range(30)}


MAKE_UP = ("make", "--no-print-directory", "up")


@pytest.mark.parametrize("start, scale", [(1, 1), (3, 3), (3, 2)], ids=["at-1", "at-3", "3-to-2"])
def test_a_web_change_is_shipped_new_first_with_no_failed_request(stack, start, scale):
    stack.make("scale", f"SCALE={start}")
    old = set(stack.containers("web"))
    release = next_release(stack)
    result, output = ship_under_load(stack, (*MAKE_UP, f"SCALE={scale}"))
    assert len(stack.containers("web")) == scale
    assert "web: its image changed" in output, output
    assert re.search(r"web replaced: done in \d+ s", output), output
    assert result.failed_attempts == 0, (result.attempts, stack.lb_log())
    assert not old & set(stack.containers("web"))  # every old replica went
    assert release_served(stack) == {release}


def test_an_unchanged_stack_is_left_alone(stack):
    running = set(stack.compose("ps", "--quiet").stdout.split())
    output = stack.make("up", f"SCALE={len(stack.containers('web'))}").stdout
    assert "nothing changed: no container is replaced" in output
    assert set(stack.compose("ps", "--quiet").stdout.split()) == running


def test_a_web_change_that_cannot_start_is_refused_and_the_old_replicas_serve_on(stack):
    stack.make("scale", "SCALE=2")
    old = set(stack.containers("web"))
    served = release_served(stack)
    edit(
        stack.tree / "web/counter/__init__.py",
        "from flask",
        'raise SystemExit("a broken release")\nfrom flask',
    )
    before = stack.count()
    done = {}
    try:
        result = stack.load(
            clients=16,
            timeout=5,
            after=2,
            during=lambda: done.update(out=stack.make("up", "SCALE=2", check=False)),
        )
    finally:
        edit(stack.tree / "web/counter/__init__.py", 'raise SystemExit("a broken release")\n', "")
    assert done["out"].returncode != 0
    last = script_lines(done["out"])[-1]
    assert last.startswith("up.sh: web's new replica "), last
    assert "a broken release" in last and "the old replicas serve on, unchanged" in last, last
    log = re.search(r"its whole log: (\S+)\)$", last).group(1)
    assert "a broken release" in (stack.tree / log).read_text()
    assert result.failed_attempts == 0, result.attempts
    assert_exact(stack, result, before)
    assert set(stack.compose("ps", "--all", "--quiet", "web").stdout.split()) == old  # nothing left over
    assert release_served(stack) == served


def test_an_edit_of_nginx_conf_is_reloaded_with_no_failed_request(stack):
    stack.make("scale", "SCALE=2")
    lb = stack.containers("lb")
    edited = "        location = /edited { return 204; }\n        location = /live {"
    edit(stack.tree / "lb/site/nginx.conf", "        location = /live {", edited)
    result, output = ship_under_load(stack, (*MAKE_UP, "SCALE=2"))
    assert "lb: lb/site/nginx.conf changed; nginx reloads it gracefully" in output, output
    assert result.failed_attempts == 0, (result.attempts, stack.lb_log())
    assert stack.containers("lb") == lb  # the same container, reloaded
    assert stack.get("/edited")[0] == 204


def test_negative_control_compose_up_build_fails_requests_on_the_same_change(stack):
    """The same kind of edit, shipped with Compose's own command: the assertion above fails."""
    stack.make("scale", "SCALE=3")
    next_release(stack)
    result, _ = ship_under_load(stack, stack.compose_up_build("--scale", "web=3", "web"))
    assert result.failed_attempts > 0, result.attempts
