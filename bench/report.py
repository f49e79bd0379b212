"""`make bench`, the report: results.json, results.md and bench.png from the points of a run."""

import argparse
import csv
import json
import sys
from pathlib import Path

GENERATOR = (
    "wrk, one thread per connection: written in C, it needs a small fraction of a core where a "
    "Python generator (locust) would need more CPU than the replicas it measures on this host"
)
TARGETS = {  # name: (comparison, bound)
    "scaling_efficiency_at_max": (">=", 0.9),
    "lb_overhead": ("<=", 0.10),
    "speedup_over_tutorial": (">=", 4.0),
    "p99_ms_at_80_percent": ("<", 50.0),
}


def stack_points(points):
    """The points via nginx, by replicas, and the one-replica point that every ratio is against."""
    stack = sorted((p for p in points if p["kind"] == "stack"), key=lambda p: p["replicas"])
    one = next((p for p in stack if p["replicas"] == 1), None)
    if one is None:
        raise ValueError(
            "no one-replica point: every ratio is against one replica (BENCH_REPLICAS must list 1)"
        )
    return stack, one


def ratios(points):
    stack, one = stack_points(points)
    by_kind = {p["kind"]: p for p in points if p["kind"] != "stack"}
    out = {
        "scaling_efficiency": {str(p["replicas"]): p["rps"] / (p["replicas"] * one["rps"]) for p in stack},
        "scaling_efficiency_at_max": stack[-1]["rps"] / (stack[-1]["replicas"] * one["rps"]),
        "p99_ms_at_80_percent": max(p["paced"]["p99_ms"] for p in stack if "paced" in p),
    }
    # A baseline that served nothing has no ratio; its errors are in its row.
    if by_kind.get("direct", {}).get("rps"):
        out["lb_overhead"] = 1 - one["rps"] / by_kind["direct"]["rps"]
    if by_kind.get("tutorial", {}).get("rps"):
        out["speedup_over_tutorial"] = one["rps"] / by_kind["tutorial"]["rps"]
    return out


def judged(values):
    verdicts = {}
    for name, (comparison, bound) in TARGETS.items():
        if name in values:
            value = values[name]
            met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[comparison]
            verdicts[name] = {"value": value, "target": f"{comparison} {bound}", "met": met}
    return verdicts


def cpu_by_container(report):
    """{point name: {container: CPU %}} from the samples taken while each point ran."""
    samples = {}
    for path in sorted(report.glob("cpu-*.tsv")):
        with open(path, newline="") as rows:
            usage = {name: float(cpu.rstrip("%")) for name, cpu in csv.reader(rows, delimiter="\t")}
        samples[path.stem.removeprefix("cpu-")] = usage
    return samples


def markdown(points, values, targets, cpu, settings):
    lines = [
        "# Benchmark",
        "",
        f"Each web replica limited to {settings['web_cpus']} of a core; "
        f"{settings['connections']} connections; "
        f"{settings['warmup']} s warm-up, {settings['duration']} s measured per point.",
        f"Generator: {GENERATOR}.",
        "",
        "| point | replicas | req/s | p50 ms | p95 ms | p99 ms | errors | generator CPU | exact | "
        "req/s at 80% | p99 ms at 80% |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for p in points:
        paced = p.get("paced")
        lines.append(
            f"| {p['name']} | {p['replicas']} | {p['rps']:.0f} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | "
            f"{p['p99_ms']:.1f} | {p['errors']} | {p['generator_cpu']:.0%} | {p.get('verdict', 'n/a')} | "
            + (f"{paced['rps']:.0f} | {paced['p99_ms']:.1f} |" if paced else "- | - |")
        )
    lines += ["", "| ratio | value | target | met |", "|---|---:|---|---|"]
    for replicas, efficiency in values["scaling_efficiency"].items():
        lines.append(f"| scaling efficiency at {replicas} | {efficiency:.2f} | | |")
    for name, verdict in targets.items():
        lines.append(
            f"| {name.replace('_', ' ')} | {verdict['value']:.2f} | {verdict['target']} | "
            f"{'yes' if verdict['met'] else 'NO'} |"
        )
    if cpu:
        lines += ["", "CPU by container while each point ran (% of one core, one sample mid-run):", ""]
        for name, usage in cpu.items():
            busiest = ", ".join(f"{c} {v:.0f}%" for c, v in sorted(usage.items(), key=lambda kv: -kv[1])[:6])
            lines.append(f"- {name}: {busiest}")
    return "\n".join(lines) + "\n"


def plot(report, points):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stack, one = stack_points(points)
    replicas = [p["replicas"] for p in stack]
    figure, throughput = plt.subplots(figsize=(8, 5))
    throughput.plot(replicas, [p["rps"] for p in stack], "o-", label="measured via nginx")
    throughput.plot(replicas, [n * one["rps"] for n in replicas], "--", color="grey", label="ideal linear")
    for p in points:
        if p["kind"] in ("direct", "tutorial"):
            throughput.scatter([1], [p["rps"]], marker="x", label=p["name"])
    throughput.set(xlabel="web replicas", ylabel="requests per second", xticks=replicas)
    latency = throughput.twinx()
    latency.plot(replicas, [p["p99_ms"] for p in stack], "s:", color="tab:red", label="p99 at max (ms)")
    latency.plot(
        replicas, [p["paced"]["p99_ms"] for p in stack], "^:", color="tab:orange", label="p99 at 80% (ms)"
    )
    latency.set_ylabel("p99 latency, ms")
    handles = throughput.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
    throughput.legend(handles=handles, loc="upper left", fontsize="small")
    throughput.set_title("Throughput against replicas")
    figure.tight_layout()
    figure.savefig(report / "bench.png", dpi=100)
    plt.close(figure)


def write(folder):
    points = [json.loads(line) for line in (folder / "points.jsonl").read_text().splitlines()]
    settings = json.loads((folder / "settings.json").read_text())
    values = ratios(points)
    targets = judged(values)
    cpu = cpu_by_container(folder)
    results = {"settings": settings, "generator": GENERATOR, "points": points, "ratios": values}
    results.update(targets=targets, cpu_by_container=cpu)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "results.md").write_text(markdown(points, values, targets, cpu, settings))
    plot(folder, points)
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
