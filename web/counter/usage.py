"""How busy the replica is, as its container's kernel counts it: the CPU its cgroup has used, its
CPU limit (WEB_CPUS), and when it started. Read at each scrape of /metrics; the autoscaler's
signal is rate(counter_cpu_seconds_total) / counter_cpu_limit_cores, for the replicas started
long enough ago (control/autoscaler.py).

The cgroup is the container's, whichever worker reads it, so every worker gives the same figures.
cgroup v1 (cpuacct.usage in ns, cpu.cfs_quota_us over cpu.cfs_period_us) and v2 (cpu.stat's
usage_usec, cpu.max); no limit is the machine's CPUs."""

import os
import time
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

STARTED = time.time()  # gunicorn's master imports this before it forks its workers


def read(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_seconds(root):
    """CPU seconds the cgroup at ROOT has used, or None."""
    v1 = read(f"{root}/cpuacct/cpuacct.usage")
    if v1 is not None:
        return int(v1) / 1e9
    for line in (read(f"{root}/cpu.stat") or "").splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    return None


def cpu_limit(root):
    """The CPUs the cgroup at ROOT may use."""
    quota, period = read(f"{root}/cpu/cpu.cfs_quota_us"), read(f"{root}/cpu/cpu.cfs_period_us")
    if quota is None:
        quota, _, period = (read(f"{root}/cpu.max") or "max 100000").partition(" ")
    if quota in ("max", "-1") or not period:
        return float(os.cpu_count() or 1)
    return int(quota) / int(period)


class Collector:
    def __init__(self, root="/sys/fs/cgroup"):
        self.root = root

    def collect(self):
        used = cpu_seconds(self.root)
        if used is None:
            return
        yield CounterMetricFamily(
            "counter_cpu_seconds", "CPU time the replica's container has used.", value=used
        )
        yield GaugeMetricFamily(
            "counter_cpu_limit_cores", "CPUs the replica may use (WEB_CPUS).", value=cpu_limit(self.root)
        )
        yield GaugeMetricFamily(
            "counter_started_time_seconds", "When the replica started (Unix time).", value=STARTED
        )
