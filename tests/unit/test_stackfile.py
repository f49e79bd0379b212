"""control/stackfile.py: the stack file Swarm gets from the Compose file's configuration."""

import hashlib
import json
import subprocess
import sys

import pytest

from control.stackfile import StackFileError, image_of, stack_file
from helpers.support import ROOT

IMAGES = {"redis": "reg:5000/c-redis:1", "web": "reg:5000/c-web:2", "lb": "reg:5000/c-lb:3"}


@pytest.fixture
def config(tmp_path):
    """The shape of `docker compose config --format json` for the three services."""
    secret = tmp_path / "redis_app_password"
    secret.write_text("s3cret")
    hardened = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}
    hardened.update(restart="unless-stopped", command=None, entrypoint=None)
    limits = {"deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "268435456"}}, "placement": {}}}
    return {
        "name": "counter",
        "services": {
            "redis": {**hardened, **limits, "build": {"context": "redis"}, "user": "redis", "tmpfs": ["/tmp"],
                      "command": ["start-redis"],
                      "volumes": [{"type": "volume", "source": "redis-data", "target": "/data"}]},
            "web": {**hardened, **limits, "build": {"context": "web"}, "init": True, "tmpfs": ["/tmp"],
                    "depends_on": {"redis": {"condition": "service_healthy"}}, "stop_grace_period": "15s",
                    "secrets": [{"source": "redis_app_password", "target": f"/run/secrets/{secret.name}"}]},
            "lb": {**hardened, **limits, "build": {"context": "lb"},
                   "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 8080, "published": "80",
                              "protocol": "tcp"}]},
        },
        "networks": {"front": {"name": "counter_front", "ipam": {}},
                     "back": {"name": "counter_back", "internal": True}},
        "volumes": {"redis-data": {"name": "counter_redis-data"}},
        "secrets": {"redis_app_password": {"name": "counter_redis_app_password", "file": str(secret)}},
    }  # fmt: skip


def test_services_run_the_built_images_found_by_dns_with_what_swarm_cannot_read_left_out(config):
    stack = stack_file(config, "counter", IMAGES, replicas=4)
    assert stack["version"] == "3.9" and "name" not in stack
    for name, service in stack["services"].items():
        assert service["image"] == IMAGES[name]
        assert not {"build", "depends_on", "restart", "security_opt", "tmpfs"} & set(service)
        assert service.get("command") == (["start-redis"] if name == "redis" else None)
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["deploy"]["endpoint_mode"] == "dnsrr"
        assert service["deploy"]["resources"] == {"limits": {"cpus": "0.5", "memory": "268435456"}}
        assert {"type": "tmpfs", "target": "/tmp"} in service.get("volumes", []) or name == "lb"
    assert [s["deploy"].get("replicas") for s in stack["services"].values()] == [1, 4, None]
    assert stack["services"]["lb"]["deploy"]["mode"] == "global"


def test_web_updates_one_replica_at_a_time_new_first_and_rolls_back_on_failure(config):
    deploy = stack_file(config, "counter", IMAGES, replicas=3)["services"]["web"]["deploy"]
    assert deploy["update_config"] == {
        "parallelism": 1, "order": "start-first", "failure_action": "rollback", "monitor": "10s"
    }  # fmt: skip
    assert deploy["rollback_config"] == {"parallelism": 1, "order": "start-first"}


def test_redis_stops_first_on_its_labelled_node_and_the_lb_publishes_on_every_node(config):
    services = stack_file(config, "counter", IMAGES, replicas=3)["services"]
    assert services["redis"]["deploy"]["update_config"]["order"] == "stop-first"
    assert services["redis"]["deploy"]["placement"] == {"constraints": ["node.labels.counter.redis == true"]}
    assert services["lb"]["deploy"]["placement"] == {"constraints": ["node.labels.counter.lb != false"]}
    assert services["web"]["deploy"]["placement"] == {"constraints": ["node.labels.counter.web != false"]}
    assert services["lb"]["ports"] == [{"mode": "host", "target": 8080, "published": 80, "protocol": "tcp"}]
    assert services["web"]["secrets"] == [{"source": "redis_app_password", "target": "redis_app_password"}]


def test_secrets_are_named_by_content_and_networks_by_the_stack(config):
    stack = stack_file(config, "demo", IMAGES, replicas=1)
    digest = hashlib.sha256(b"s3cret").hexdigest()[:12]
    assert stack["secrets"]["redis_app_password"]["name"] == f"demo_redis_app_password_{digest}"
    assert stack["networks"] == {
        "front": {"driver": "overlay"},
        "back": {"driver": "overlay", "internal": True, "attachable": True},
    }
    assert stack["volumes"] == {"redis-data": {}}


