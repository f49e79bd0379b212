"""`make bench`'s points (measure.py writes one per run, in points.jsonl) and what the report and
the chart both read of them: the tiers, each point's runs together, the medians."""

import statistics

TIERS = ("web", "lb", "redis", "sentinel", "generator")
STACK = ("web", "lb", "redis", "sentinel")  # what serves a request; the generator only asks
TIER_NAMES = {
    "web": "web replicas",
    "lb": "nginx",
    "redis": "Redis",
    "sentinel": "sentinels",
    "generator": "generator",
    "host": "host",
}


def spread(values):
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def stack_cost(run):
    """A run's CPU per request in the tiers that serve it, together."""
    return sum(run["cpu_ms_per_request"].get(tier, 0.0) for tier in STACK)


def summarize(points):
    """The runs of each point together, in the order they were first measured."""
    groups = {}
    for p in points:
        if p["kind"] != "idle":
            groups.setdefault(p["name"], []).append(p)
    summary = []
    for name, runs in groups.items():
        first = runs[0]
        s = {"name": name, "kind": first["kind"], "replicas": first["replicas"], "runs": len(runs)}
        s["acknowledged"] = first.get("acknowledged", True)
        s["tls"] = first.get("tls", False)
        for figure in ("rps", "p50_ms", "p95_ms", "p99_ms", "generator_cpu"):
            s[figure] = spread(r[figure] for r in runs)
        s["errors"] = sum(r["errors"] for r in runs)
        s["verdicts"] = sorted({r["verdict"] for r in runs if "verdict" in r})
        tiers = [t for t in TIERS if t in first["cpu_ms_per_request"]]
        s["cpu_ms_per_request"] = {t: spread(r["cpu_ms_per_request"][t] for r in runs) for t in tiers}
        if first["kind"] != "lb":
            s["cpu_ms_per_request"]["stack"] = spread(stack_cost(r) for r in runs)
        paced = [r["paced"] for r in runs if "paced" in r]
        if paced:
            s["paced"] = {
                "rps": spread(p["rps"] for p in paced),
                "p50_ms": spread(p["p50_ms"] for p in paced),
                "p99_ms": spread(p["p99_ms"] for p in paced),
            }
        summary.append(s)
    return summary


def stack_points(summary):
    """The points via nginx, by replicas, and the one-replica point that every ratio is against."""
    stack = sorted((p for p in summary if p["kind"] == "stack"), key=lambda p: p["replicas"])
    one = next((p for p in stack if p["replicas"] == 1), None)
    if one is None:
        raise ValueError(
            "no one-replica point: every ratio is against one replica (BENCH_REPLICAS must list 1)"
        )
    return stack, one


def median(point, *path):
    value = point
    for key in path:
        value = value[key]
    return value["median"]
