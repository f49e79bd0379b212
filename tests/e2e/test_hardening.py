"""Bad input and least privilege, against a running stack: every refusal exact, nothing counted."""

import json
import socket
import subprocess
import time

import pytest

from helpers.stack import Stack
from helpers.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

SERVICE_USERS = {"web": "10001", "lb": "101", "redis": "999"}


def raw(port, data, timeout=10.0):
    """Send raw bytes; return (status, head, body) of the answer, status 0 if the server just closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks).decode("latin-1")
    if not answer.startswith("HTTP/"):
        return 0, "", answer
    head, _, body = answer.partition("\r\n\r\n")
    return int(head.split()[1]), head, body


def request(stack, line, headers=(), body=b""):
    lines = [line, *headers, "Connection: close"]
    return raw(stack.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


@pytest.fixture
def unchanged(shared_stack):
    """The stack, checked afterwards to have counted nothing."""
    before = shared_stack.count()
    yield shared_stack
    assert shared_stack.count() == before


def test_oversized_body_is_413(unchanged):
    status, _, _ = request(unchanged, "GET / HTTP/1.1", ["Host: x", "Content-Length: 5000"], b"x" * 5000)
    assert status == 413


def test_oversized_header_is_400(unchanged):
    status, _, body = request(unchanged, "GET / HTTP/1.1", ["Host: x", "X-Big: " + "a" * 6000])
    assert status == 400
    assert "Request Header Or Cookie Too Large" in body


def test_long_uri_is_414(unchanged):
    status, _, _ = request(unchanged, "GET /" + "a" * 6000 + " HTTP/1.1", ["Host: x"])
    assert status == 414


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_methods_other_than_get_and_head_are_405(unchanged, method):
    status, head, _ = request(unchanged, f"{method} / HTTP/1.1", ["Host: x", "Content-Length: 0"])
    assert status == 405
    if method != "TRACE":  # nginx refuses TRACE itself, before any location (and its Allow header)
        assert "\r\nAllow: GET, HEAD" in head


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/../../etc/passwd", 400),
        ("/%2e%2e/%2e%2e/etc/passwd", 400),
        ("/count/..%2f..%2fetc/passwd", 400),
        ("/%2F%2Fcount", 400),
        ("/count%5c..%5c", 400),
        ("/static/../etc/passwd", 404),
        ("/.env", 404),
    ],
)
def test_traversal_and_encoded_slashes_go_nowhere(unchanged, path, expected):
    status, _, body = request(unchanged, f"GET {path} HTTP/1.1", ["Host: x"])
    assert status == expected, (path, status)
    assert "root:" not in body


@pytest.mark.parametrize(
    "headers", [["Host: bad host"], [], ["Host: a", "Host: b"], ["Host: a/b"], ["Host: [::1"]]
)
def test_malformed_host_is_400(unchanged, headers):
    status, _, _ = request(unchanged, "GET / HTTP/1.1", headers)
    assert status == 400, headers


def test_slow_client_dribbling_headers_is_cut_off(unchanged):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", unchanged.port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for byte in b"X-Slow: " + b"a" * 30:
                sock.sendall(bytes([byte]))
                time.sleep(0.5)
            cut = False
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        if not cut:
            cut = sock.recv(1024) == b""
    assert cut
    assert time.monotonic() - started < 12  # client_header_timeout is 5 s


def test_bad_idempotency_key_is_400_with_its_reason(unchanged):
    status, _, body = unchanged.get("/", {"Idempotency-Key": "no spaces allowed"})
    assert status == 400
    assert body == "400 Bad Request: Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 . _ -\n"


def test_query_strings_are_400(unchanged):
    assert unchanged.get("/?x=1")[0] == 400


def test_versions_are_hidden(unchanged):
    for path in ("/count", "/nope"):
        assert unchanged.get(path)[1].getheader("Server") == "nginx"
    status, head, body = request(unchanged, "DELETE / HTTP/1.1", ["Host: x"])
    assert status == 405
    assert "nginx/" not in head + body
    assert "\r\nServer: nginx\r\n" in head


def python_in_web(stack, code):
    done = stack.compose("exec", "-T", "web", "python", "-c", code, check=False)
    return (done.stdout + done.stderr).strip()


def test_redis_refuses_clients_without_the_password_inside_the_network(unchanged):
    code = (
        "import redis\n"
        "try:\n    redis.Redis(host='redis').get('counter:total'); print('ALLOWED')\n"
        "except redis.AuthenticationError as error:\n    print('REFUSED', error)"
    )
    assert python_in_web(unchanged, code).startswith("REFUSED")


def test_the_apps_redis_user_is_refused_flushall(unchanged):
    code = (
        "import redis; password = open('/run/secrets/redis_app_password').read().strip(); "
        "client = redis.Redis(host='redis', username='counter', password=password); "
        "print(client.get('counter:total')); client.flushall()"
    )
    out = python_in_web(unchanged, code)
    assert "NoPermissionError" in out and "flushall" in out


def test_only_the_load_balancer_publishes_a_port(unchanged):
    for service in SERVICE_USERS:
        for container in unchanged.containers(service):
            bindings = json.loads(unchanged.inspect_one(container, "{{json .HostConfig.PortBindings}}"))
            if service == "lb":
                assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(unchanged.port)}]}
            else:
                assert not bindings, (service, bindings)


def test_by_default_only_the_load_balancer_listens_beyond_this_host(unchanged):
    # The shipped defaults, none of the tests' settings: the load balancer on every interface (it
    # is the service); Prometheus and locust's web UI (which starts load against any host it is
    # told) on this host only.
    env = {k: v for k, v in unchanged.env.items() if not k.endswith(("_BIND", "_PORT"))}
    profiles = [
        "--profile",
        "monitoring",
        "--profile",
        "loadtest",
        "--profile",
        "sentinel",
        "--profile",
        "bench",
    ]
    done = subprocess.run(
        ["docker", "compose", *profiles, "--env-file", "/dev/null", "config", "--format", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    published = {
        (name, p["host_ip"], p["published"], p["target"])
        for name, service in json.loads(done.stdout)["services"].items()
        for p in service.get("ports", [])
    }
    assert published == {
        ("lb", "0.0.0.0", "80", 8080),
        ("prometheus", "127.0.0.1", "9090", 9090),
        ("locust-master", "127.0.0.1", "8089", 8089),
    }


@pytest.mark.parametrize("service", sorted(SERVICE_USERS))
def test_containers_run_unprivileged_on_a_read_only_root(unchanged, service):
    for container in unchanged.containers(service):
        (info,) = json.loads(unchanged.run("docker", "inspect", container).stdout)
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0
        uid = unchanged.run("docker", "exec", container, "id", "-u").stdout.strip()
        assert uid == SERVICE_USERS[service]
        write = unchanged.run("docker", "exec", container, "touch", "/probe", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr
        assert info["State"]["Health"]["Status"] == "healthy"


def test_rate_limit_answers_429_and_counts_only_what_it_serves(docker):
    stack = Stack()
    stack.env.update(RATE_LIMIT="5", RATE_BURST="5")
    try:
        stack.make("up", "SCALE=1")
        before = stack.count()
        statuses = [stack.get("/")[0] for _ in range(40)]
        assert set(statuses) == {200, 429}
        read = []  # /count is limited too: read it once the client's allowance has refilled

        def counted():
            status, _, body = stack.get("/count")
            read.extend([json.loads(body)["count"]] if status == 200 else [])
            return read

        wait_for(counted, 10, "the rate limit's allowance", interval=0.2)
        assert read[0] - before == statuses.count(200)
    finally:
        stack.down()


def test_a_replica_starts_without_an_error_in_its_log(shared_stack):
    # Such as gunicorn's control socket, which a read-only container cannot make in $HOME.
    for container in shared_stack.containers("web"):
        log = shared_stack.run("docker", "logs", container).stderr
        assert "Booting worker" in log
        assert "[ERROR]" not in log, log
