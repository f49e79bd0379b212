"""A test's picture: requests per second over time, and each replica's share as bars."""

import matplotlib

from exactness import per_second

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(folder, summary):
    figure, (rate_axis, share_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    seconds, rates = per_second(summary["rates"])
    rate_axis.plot(seconds, rates, color="tab:blue")
    rate_axis.set(title="Requests per second (that count)", xlabel="seconds", ylabel="requests/s")
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
    figure.savefig(folder / "summary.png", dpi=100)
    plt.close(figure)
