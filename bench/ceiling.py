"""`make bench`, the ceiling of one Redis primary: redis-benchmark runs the counter's own step
(EVALSHA of the script store.py holds, each with a new idempotency key) at each concurrency,
with `appendfsync always`, over TLS when REDIS_TLS=on (with the admin's certificate); Redis's
CPU per step comes from its container's cgroup counter.
A Redis fsyncs once per turn of its event loop, for every write of that turn, so more clients
waiting at once share each fsync. Each concurrency is appended to --out as one line of JSON.
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cpu

STEPS_PER_CLIENT = 1500  # each concurrency runs a few seconds at most: fewer steps alone
STEPS_AT_MOST = 60000
TLS = [
    "--tls",
    "--cacert",
    "/run/secrets/redis_tls_ca",
    "--cert",
    "/run/secrets/redis_tls",
    "--key",
    "/run/secrets/redis_tls",
]


def benchmark(host, password, sha, clients, tls):
    """redis-benchmark's figures for `clients` running the step at once, and the seconds it took."""
    steps = min(STEPS_AT_MOST, max(4000, STEPS_PER_CLIENT * clients))
    keys = ["counter:total", "counter:replicas", "counter:seen:ceiling-__rand_int__"]
    command = [
        "redis-benchmark",
        "-h",
        host,
        "--user",
        "admin",
        "-a",
        password,
        "--csv",
        *(TLS if tls else []),
    ]
    command += ["-n", str(steps), "-c", str(clients), "-r", "1000000000000"]
    command += ["EVALSHA", sha, str(len(keys)), *keys, "ceiling", "60"]
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - started
    (row,) = list(csv.DictReader(io.StringIO(output)))
    return {
        "steps": steps,
        "rps": float(row["rps"]),
        "p50_ms": float(row["p50_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
    }, wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="redis")
    parser.add_argument("--sha", required=True, help="the step's script, loaded with SCRIPT LOAD")
    parser.add_argument("--concurrency", type=int, nargs="+", required=True)
    parser.add_argument("--tier", action="append", default=[], help="redis=CONTAINER_ID")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        password = Path("/run/secrets/redis_admin_password").read_text().strip()
        tls = os.environ.get("REDIS_TLS") == "on"
        tiers = cpu.Tiers(cpu.parse_tiers(args.tier))
        rows = []
        for clients in args.concurrency:
            before = tiers.read()
            figures, wall = benchmark(args.host, password, args.sha, clients, tls)
            used = tiers.seconds(before, tiers.read())["redis"]
            figures.update(concurrency=clients, redis_cpu_us_per_step=1e6 * used / figures["steps"], tls=tls)
            figures["redis_cores"] = used / wall
            print(
                f"ceiling{' tls' if tls else ''}  {clients:>3} clients: {figures['rps']:8.0f} steps/s  "
                f"p99 {figures['p99_ms']:6.2f} ms  Redis {figures['redis_cpu_us_per_step']:5.1f} us per step"
            )
            rows.append(figures)
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError, cpu.Unreadable) as error:
        detail = getattr(error, "stderr", "") or ""
        print(f"bench: the ceiling failed: {error} {detail.strip()}".strip(), file=sys.stderr)
        return 1
    with open(args.out, "a") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
