"""`make bench`, its picture (bench.png): throughput and tail latency against replicas, and where
each point's CPU per request goes, tier by tier."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from points import TIER_NAMES, TIERS, median, stack_points  # noqa: E402


def draw(report, summary):
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
    cost.tick_params(axis="x", labelrotation=30)
    cost.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(report / "bench.png", dpi=100)
    plt.close(figure)
