"""control/plan.py: what `make up` does to a running stack, in order and why, with no Docker."""

import pytest

from control.plan import Running, Service, Step, plan, swarm_plan
from control.topology import Topology

SENTINEL_ENV = {"REDIS_FIRST_PRIMARY": "redis", "REDIS_PRIMARY_NAME": "counter"}
CONFIG = {
    "name": "counter",
    "services": {
        "redis": {"command": ["start-redis"]},
        "redis-2": {"command": ["start-redis"], "profiles": ["sentinel"]},
        "redis-3": {"command": ["start-redis"], "profiles": ["sentinel"]},
        **{
            f"sentinel-{n}": {
                "command": ["start-sentinel"],
                "profiles": ["sentinel"],
                "environment": SENTINEL_ENV,
            }
            for n in (1, 2, 3)
        },
        "web": {},
        "lb": {},
    },
}
TOPOLOGY = Topology(CONFIG)
SINGLE = {"redis", "web", "lb"}
SENTINEL = SINGLE | {"redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3"}
IMAGE = "its image changed (aaaa -> bbbb)"


def steps(mode="single", declared_tls="off", replicas=3, **running):
    running.setdefault("services", SENTINEL if mode == "sentinel" else SINGLE)
    running.setdefault("web", 3)
    return plan(TOPOLOGY, mode, declared_tls, replicas, Running(**running))


def test_nothing_changed_is_no_step():
    assert steps() == []


def test_a_changed_web_is_replaced_new_first_a_quarter_at_a_time():
    assert steps(replicas=5, stale={"web": IMAGE}) == [
        Step("web", "web", f"web: {IMAGE}; replaced new replicas first, 2 at a time")
    ]


def test_a_new_scale_alone_scales_and_with_a_change_is_part_of_the_replacement():
    assert steps(replicas=4) == [Step("scale", "web", "web: 3 replicas, 4 asked: scaled (none replaced)")]
    assert [s.action for s in steps(replicas=4, stale={"web": IMAGE})] == ["web"]


def test_nginx_s_configuration_is_reloaded_and_its_image_replaces_its_container():
    assert steps(lb_edited=True) == [
        Step("reload", "lb", "lb: lb/site/nginx.conf changed; nginx reloads it gracefully")
    ]
    (step,) = steps(lb_edited=True, stale={"lb": IMAGE})
    assert (step.action, step.reason) == (
        "lb",
        f"lb: {IMAGE}; its container replaced (connections refused or cut for a moment)",
    )


def test_under_sentinel_the_group_s_changed_members_come_first_sentinels_then_instances():
    stale = {"redis": IMAGE, "redis-3": IMAGE, "sentinel-2": "its settings changed (X)", "web": IMAGE}
    assert [(s.action, s.service) for s in steps("sentinel", stale=stale)] == [
        ("redis", "sentinel-2"),
        ("redis", "redis"),
        ("redis", "redis-3"),
        ("web", "web"),
    ]


def test_the_one_redis_of_single_mode_is_one_step_before_web_and_lb_and_others_after():
    stale = {"redis": IMAGE, "lb": IMAGE, "web": IMAGE, "prometheus": "its definition changed"}
    assert [(s.action, s.service) for s in steps(stale=stale)] == [
        ("redis", "redis"),
        ("web", "web"),
        ("lb", "lb"),
        ("replace", "prometheus"),
    ]


def test_a_stale_broken_replica_is_a_change_of_web():
    (step,) = steps(stale={"web": "2 of its 3 containers keep failing"})
    assert step.reason.startswith("web: 2 of its 3 containers keep failing; replaced new replicas first")


@pytest.mark.parametrize(
    "mode, declared_tls, running, why",
    [
        ("single", "off", {"services": set()}, "starting 3 web replicas (Redis: single)"),
        ("sentinel", "off", {"services": SINGLE}, "switching to REDIS_MODE=sentinel: the stack starts anew"),
        ("single", "off", {"services": {"redis", "lb"}, "web": 0}, "no web replica is running"),
        ("single", "on", {"tls": "off"}, "switching REDIS_TLS to on: Redis, the sentinels and web restart"),
    ],
)
def test_what_cannot_be_kept_starts_anew_in_one_step(mode, declared_tls, running, why):
    (step,) = steps(mode, declared_tls, stale={"web": IMAGE}, **running)
    assert step.action == "start" and step.reason.startswith(why), step


def swarm(mode="sentinel", declared_tls="on", deployed_tls="on", changed=(), new=()):
    """swarm_plan over every service deployed as declared, but the `changed` ones (a new spec)."""
    names = ["redis", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3", "web", "lb"]
    declared = {n: Service(f"{n}-{'new' if n in changed else 'old'}", f"reg/c-{n}:1") for n in names}
    deployed = {n: Service(f"{n}-old", f"reg/c-{n}:1@sha256:ab") for n in names if n not in new}
    return swarm_plan(TOPOLOGY, mode, declared_tls, declared, deployed, deployed_tls)


def test_on_swarm_nothing_changed_is_no_step_and_a_new_service_replaces_nothing():
    assert swarm() == []
    assert swarm(changed={"web"}, new={"web"}) == [Step("add", "web", "web: new to the stack; started")]


def test_on_swarm_a_service_no_longer_declared_is_removed_and_a_first_deploy_adds_nothing_one_by_one():
    declared = {"redis": Service("a", "reg/c-redis:1"), "web": Service("w", "reg/c-web:1")}
    deployed = {**declared, "autoscaler": Service("s", "reg/c-autoscaler:1")}
    assert swarm_plan(TOPOLOGY, "single", "on", declared, deployed, "on") == [
        Step("remove", "autoscaler", "autoscaler: no longer in the stack; removed")
    ]
    assert swarm_plan(TOPOLOGY, "single", "on", declared, {}, None) == []


def test_on_swarm_web_is_replaced_a_task_at_a_time_and_others_stopped_first():
    assert swarm(changed={"web", "lb"}) == [
        Step("update", "web", "web: its settings changed; replaced one task at a time, new first"),
        Step("update", "lb", "lb: its settings changed; replaced (stop first)"),
    ]


def test_on_swarm_under_sentinel_the_group_s_changed_members_are_rolled():
    steps = swarm(changed={"redis", "redis-3", "sentinel-2", "web"})
    assert [(s.action, s.service) for s in steps] == [
        ("roll", "redis"),
        ("roll", "redis-3"),
        ("roll", "sentinel-2"),
        ("update", "web"),
    ]
    assert steps[0].reason == (
        "redis: its settings changed; replaced one at a time "
        "(sentinels, replicas, a planned switch, the old primary)"
    )


def test_on_swarm_the_one_redis_is_stopped_first_and_a_new_image_named():
    declared = {"redis": Service("b", "reg/c-redis:2")}
    deployed = {"redis": Service("a", "reg/c-redis:1@sha256:ab")}
    assert swarm_plan(TOPOLOGY, "single", "on", declared, deployed, "on") == [
        Step(
            "update",
            "redis",
            "redis: its image changed (reg/c-redis:1 -> reg/c-redis:2); replaced (stop first)",
        )
    ]


def test_on_swarm_a_switch_of_redis_tls_updates_the_group_at_once():
    steps = swarm(declared_tls="off", deployed_tls="on", changed={"redis", "redis-2", "sentinel-1", "web"})
    assert [s.action for s in steps] == ["update"] * 4
    assert steps[0].reason.startswith(
        "redis: REDIS_TLS switched to off; updated with the rest of the group at once"
    )
