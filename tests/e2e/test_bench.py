"""`make bench` with its shortest settings: every output file is there and holds numbers, and each
tier's CPU is the CPU of the containers that served the point. Each point runs once: the order of
points at a larger BENCH_REPEAT is the unit tests' (tests/unit/test_bench_order.py)."""

import json
import math
import re
import shutil

import pytest

from helpers.support import ROOT

pytestmark = pytest.mark.e2e


def finite(value):
    return isinstance(value, float) and math.isfinite(value) and value >= 0


def test_bench_smoke_run_writes_its_report(stack):
    stack.env.update(
        BENCH_REPLICAS="1 2",
        BENCH_WARMUP="1",
        BENCH_DURATION="2",
        BENCH_CONNECTIONS="4",
        BENCH_REPEAT="1",
        BENCH_IDLE="2",
        BENCH_CEILING="1 8",
        BENCH_PROJECT=stack.name,
    )
    done = stack.make("bench", timeout=900)
    report = ROOT / re.search(r"report: (reports/bench-\S+)/results\.md", done.stdout).group(1)
    try:
        results = json.loads((report / "results.json").read_text())
        order = [p["name"] for p in results["points"]]
        # Every point, the compared ones interleaved (at a BENCH_REPEAT of 2: test_bench_order.py).
        assert order == [
            *("idle", "stack 1", "direct", "smallest", "stack 2", "lb static", "tutorial"),
            *("sentinel 2 tls", "sentinel 2", "sentinel 2 unacknowledged"),
        ]
        for p in results["points"][1:]:
            for figure in ("rps", "p50_ms", "p95_ms", "p99_ms", "generator_cpu"):
                assert finite(p[figure]), (p, figure)
            assert p["rps"] > 0
            assert all(finite(ms) for ms in p["cpu_ms_per_request"].values()), p
        assert {p["verdict"] for p in results["points"] if "verdict" in p} == {"EXACT"}

        # The tiers that served a point used CPU for it; nginx is not in the direct point's path.
        stack_1, direct = (
            next(s for s in results["summary"] if s["name"] == n) for n in ("stack 1", "direct")
        )
        for tier in ("web", "lb", "redis", "generator"):
            assert stack_1["cpu_ms_per_request"][tier]["median"] > 0, tier
        # (In windows this short a probe or a closing connection is a large share of nginx's CPU,
        # so only the order is certain; a swapped tier would put web's millisecond there.)
        assert direct["cpu_ms_per_request"]["lb"]["median"] < stack_1["cpu_ms_per_request"]["lb"]["median"]
        assert direct["cpu_ms_per_request"]["web"]["median"] > stack_1["cpu_ms_per_request"]["lb"]["median"]

        # The smallest counting app's CPU is its own container's, beside the same Redis.
        (smallest,) = (s for s in results["summary"] if s["name"] == "smallest")
        assert smallest["cpu_ms_per_request"]["web"]["median"] > 0
        assert smallest["cpu_ms_per_request"]["redis"]["median"] > 0

        # Under Sentinel, Redis is three instances and the sentinels a tier of their own.
        (sentinel,) = (s for s in results["summary"] if s["name"] == "sentinel 2")
        for tier in ("web", "lb", "redis", "sentinel"):
            assert sentinel["cpu_ms_per_request"][tier]["median"] > 0, tier
        # Over TLS: the same Sentinel point and the same ceiling, each priced against the one in clear;
        # the Sentinel points paced at the rate of the one over TLS.
        (tls,) = (s for s in results["summary"] if s["name"] == "sentinel 2 tls")
        assert tls["tls"] and not sentinel["tls"]
        paced = {p["name"]: p["paced"]["target_rps"] for p in results["points"] if p["kind"] == "sentinel"}
        assert len(paced) == 3 and len(set(paced.values())) == 1 and paced["sentinel 2 tls"] > 0, paced
        assert results["ratios"]["tls_stack_cpu_ratio_spread"]["min"] > 0
        assert finite(results["ratios"]["tls_stack_cpu_ratio"])
        limit = results["ceiling"]
        assert [row["concurrency"] for row in limit["rows"]] == [1, 8]
        assert [(row["concurrency"], row["tls"]) for row in limit["tls_rows"]] == [(1, True), (8, True)]
        for row in limit["rows"] + limit["tls_rows"]:
            assert row["rps"] > 0 and row["redis_cpu_us_per_step"] > 0, row
        assert set(limit["tls_cpu_ratio"]) == {"1", "8"}

        idle = results["idle"]["idle_ms_per_s"]
        assert set(idle) == {"web", "lb", "redis"} and all(finite(v) for each in idle.values() for v in each)
        assert set(results["probes"]) == {"web", "lb", "redis"}
        assert all(p["probe_ms"] > 0 and p["exec_ms"] > 0 for p in results["probes"].values())
        assert results["projection"]["first_bottleneck"] in {"lb", "redis", "host"}
        for name in (
            "scaling_efficiency_at_max",
            "lb_overhead",
            "lb_cpu_share",
            "speedup_over_tutorial",
            "stack_cpu_ms_per_request",
            "redis_cpu_us_per_request",
            "idle_ms_per_s_worst",
            "probe_ms_worst",
            "sentinel_throughput_ratio",
            "acknowledgement_p50_ms",
            "web_cpu_to_smallest_app",
            "redis_cpu_to_benchmark",
        ):
            assert math.isfinite(results["ratios"][name]), name
        table = (report / "results.md").read_text()
        assert re.search(r"\| stack 2 \| 2 \| \d+ \(\d+-\d+\) \|", table)
        assert "First bottleneck as replicas are added:" in table
        assert "One primary takes at most" in table
        assert re.search(r"\| web cpu to smallest app \| [\d.]+ \([\d.]+-[\d.]+\) \| <= 1.05 \|", table)
        assert "Retired targets, measured but no longer judged:" in table
        assert (report / "bench.png").read_bytes().startswith(b"\x89PNG")
        # Its own project, removed afterwards.
        assert stack.compose("ps", "--all", "--quiet").stdout.strip() == ""
    finally:
        shutil.rmtree(report, ignore_errors=True)
