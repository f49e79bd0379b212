"""The benchmark's summaries, ratios, targets and projection, from the points of a run."""

import re

import pytest

from report import (
    ceiling,
    judged,
    markdown,
    net_probes,
    projection,
    ratios,
    redis_to_benchmark,
    sentinel_ratios,
    smallest_app_ratio,
    summarize,
    tls_ratio,
)

SETTINGS = {"web_cpus": "0.25", "connections": 32, "warmup": 5, "duration": 15, "repeat": 3}
SETTINGS.update(lb_cpus="1", redis_cpus="1", host_cpus=2)
COST = {"web": 0.8, "lb": 0.1, "redis": 0.05, "generator": 0.05}


def point(name, kind, replicas, rps, p99=10.0, paced_p99=None, cost=None, acknowledged=True):
    result = {"name": name, "kind": kind, "replicas": replicas, "rps": rps, "p50_ms": 1.0}
    result["acknowledged"] = acknowledged
    result.update(p95_ms=5.0, p99_ms=p99, errors=0, generator_cpu=0.05)
    result["cpu_ms_per_request"] = dict(cost or COST)
    if paced_p99 is not None:
        result["paced"] = {"rps": rps * 0.8, "p50_ms": 1.0, "p99_ms": paced_p99}
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


def test_retired_targets_are_reported_with_their_reason_and_not_judged():
    summary = summarize(POINTS)
    values = ratios(summary, SETTINGS)
    assert values["p99_ms_at_80_percent"] == 30.0 and values["redis_cpu_us_per_request"] == pytest.approx(
        50.0
    )
    targets = judged(values)
    assert not {"p99_ms_at_80_percent", "redis_cpu_us_per_request", "probe_ms_worst"} & set(targets)
    text = markdown(summary, values, targets, SETTINGS)
    assert "- p99 ms at 80 percent: 30.0; the target was under 25 ms at 80% of one core" in text


def test_targets_are_judged_against_their_bounds():
    targets = judged(ratios(summarize(POINTS), SETTINGS))
    assert targets["speedup_over_tutorial"]["met"] and targets["scaling_efficiency_at_max"]["met"]
    assert targets["stack_cpu_ms_per_request"]["met"] is False  # 0.95 > 0.7
    slow = judged({"speedup_over_tutorial": 3.9, "lb_cpu_share": 0.13, "web_cpu_to_smallest_app": 1.05})
    assert slow["speedup_over_tutorial"]["met"] is False and slow["lb_cpu_share"]["met"] is False
    assert slow["web_cpu_to_smallest_app"]["met"] is True


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
    assert "| speedup over tutorial | 5.000 | >= 4.0 | yes |" in text
    assert "First bottleneck as replicas are added: host." in text


def test_ratios_without_a_one_replica_point_are_refused():
    without_one = [p for p in POINTS if p["replicas"] != 1 or p["kind"] != "stack"]
    with pytest.raises(ValueError, match="no one-replica point"):
        ratios(summarize(without_one), SETTINGS)


SENTINEL = [
    *runs("sentinel 4", "sentinel", 4, [300.0, 310.0, 290.0]),
    *runs("sentinel 4 without", "sentinel", 4, [340.0, 340.0, 340.0], acknowledged=False),
]


def test_sentinel_is_compared_with_one_redis_at_the_same_replicas_and_the_acknowledgement_priced():
    acked = {"web": 0.9, "lb": 0.1, "redis": 0.12, "sentinel": 0.01, "generator": 0.05}
    points = [
        *POINTS,
        *[{**p, "p50_ms": 1.5, "cpu_ms_per_request": acked} for p in SENTINEL[:3]],
        *[{**p, "cpu_ms_per_request": {**acked, "web": 0.8, "redis": 0.09}} for p in SENTINEL[3:]],
    ]
    values = sentinel_ratios(summarize(points))
    assert values["sentinel_throughput_ratio"] == pytest.approx(300 / 360)
    assert values["acknowledgement_p50_ms"] == pytest.approx(0.5)  # no paced run here: at full rate
    assert values["acknowledgement_web_cpu_ms"] == pytest.approx(0.1)
    assert values["acknowledgement_redis_cpu_us"] == pytest.approx(30.0)
    assert judged(values)["sentinel_throughput_ratio"]["met"]
    summary = summarize(points)
    everything = {**ratios(summary, SETTINGS), **values}
    text = markdown(summary, everything, judged(everything), SETTINGS)
    assert "| the acknowledgement's cost: Redis CPU per request (three instances), us | 30.000 | | |" in text
    assert sentinel_ratios(summarize(POINTS)) == {}
    assert "tls_stack_cpu_ratio" not in values  # no point over TLS


def sentinel_turn(turn, tls, rps, cost, paced_cost):
    """One run of a Sentinel point in turn `turn`: its CPU per request at full rate and paced."""
    run = point("sentinel 4 tls" if tls else "sentinel 4", "sentinel", 4, rps, cost=cost)
    run.update(repeat=turn, tls=tls)
    run["paced"] = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 5.0, "cpu_ms_per_request": paced_cost}
    return run


