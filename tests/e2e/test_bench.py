"""`make bench` with its shortest settings: every output file is there and holds numbers."""

import json
import math
import re
import shutil

import pytest

from helpers.support import ROOT

pytestmark = pytest.mark.e2e


def test_bench_smoke_run_writes_its_report(stack):
    stack.env.update(
        BENCH_REPLICAS="1 2",
        BENCH_WARMUP="1",
        BENCH_DURATION="2",
        BENCH_CONNECTIONS="4",
        BENCH_PROJECT=stack.name,
    )
    done = stack.make("bench", timeout=900)
    report = ROOT / re.search(r"report: (reports/bench-\S+)/results\.md", done.stdout).group(1)
    try:
        results = json.loads((report / "results.json").read_text())
        kinds = sorted(p["kind"] for p in results["points"])
        assert kinds == ["direct", "lb", "stack", "stack", "tutorial"]
        for p in results["points"]:
            for figure in ("rps", "p50_ms", "p95_ms", "p99_ms", "generator_cpu"):
                assert isinstance(p[figure], float) and math.isfinite(p[figure]) and p[figure] >= 0, (
                    p,
                    figure,
                )
            assert p["rps"] > 0
        assert {p["verdict"] for p in results["points"] if "verdict" in p} == {"EXACT"}
        for name in (
            "scaling_efficiency_at_max",
            "lb_overhead",
            "speedup_over_tutorial",
            "p99_ms_at_80_percent",
        ):
            assert math.isfinite(results["ratios"][name])
        table = (report / "results.md").read_text()
        assert re.search(r"\| stack 2 \| 2 \| \d+ \|", table)
        assert (report / "bench.png").read_bytes().startswith(b"\x89PNG")
        # Its own project, removed afterwards.
        assert stack.compose("ps", "--all", "--quiet").stdout.strip() == ""
    finally:
        shutil.rmtree(report, ignore_errors=True)
