"""A test's picture: requests per second and p99 over time; users and the replicas serving over
time (an autoscaled stack's replicas follow the load); each replica's share as bars."""

import matplotlib

from exactness import per_second

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(folder, summary):
    figure, (rate_axis, users_axis, share_axis) = plt.subplots(1, 3, figsize=(16, 4.5))
    seconds, rates = per_second(summary["rates"])
    rate_axis.plot(seconds, rates, color="tab:blue")
    rate_axis.set(title="Requests per second (that count)", xlabel="seconds", ylabel="requests/s")
    rate_axis.grid(alpha=0.3)
    samples = summary.get("users") or [(0, 0, 0, 0)]
    times, users, serving, p99 = zip(*samples, strict=True)
    latency_axis = rate_axis.twinx()
    latency_axis.plot(times, p99, color="tab:red", alpha=0.6, label="p99 (last 10 s)")
    latency_axis.set(ylabel="p99, ms", ylim=(0, max(p99) * 1.1 + 1))
    latency_axis.legend(loc="upper right")
    users_axis.plot(times, users, color="tab:orange", label="users")
    users_axis.set(title="Users and replicas serving", xlabel="seconds", ylabel="users")
    users_axis.grid(alpha=0.3)
    replicas_axis = users_axis.twinx()
    replicas_axis.step(times, serving, where="post", color="tab:green", label="replicas serving")
    replicas_axis.set(ylabel="replicas", ylim=(0, max(serving) + 1))
    users_axis.legend(handles=users_axis.lines + replicas_axis.lines, loc="upper left")
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
