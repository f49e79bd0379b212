"""The benchmark's summaries, ratios, targets and projection, from the points of a run."""

import re

import pytest

from report import judged, markdown, net_probes, projection, ratios, summarize

SETTINGS = {"web_cpus": "0.25", "connections": 32, "warmup": 5, "duration": 15, "repeat": 3}
SETTINGS.update(lb_cpus="1", redis_cpus="1", host_cpus=2)
COST = {"web": 0.8, "lb": 0.1, "redis": 0.05, "generator": 0.05}


def point(name, kind, replicas, rps, p99=10.0, paced_p99=None, cost=None):
    result = {"name": name, "kind": kind, "replicas": replicas, "rps": rps, "p50_ms": 1.0}
    result.update(p95_ms=5.0, p99_ms=p99, errors=0, generator_cpu=0.05)
    result["cpu_ms_per_request"] = dict(cost or COST)
    if paced_p99 is not None:
        result["paced"] = {"rps": rps * 0.8, "p99_ms": paced_p99}
    return result


def runs(name, kind, replicas, rates, **figures):
    """One point measured once per rate (so, as often as there are rates)."""
    return [point(name, kind, replicas, rps, **figures) for rps in rates]


POINTS = [
    *runs("stack 1", "stack", 1, [100.0, 80.0, 120.0], paced_p99=20.0),
    *runs(
        "direct",
        "direct",
        1,
        [105.0, 40.0, 200.0],
        cost={"web": 0.7, "lb": 0.0, "redis": 0.05, "generator": 0.05},
    ),
    *runs("stack 2", "stack", 2, [190.0, 200.0, 10.0], paced_p99=22.0),
    *runs("stack 4", "stack", 4, [360.0, 360.0, 360.0], paced_p99=30.0),
    *runs("tutorial", "tutorial", 1, [20.0, 20.0, 25.0]),
    *runs("lb static", "lb", 0, [9000.0, 9000.0, 9000.0], cost={"lb": 0.01, "generator": 0.02}),
]
IDLE = {"kind": "idle", "seconds": 20, "idle_worst_ms_per_s": {"web": 3.0, "lb": 1.0, "redis": 2.0}}


def test_ratios_come_from_each_points_median():
    values = ratios(summarize(POINTS), SETTINGS)
    assert values["scaling_efficiency"] == {"1": 1.0, "2": 0.95, "4": 0.9}  # 190 is the median of 2's
    assert values["scaling_efficiency_at_max"] == 0.9
    assert round(values["lb_overhead"], 4) == round(1 - 100 / 105, 4)
    assert values["speedup_over_tutorial"] == 5.0
    assert values["stack_cpu_ms_per_request"] == pytest.approx(0.95)
    assert values["redis_cpu_us_per_request"] == pytest.approx(50.0)
    assert values["lb_cpu_share"] == pytest.approx(0.1 / 0.95)


def test_the_summary_keeps_the_spread_of_the_runs():
    (stack_2,) = [p for p in summarize(POINTS) if p["name"] == "stack 2"]
    assert stack_2["runs"] == 3
    assert stack_2["rps"] == {"median": 190.0, "min": 10.0, "max": 200.0}
    assert stack_2["cpu_ms_per_request"]["stack"]["median"] == pytest.approx(0.95)


def test_p99_is_a_target_only_from_a_whole_core():
    assert "p99_ms_at_80_percent" not in ratios(summarize(POINTS), SETTINGS)
    whole = ratios(summarize(POINTS), {**SETTINGS, "web_cpus": "1"})
    assert whole["p99_ms_at_80_percent"] == 30.0


def test_targets_are_judged_against_their_bounds():
    targets = judged(ratios(summarize(POINTS), SETTINGS))
    assert targets["speedup_over_tutorial"]["met"] and targets["scaling_efficiency_at_max"]["met"]
    assert targets["stack_cpu_ms_per_request"]["met"] is False  # 0.95 > 0.7
    slow = judged({"speedup_over_tutorial": 3.9, "p99_ms_at_80_percent": 25.0})
    assert slow["speedup_over_tutorial"]["met"] is False
    assert slow["p99_ms_at_80_percent"]["met"] is False


def test_the_projection_names_the_tier_that_fills_first():
    plan = projection(summarize(POINTS), SETTINGS)
    assert plan["per_replica_rps"] == 90.0  # 360 requests/s at 4 replicas
    # nginx: 1 core / (90 req/s * 0.1 ms) = 111 replicas; Redis 222; the host's 2 cores / 1.0 ms = 22.
    assert plan["replicas"]["lb"] == pytest.approx(1000 / 9)
    assert plan["replicas"]["redis"] == pytest.approx(2000 / 9)
    assert plan["replicas"]["host"] == pytest.approx(2000 / 90)
    assert plan["first_bottleneck"] == "host"


def test_a_probe_is_charged_net_of_what_its_container_spends_anyway():
    probes = {"web": {"probe_ms": 16.0, "exec_ms": 14.0, "seconds": 4.0, "count": 20}}
    assert net_probes(probes, IDLE)["web"]["net_ms"] == pytest.approx(16.0 - 3.0 * 4.0 / 20)
    values = ratios(summarize(POINTS), SETTINGS, IDLE, probes)
    assert values["idle_ms_per_s_worst"] == 3.0 and values["probe_ms_worst"] == pytest.approx(15.4)


def test_markdown_has_a_row_per_point_the_cpu_and_the_ratios():
    summary = summarize(POINTS)
    values = ratios(summary, SETTINGS)
    text = markdown(summary, values, judged(values), SETTINGS, plan=projection(summary, SETTINGS))
    assert len(re.findall(r"\n\| stack \d", text)) == 6  # its throughput row and its CPU row
    assert "| stack 2 | 2 | 190 (10-200) |" in text
    assert "| stack 4 | 0.800 (0.800-0.800) | 0.100 (0.100-0.100) |" in text
    assert "| scaling efficiency at 4 | 0.90 | | |" in text
    assert "| speedup over tutorial | 5.00 | >= 4.0 | yes |" in text
    assert "First bottleneck as replicas are added: host." in text


def test_ratios_without_a_one_replica_point_are_refused():
    without_one = [p for p in POINTS if p["replicas"] != 1 or p["kind"] != "stack"]
    with pytest.raises(ValueError, match="no one-replica point"):
        ratios(summarize(without_one), SETTINGS)
