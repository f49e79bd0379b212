"""The benchmark's ratios and targets, from the points of a run."""

import pytest

from report import judged, markdown, ratios


def point(name, kind, replicas, rps, p99=10.0, paced_p99=None):
    result = {"name": name, "kind": kind, "replicas": replicas, "rps": rps, "p50_ms": 1.0}
    result.update(p95_ms=5.0, p99_ms=p99, errors=0, generator_cpu=0.05)
    if paced_p99 is not None:
        result["paced"] = {"rps": rps * 0.8, "p99_ms": paced_p99}
    return result


POINTS = [
    point("stack 1", "stack", 1, 100.0, paced_p99=20.0),
    point("stack 2", "stack", 2, 190.0, paced_p99=22.0),
    point("stack 4", "stack", 4, 360.0, paced_p99=30.0),
    point("direct", "direct", 1, 105.0),
    point("tutorial", "tutorial", 1, 20.0),
    point("lb static", "lb", 0, 9000.0),
]


def test_ratios_from_the_one_replica_point():
    values = ratios(POINTS)
    assert values["scaling_efficiency"] == {"1": 1.0, "2": 0.95, "4": 0.9}
    assert values["scaling_efficiency_at_max"] == 0.9
    assert round(values["lb_overhead"], 4) == round(1 - 100 / 105, 4)
    assert values["speedup_over_tutorial"] == 5.0
    assert values["p99_ms_at_80_percent"] == 30.0


def test_targets_are_judged_against_their_bounds():
    targets = judged(ratios(POINTS))
    assert all(verdict["met"] for verdict in targets.values())
    slow = judged({**ratios(POINTS), "speedup_over_tutorial": 3.9, "p99_ms_at_80_percent": 50.0})
    assert slow["speedup_over_tutorial"]["met"] is False
    assert slow["p99_ms_at_80_percent"]["met"] is False


def test_markdown_has_a_row_per_point_and_the_ratios():
    settings = {"web_cpus": "0.25", "connections": 32, "warmup": 5, "duration": 15}
    text = markdown(POINTS, ratios(POINTS), judged(ratios(POINTS)), {}, settings)
    assert text.count("\n| stack ") == 3
    assert "| scaling efficiency at 4 | 0.90 | | |" in text
    assert "| speedup over tutorial | 5.00 | >= 4.0 | yes |" in text


def test_ratios_without_a_one_replica_point_are_refused():
    without_one = [p for p in POINTS if p["replicas"] != 1 or p["kind"] != "stack"]
    with pytest.raises(ValueError, match="no one-replica point"):
        ratios(without_one)