def test_under_sentinel_each_instance_and_its_sentinel_live_on_their_nodes_by_name(config):
    redis = config["services"]["redis"]
    redis.update(
        networks={"back": {"ipv4_address": "10.210.0.11"}}, extra_hosts=["redis-2=10.210.0.12"], profiles=None
    )
    for name in ("redis-2", "redis-3"):
        config["services"][name] = {**redis, "profiles": ["sentinel"]}
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        config["services"][name] = {
            **redis, "profiles": ["sentinel"], "command": ["start-sentinel"],
            "environment": {"REDIS_FIRST_PRIMARY": "redis", "REDIS_PRIMARY_NAME": "counter"},
        }  # fmt: skip
    services = stack_file(config, "counter", IMAGES, replicas=2)["services"]
    for name in ("redis", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3"):
        service = services[name]
        assert service["deploy"]["placement"] == {"constraints": [f"node.labels.counter.{name} == true"]}
        assert service["image"] == IMAGES["redis"]  # one image for every instance and sentinel
        assert service["networks"] == ["back"]  # no fixed address: Swarm names them
        assert not {"extra_hosts", "profiles"} & set(service)


def test_a_compose_setting_it_does_not_know_is_refused_not_dropped(config):
    config["services"]["web"]["privileged"] = True
    with pytest.raises(StackFileError, match="service web uses privileged"):
        stack_file(config, "counter", IMAGES, replicas=1)


def test_the_command_says_what_is_wrong_in_one_line(config):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "control",
            "stackfile",
            "--stack",
            "c",
            "--replicas",
            "1",
            "--image",
            "web=x",
        ],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr == "stackfile: no image for lb, redis\n"


def test_the_sentinels_run_their_own_image_and_the_other_instances_redis_s():
    images = {**IMAGES, "sentinel": "reg:5000/c-sentinel:4"}
    sentinel = {"build": {"context": "redis", "target": "sentinel"}}
    instance = {"build": {"context": "redis", "target": "instance"}}
    assert image_of("sentinel-2", sentinel, images) == images["sentinel"]
    assert image_of("redis-2", instance, images) == image_of("redis", instance, images) == images["redis"]
    assert image_of("web", {"build": {"context": "web"}}, images) == images["web"]


def test_the_autoscaler_and_its_prometheus_run_on_a_manager_with_docker_s_socket_and_no_project(
    config, tmp_path, monkeypatch
):
    project = tmp_path / "project"
    (project / "monitoring").mkdir(parents=True)
    (project / "monitoring" / "prometheus.yml").write_text("scrape_configs: []\n")
    monkeypatch.chdir(project)
    socket = {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}
    config["services"].update(
        {
            "autoscaler": {"build": {"context": str(project)}, "working_dir": "/counter", "user": "10001",
                           "volumes": [{"type": "bind", "source": str(project), "target": "/counter"}]},
            "docker-proxy": {"build": {"context": str(project)}, "volumes": [socket]},
            "prometheus": {"image": "prom/prometheus:v3.5.0",
                           "volumes": [{"type": "bind", "source": "monitoring", "target": "/etc/prometheus"}],
                           "ports": [{"target": 9090, "published": "9090", "protocol": "tcp"}]},
        }
    )  # fmt: skip
    images = {**IMAGES, "autoscaler": "c-autoscaler:5", "docker-proxy": "c-autoscaler:5"}
    stack = stack_file(config, "counter", images, replicas=2)
    services = stack["services"]
    autoscaler, proxy, prometheus = (services[n] for n in ("autoscaler", "docker-proxy", "prometheus"))
    for service in (autoscaler, proxy, prometheus):
        assert service["deploy"]["placement"] == {"constraints": ["node.role == manager"]}
        assert service["deploy"]["replicas"] == 1
    assert "volumes" not in autoscaler and "configs" not in autoscaler and "working_dir" not in autoscaler
    assert proxy["volumes"] == [socket] and "configs" not in proxy
    assert prometheus["image"] == "prom/prometheus:v3.5.0" and "ports" not in prometheus
    (file,) = prometheus["configs"]
    assert file["target"] == "/etc/prometheus/prometheus.yml"
    assert stack["configs"][file["source"]]["file"] == "monitoring/prometheus.yml"
