"""The run's picture: requests per second over time, and each replica's share as bars."""

import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def history(report):
    """(seconds since start, requests per second) from locust's aggregated history."""
    times, rates = [], []
    with open(report / "locust_stats_history.csv", newline="") as rows:
        for row in csv.DictReader(rows):
            if row["Name"] == "Aggregated":
                times.append(int(row["Timestamp"]))
                rates.append(float(row["Requests/s"]))
    start = times[0] if times else 0
    return [t - start for t in times], rates


def plot(report, summary):
    figure, (rate_axis, share_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    seconds, rates = history(report)
    rate_axis.plot(seconds, rates, color="tab:blue")
    rate_axis.set(title="Requests per second", xlabel="seconds", ylabel="requests/s")
    rate_axis.grid(alpha=0.3)
    names = [row["replica"] for row in summary["replicas"]]
    counts = [row["requests"] for row in summary["replicas"]]
    share_axis.bar(names, counts, color="tab:green")
    share_axis.set(title="Requests per replica", ylabel="requests")
    share_axis.tick_params(axis="x", rotation=30)
    figure.suptitle(
        f"{summary['verdict']}: {summary['counter_delta']} counted, {summary['succeeded']} succeeded"
    )
    figure.tight_layout()
    figure.savefig(report / "summary.png", dpi=100)
    plt.close(figure)
