"""web/counter/usage.py: a replica's CPU and its limit, read from its cgroup (v1 and v2)."""

from prometheus_client import CollectorRegistry, generate_latest

from counter import usage


def cgroup(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


def test_cgroup_v1_usage_and_limit(tmp_path):
    root = cgroup(
        tmp_path,
        {
            "cpuacct/cpuacct.usage": "2500000000\n",
            "cpu/cpu.cfs_quota_us": "25000\n",
            "cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert usage.cpu_seconds(root) == 2.5 and usage.cpu_limit(root) == 0.25


def test_cgroup_v2_usage_and_limit(tmp_path):
    root = cgroup(
        tmp_path, {"cpu.stat": "usage_usec 1500000\nuser_usec 1000000\n", "cpu.max": "50000 100000\n"}
    )
    assert usage.cpu_seconds(root) == 1.5 and usage.cpu_limit(root) == 0.5


def test_no_limit_is_the_machines_cpus(tmp_path, monkeypatch):
    monkeypatch.setattr(usage.os, "cpu_count", lambda: 2)
    assert usage.cpu_limit(cgroup(tmp_path, {"cpu.max": "max 100000\n"})) == 2.0
    assert (
        usage.cpu_limit(
            cgroup(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
        )
        == 2.0
    )


def test_the_collector_exports_them_and_nothing_without_a_cgroup(tmp_path):
    registry = CollectorRegistry()
    registry.register(
        usage.Collector(cgroup(tmp_path, {"cpu.stat": "usage_usec 3000000\n", "cpu.max": "25000 100000\n"}))
    )
    text = generate_latest(registry).decode()
    assert "counter_cpu_seconds_total 3.0" in text and "counter_cpu_limit_cores 0.25" in text
    assert (
        f"counter_started_time_seconds {usage.STARTED}" in text or "counter_started_time_seconds 1." in text
    )
    empty = CollectorRegistry()
    empty.register(usage.Collector(str(tmp_path / "none")))
    assert generate_latest(empty) == b""