def test_tls_is_priced_against_the_run_in_clear_of_the_same_turn_at_the_same_rate():
    def cost(stack):
        return {"web": stack - 0.21, "lb": 0.1, "redis": 0.1, "sentinel": 0.01, "generator": 0.05}

    full = cost(0.5)  # at full rate: not what is compared
    turns = [(1, 1.0, 1.05), (2, 2.0, 2.4), (3, 0.5, 0.55)]  # the stack's CPU per request, paced
    points = [*POINTS]
    for turn, clear, over_tls in turns:
        points.append(sentinel_turn(turn, True, 280.0, full, cost(over_tls)))
        points.append(sentinel_turn(turn, False, 300.0, full, cost(clear)))
    ratio = tls_ratio(points)
    # Each turn against its own: 1.05, 1.2, 1.1; the medians apart would give 1.05 / 1.0.
    assert ratio == {"median": pytest.approx(1.1), "min": pytest.approx(1.05), "max": pytest.approx(1.2)}
    assert sentinel_ratios(summarize(points))["tls_throughput_ratio"] == pytest.approx(280 / 300)
    assert tls_ratio(POINTS) is None  # no point over TLS
    without = [p for p in points if not (p.get("tls") and p["repeat"] == 2)]
    assert tls_ratio(without)["max"] == pytest.approx(1.1)  # a turn without its run over TLS is left out
    verdict = judged({"tls_stack_cpu_ratio": ratio["median"]})["tls_stack_cpu_ratio"]
    assert (verdict["target"], verdict["met"]) == ("<= 1.1", True)
    assert not judged({"tls_stack_cpu_ratio": 1.2})["tls_stack_cpu_ratio"]["met"]


def test_the_ceiling_of_one_primary_is_its_best_rate_in_replicas():
    rows = [
        {
            "concurrency": c,
            "rps": rps,
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "redis_cpu_us_per_step": 40.0,
            "redis_cores": 0.5,
        }
        for c, rps in ((1, 2000.0), (16, 18000.0), (64, 17000.0))
    ]
    summary = summarize(POINTS)
    limit = ceiling(rows, projection(summary, SETTINGS))
    assert (limit["steps_per_s"], limit["clients"]) == (18000.0, 16)
    assert limit["replicas_served"] == pytest.approx(200.0)  # 90 requests/s per replica
    values = ratios(summary, SETTINGS)
    text = markdown(
        summary, values, judged(values), SETTINGS, plan=projection(summary, SETTINGS), limit=limit
    )
    assert "| 16 | 18000 | 1.00 | 2.00 | 40.0 | 0.50 |" in text
    assert "One primary takes at most 18000 steps a second (at 16 clients): about 200 web replicas" in text
    assert "The same over TLS" not in text

    over_tls = [{**row, "rps": row["rps"] * 0.9, "redis_cpu_us_per_step": 44.0, "tls": True} for row in rows]
    limit = ceiling(rows + over_tls, projection(summary, SETTINGS))
    assert (limit["steps_per_s"], len(limit["rows"])) == (18000.0, 3)  # the ceiling in clear
    assert limit["tls_steps_per_s"] == pytest.approx(16200.0)
    assert limit["tls_cpu_ratio"] == {
        "1": pytest.approx(1.1),
        "16": pytest.approx(1.1),
        "64": pytest.approx(1.1),
    }
    text = markdown(
        summary, values, judged(values), SETTINGS, plan=projection(summary, SETTINGS), limit=limit
    )
    assert "| 16 | 16200 | 1.00 | 2.00 | 44.0 | 0.50 |" in text
    assert "Over TLS one primary takes at most 16200 steps a second" in text
    assert "its CPU per step against in clear: 1.10 at 1, 1.10 at 16, 1.10 at 64 clients." in text


def test_the_web_tier_is_priced_against_the_smallest_app_run_by_run():
    def run(kind, repeat, web):
        return {**point(kind, kind, 1, 100.0, cost={**COST, "web": web}), "repeat": repeat}

    points = [run("direct", 1, 0.66), run("smallest", 1, 0.6), run("direct", 2, 0.7), run("smallest", 2, 0.7)]
    points += [run("direct", 3, 0.63), run("smallest", 3, 0.6)]
    assert smallest_app_ratio(points) == {
        "median": pytest.approx(1.05),
        "min": pytest.approx(1.0),
        "max": pytest.approx(1.1),
    }
    assert smallest_app_ratio(POINTS) is None  # no smallest app measured


def test_redis_is_priced_against_the_benchmark_at_the_points_connections():
    rows = [{"concurrency": c, "redis_cpu_us_per_step": us} for c, us in ((1, 146.0), (32, 40.0), (64, 45.0))]
    ratio, row = redis_to_benchmark(summarize(POINTS), rows, connections=32)
    assert row["concurrency"] == 32 and ratio == pytest.approx(50.0 / 40.0)
