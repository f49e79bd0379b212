"""`make bench`, the report: results.json, results.md and bench.png from the points of a run."""

import argparse
import json
import statistics
import sys
from pathlib import Path

GENERATOR = (
    "wrk, one thread per connection: written in C, it needs a small fraction of a core where a "
    "Python generator (locust) would need more CPU than the replicas it measures on this host"
)
TIERS = ("web", "lb", "redis", "generator")
STACK = ("web", "lb", "redis")  # what serves a request; the generator only asks
TARGETS = {  # name: (comparison, bound)
    "scaling_efficiency_at_max": (">=", 0.9),
    "lb_overhead": ("<=", 0.10),
    "speedup_over_tutorial": (">=", 4.0),
    "stack_cpu_ms_per_request": ("<=", 0.7),
    "redis_cpu_us_per_request": ("<=", 50.0),
    "idle_ms_per_s_worst": ("<=", 5.0),
    "probe_ms_worst": ("<=", 5.0),
    "p99_ms_at_80_percent": ("<", 25.0),
}
# At a fraction of a core the CPU quota's periods make the tail: p99 is a target only from 1 core.
P99_TARGET_FROM_CPUS = 1.0


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


def ratios(summary, settings, idle=None, probes=None):
    """Every ratio from the points' medians."""
    stack, one = stack_points(summary)
    top = stack[-1]
    rps = {p["replicas"]: median(p, "rps") for p in stack}
    out = {
        "scaling_efficiency": {str(n): r / (n * rps[1]) for n, r in rps.items()},
        "scaling_efficiency_at_max": rps[top["replicas"]] / (top["replicas"] * rps[1]),
        "stack_cpu_ms_per_request": median(top, "cpu_ms_per_request", "stack"),
        "redis_cpu_us_per_request": 1000 * median(top, "cpu_ms_per_request", "redis"),
        # nginx's share of what a request costs the stack: unlike throughput, it does not swing
        # with what else the host is doing.
        "lb_cpu_share": median(one, "cpu_ms_per_request", "lb") / median(one, "cpu_ms_per_request", "stack"),
    }
    if float(settings["web_cpus"]) >= P99_TARGET_FROM_CPUS:
        out["p99_ms_at_80_percent"] = max(median(p, "paced", "p99_ms") for p in stack if "paced" in p)
    by_kind = {p["kind"]: p for p in summary if p["kind"] != "stack"}
    # A baseline that served nothing has no ratio; its errors are in its row.
    if "direct" in by_kind and median(by_kind["direct"], "rps"):
        out["lb_overhead"] = 1 - rps[1] / median(by_kind["direct"], "rps")
    if "tutorial" in by_kind and median(by_kind["tutorial"], "rps"):
        out["speedup_over_tutorial"] = rps[1] / median(by_kind["tutorial"], "rps")
    if idle:
        out["idle_ms_per_s_worst"] = max(idle["idle_worst_ms_per_s"].values())
    if probes:
        out["probe_ms_worst"] = max(p["net_ms"] for p in probes.values())
    return out


def net_probes(probes, idle):
    """Each probe's cost less what its container spends anyway while the probes run."""
    for service, probe in probes.items():
        background = idle["idle_worst_ms_per_s"][service] * probe["seconds"] / probe["count"] if idle else 0.0
        probe["net_ms"] = max(probe["probe_ms"] - background, 0.0)
    return probes


def projection(summary, settings):
    """How many replicas each tier could serve before it fills its CPU: from the largest point's
    rate per replica and its CPU per request. The web tier grows with its replicas; the host's
    cores carry every tier and the generator."""
    stack, _ = stack_points(summary)
    top = stack[-1]
    per_replica = median(top, "rps") / top["replicas"]
    cost = {t: median(top, "cpu_ms_per_request", t) for t in TIERS}
    limits = {
        "lb": float(settings["lb_cpus"]),
        "redis": float(settings["redis_cpus"]),
        "host": float(settings["host_cpus"]),
    }
    needs = {"lb": cost["lb"], "redis": cost["redis"], "host": sum(cost.values())}
    replicas = {tier: limits[tier] * 1000 / (per_replica * needs[tier]) for tier in limits}
    first = min(replicas, key=replicas.get)
    return {"per_replica_rps": per_replica, "cores": limits, "replicas": replicas, "first_bottleneck": first}


def judged(values):
    verdicts = {}
    for name, (comparison, bound) in TARGETS.items():
        if name in values:
            value = values[name]
            met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[comparison]
            verdicts[name] = {"value": value, "target": f"{comparison} {bound}", "met": met}
    return verdicts


def ranged(figure, digits=0):
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


TIER_NAMES = {
    "web": "web replicas",
    "lb": "nginx",
    "redis": "Redis",
    "generator": "generator",
    "host": "host",
}


