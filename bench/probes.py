"""`make bench`, on the host: what one healthcheck probe of each service costs in CPU, from the
container's cgroup counter around --count runs of its own healthcheck command through
`docker exec` (as Docker runs a probe), and around as many runs of `true` (Docker's exec alone).
Writes JSON: {service: {"probe_ms": ..., "exec_ms": ..., "seconds": ...}}.
"""

import argparse
import json
import subprocess
import sys
import time

import cpu


def healthcheck(container):
    """The container's healthcheck as a command to exec."""
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", container],
        capture_output=True,
        text=True,
        check=True,
    )
    test = json.loads(inspected.stdout)
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        raise ValueError(f"container {container[:12]} has no healthcheck command ({test})")
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def cost(container, command, count):
    """(ms of the container's CPU per run, the seconds the runs took)."""
    before, started = cpu.usage_ns(container), time.monotonic()
    for _ in range(count):
        subprocess.run(["docker", "exec", container, *command], capture_output=True, check=True)
    return (cpu.usage_ns(container) - before) / 1e6 / count, time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", action="append", default=[], help="SERVICE=CONTAINER_ID, one each")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    results = {}
    try:
        for service, (container,) in cpu.parse_tiers(args.tier).items():
            probe_ms, seconds = cost(container, healthcheck(container), args.count)
            exec_ms, _ = cost(container, ["true"], args.count)
            results[service] = {
                "probe_ms": probe_ms,
                "exec_ms": exec_ms,
                "seconds": seconds,
                "count": args.count,
            }
            print(f"probe of {service:<6} {probe_ms:5.1f} ms of CPU ({exec_ms:.1f} of them Docker's exec)")
    except (OSError, ValueError, subprocess.CalledProcessError, cpu.Unreadable) as error:
        print(f"bench: measuring the healthchecks failed: {error}", file=sys.stderr)
        return 1
    with open(args.out, "w") as out:
        json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
