"""autoscaler/socket_proxy.py: what the autoscaler may ask of Docker, judged with no Docker (the
calls that name a container, which the proxy looks up, are checked end to end)."""

import importlib.util

import pytest

from helpers.support import ROOT

spec = importlib.util.spec_from_file_location("socket_proxy", ROOT / "autoscaler" / "socket_proxy.py")
proxy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxy)

WEB = {"com.docker.compose.project": "counter", "com.docker.compose.service": "web"}


def replica(**host):
    """A create request as Compose makes it for a web replica, with HOST in its HostConfig."""
    binds = ["/srv/counter/secrets/redis_app_password:/run/secrets/redis_app_password:ro"]
    return {
        "Image": "counter-web",
        "Labels": WEB,
        "HostConfig": {"Binds": binds, "Tmpfs": {"/tmp": ""}, **host},
    }


@pytest.fixture(autouse=True)
def project(monkeypatch):
    monkeypatch.setattr(proxy, "PROJECT", "counter")
    monkeypatch.setattr(proxy, "PROJECT_DIR", "/srv/counter")
    monkeypatch.setattr(proxy, "MOST", 4)


def three():
    return 3


def test_reads_that_scaling_needs_pass_and_others_do_not():
    for path in (
        "/v1.41/_ping",
        "/v1.41/containers/json?all=1",
        "/v1.41/containers/abc/json",
        "/v1.41/networks/x",
    ):
        assert proxy.refusal("GET", path, b"") is None, path
    for path in ("/v1.41/containers/abc/logs", "/v1.41/containers/abc/archive?path=/data", "/v1.41/secrets"):
        assert proxy.refusal("GET", path, b"") is not None, path


def test_a_web_replica_as_compose_makes_it_passes():
    assert proxy.create_refusal(replica(), three) is None


@pytest.mark.parametrize(
    "change, why",
    [
        ({"HostConfig": {"Privileged": True}}, "privileges"),
        ({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}}, "capabilities"),
        ({"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda"}]}}, "devices"),
        ({"HostConfig": {"PidMode": "host"}}, "namespaces"),
        ({"HostConfig": {"NetworkMode": "container:abc"}}, "namespaces"),
        ({"HostConfig": {"Binds": ["/var/run/docker.sock:/s"]}}, "mounts /var/run/docker.sock"),
        ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/"}]}}, "mounts /"),
        ({"HostConfig": {"Binds": ["/srv/counter/secrets/../../etc:/e"]}}, "mounts"),
        ({"Image": "counter-redis"}, "another image"),
        ({"Labels": {**WEB, "com.docker.compose.service": "redis"}}, "not one of counter's web"),
        ({"Labels": {**WEB, "com.docker.compose.project": "other"}}, "not one of counter's web"),
    ],
)
def test_anything_more_than_a_web_replica_is_refused(change, why):
    spec = replica()
    spec.update({k: v for k, v in change.items() if k != "HostConfig"})
    spec["HostConfig"].update(change.get("HostConfig", {}))
    assert why in (proxy.create_refusal(spec, three) or "")


def test_a_replica_beyond_the_autoscalers_most_is_refused():
    assert proxy.create_refusal(replica(), lambda: 4) == "a web replica beyond the autoscaler's most, 4"
    assert proxy.create_refusal(replica(), lambda: 5) is not None


def test_other_calls_are_refused():
    assert proxy.refusal("POST", "/v1.41/containers/abc/exec", b"{}") is not None
    assert proxy.refusal("POST", "/v1.41/images/create?fromImage=x", b"") is not None
    assert proxy.refusal("POST", "/v1.41/volumes/create", b"{}") is not None
    assert proxy.refusal("DELETE", "/v1.41/networks/x", b"") is not None


def web_service(name="counter_web", replicas=2):
    """A service as Docker's API gives it (the parts the proxy reads, and some it compares)."""
    return {
        "ID": "x1",
        "Version": {"Index": 7},
        "Spec": {
            "Name": name,
            "TaskTemplate": {"ContainerSpec": {"Image": "counter-web:abc", "User": "10001"}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }


def scaled(found, replicas):
    spec = web_service(found["Spec"]["Name"], replicas)["Spec"]
    spec["TaskTemplate"] = found["Spec"]["TaskTemplate"]
    return spec


def test_on_swarm_an_update_of_web_that_changes_its_replicas_only_passes():
    found = web_service()
    for replicas in (1, 3, 4):
        assert proxy.update_refusal(found, {"version": ["7"]}, scaled(found, replicas)) is None
    assert proxy.refusal("GET", "/v1.41/tasks?filters=x", b"") is None
    assert proxy.refusal("GET", "/v1.41/services/counter_web", b"") is None


def test_on_swarm_any_other_update_is_refused():
    found = web_service()
    other_image = scaled(found, 3)
    other_image["TaskTemplate"] = {"ContainerSpec": {"Image": "counter-web:abc", "User": "0"}}
    redis = web_service("counter_redis")
    for found_, query, spec, why in (
        (found, {}, other_image, "an update of web that changes more than its replicas"),
        (found, {}, scaled(found, 5), "a web replica beyond the autoscaler's most, 4"),
        (found, {"registryAuthFrom": ["spec"]}, scaled(found, 3), "an update of web with registryAuthFrom"),
        (redis, {}, scaled(redis, 1), "updating a service that is not counter's web"),
        (found, {}, {"Name": "counter_web"}, "an update of web that does not say its replicas"),
    ):
        assert proxy.update_refusal(found_, query, spec) == why
    for method, path in (("POST", "/v1.41/services/create"), ("DELETE", "/v1.41/services/counter_web")):
        assert proxy.refusal(method, path, b"{}") == f"{method} {path[6:]} is not needed to scale web"