def markdown(summary, values, targets, settings, idle=None, probes=None, plan=None):
    lines = [
        "# Benchmark",
        "",
        f"Each web replica limited to {settings['web_cpus']} of a core; {settings['connections']} "
        f"connections; {settings['warmup']} s warm-up, {settings['duration']} s measured per run; "
        f"each point run {settings.get('repeat', 1)} times: the median, with the lowest and highest "
        "in brackets.",
        f"Generator: {GENERATOR}.",
        "",
        "| point | replicas | req/s | p50 ms | p99 ms | errors | exact | req/s at 80% | p99 ms at 80% |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for p in summary:
        paced = p.get("paced")
        lines.append(
            f"| {p['name']} | {p['replicas']} | {ranged(p['rps'])} | {p['p50_ms']['median']:.1f} | "
            f"{ranged(p['p99_ms'], 1)} | {p['errors']} | {', '.join(p['verdicts']) or 'n/a'} | "
            + (f"{paced['rps']['median']:.0f} | {ranged(paced['p99_ms'], 1)} |" if paced else "- | - |")
        )
    lines += [
        "",
        "CPU per request, ms, from each container's cgroup counter over the whole measured window:",
        "",
        "| point | web replicas | nginx | Redis | stack | generator |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in summary:
        cpu = p["cpu_ms_per_request"]
        cells = [ranged(cpu[t], 3) if t in cpu else "-" for t in ("web", "lb", "redis", "stack", "generator")]
        lines.append(f"| {p['name']} | " + " | ".join(cells) + " |")
    if idle:
        lines += ["", f"Idle, no traffic, over {idle['seconds']} s: CPU ms per second of each container:", ""]
        for tier, each in idle["idle_ms_per_s"].items():
            lines.append(f"- {TIER_NAMES[tier]}: " + ", ".join(f"{v:.1f}" for v in each))
    if probes:
        lines += ["", "| healthcheck of | ms of CPU per probe | of them Docker's exec | net of background |"]
        lines.append("|---|---:|---:|---:|")
        for service, probe in probes.items():
            lines.append(
                f"| {service} | {probe['probe_ms']:.1f} | {probe['exec_ms']:.1f} | {probe['net_ms']:.1f} |"
            )
    lines += ["", "| ratio | value | target | met |", "|---|---:|---|---|"]
    for replicas, efficiency in values["scaling_efficiency"].items():
        lines.append(f"| scaling efficiency at {replicas} | {efficiency:.2f} | | |")
    lines.append(f"| nginx's share of the stack's CPU per request | {values['lb_cpu_share']:.2f} | | |")
    for name, verdict in targets.items():
        lines.append(
            f"| {name.replace('_', ' ')} | {verdict['value']:.2f} | {verdict['target']} | "
            f"{'yes' if verdict['met'] else 'NO'} |"
        )
    if plan:
        lines += [
            "",
            f"Projection, at {plan['per_replica_rps']:.0f} requests/s per replica and the largest point's "
            "CPU per request: the replicas each tier could serve before it fills its cores.",
            "",
        ]
        for tier, n in sorted(plan["replicas"].items(), key=lambda kv: kv[1]):
            cores = plan["cores"][tier]
            lines.append(
                f"- {TIER_NAMES[tier]} ({cores:g} core{'s' if cores != 1 else ''}): {n:.1f} replicas"
            )
        lines += ["", f"First bottleneck as replicas are added: {TIER_NAMES[plan['first_bottleneck']]}."]
    return "\n".join(lines) + "\n"


def plot(report, summary):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stack, one = stack_points(summary)
    replicas = [p["replicas"] for p in stack]
    figure, (throughput, cost) = plt.subplots(1, 2, figsize=(13, 5))
    throughput.plot(replicas, [median(p, "rps") for p in stack], "o-", label="measured via nginx (median)")
    throughput.plot(
        replicas, [n * median(one, "rps") for n in replicas], "--", color="grey", label="ideal linear"
    )
    for p in summary:
        if p["kind"] in ("direct", "tutorial"):
            throughput.scatter([1], [median(p, "rps")], marker="x", label=p["name"])
    throughput.set(xlabel="web replicas", ylabel="requests per second", xticks=replicas)
    latency = throughput.twinx()
    latency.plot(
        replicas, [median(p, "p99_ms") for p in stack], "s:", color="tab:red", label="p99 at max (ms)"
    )
    latency.plot(
        replicas,
        [median(p, "paced", "p99_ms") for p in stack],
        "^:",
        color="tab:orange",
        label="p99 at 80% (ms)",
    )
    latency.set_ylabel("p99 latency, ms")
    handles = throughput.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
    throughput.legend(handles=handles, loc="upper left", fontsize="small")
    throughput.set_title("Throughput against replicas")

    shown = [p for p in summary if p["kind"] != "lb"]
    names = [p["name"] for p in shown]
    bottom = [0.0] * len(shown)
    for tier in TIERS:
        heights = [
            p["cpu_ms_per_request"][tier]["median"] if tier in p["cpu_ms_per_request"] else 0 for p in shown
        ]
        cost.bar(names, heights, bottom=bottom, label=TIER_NAMES[tier])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    cost.set(ylabel="ms of CPU per request (median)", title="Where a request's CPU goes")
    cost.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(report / "bench.png", dpi=100)
    plt.close(figure)


def write(folder):
    points = [json.loads(line) for line in (folder / "points.jsonl").read_text().splitlines()]
    settings = json.loads((folder / "settings.json").read_text())
    idle = next((p for p in points if p["kind"] == "idle"), None)
    probes_file = folder / "probes.json"
    probes = net_probes(json.loads(probes_file.read_text()), idle) if probes_file.exists() else None
    summary = summarize(points)
    values = ratios(summary, settings, idle, probes)
    targets = judged(values)
    plan = projection(summary, settings)
    results = {"settings": settings, "generator": GENERATOR, "points": points, "summary": summary}
    results.update(idle=idle, probes=probes, ratios=values, targets=targets, projection=plan)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "results.md").write_text(markdown(summary, values, targets, settings, idle, probes, plan))
    plot(folder, summary)
    print((folder / "results.md").read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="the run's folder, with points.jsonl and settings.json")
    args = parser.parse_args(argv)
    try:
        write(Path(args.report))
    except (OSError, ValueError, KeyError) as error:
        print(f"bench: cannot write the report of {args.report}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
