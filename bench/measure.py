"""`make bench`, one point: warm up, then run wrk with one thread per connection for --duration;
record requests per second and latency, the counter's delta against the 200s (the exactness
verdict) and each tier's CPU per request from its containers' cgroup counters over the measured
window; with --paced, measure again at that fraction of the throughput, or with --paced-rps at that
rate (two points compared at the same rate). With --kind idle, no load: each container's CPU per
second over --duration. Each point is appended to --out as one line of JSON.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cpu
import exactness

HERE = Path(__file__).resolve().parent


def wrk(url, connections, seconds, tiers, rate=0.0):
    """One wrk run through point.lua: its figures, and each tier's CPU over the run."""
    per_connection = rate / connections if rate else 0
    with tempfile.NamedTemporaryFile() as stopped:
        command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds + 3}s"]
        command += ["--timeout", "2s", "-s", str(HERE / "point.lua"), url, "--"]
        command += [str(seconds), str(per_connection), stopped.name]
        before, started = tiers.read(), time.monotonic()
        output = ended_early(command, stopped.name, connections)
        after, wall = tiers.read(), time.monotonic() - started
    line = next(line for line in output.splitlines() if line.startswith("POINT "))
    figures = json.loads(line.removeprefix("POINT "))
    figures["rps"] = figures["ok"] / seconds
    figures["errors"] = figures["not_ok"] + figures["socket_errors"]
    used = tiers.seconds(before, after)
    answered = max(figures["ok"] + figures["not_ok"], 1)
    figures["cpu_ms_per_request"] = {tier: 1000 * s / answered for tier, s in used.items()}
    figures["cpu_cores"] = {tier: s / wall for tier, s in used.items()}
    figures["generator_cpu"] = figures["cpu_cores"]["generator"]
    return figures


def ended_early(command, stopped, connections):
    """wrk's output, once every connection has stopped (each adds a byte to the file `stopped`):
    wrk ends at an interrupt as it does at the end of -d, with its figures, and would otherwise
    wait out its -d, which leaves a connection's last answer up to its 2 s timeout."""
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while wrk.poll() is None and os.path.getsize(stopped) < connections:
        time.sleep(0.02)
    if wrk.poll() is None:
        wrk.send_signal(signal.SIGINT)
    output, errors = wrk.communicate()
    if wrk.returncode != 0:
        raise subprocess.CalledProcessError(wrk.returncode, command, output, errors)
    return output


def read_count(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["count"]


def loaded(args, tiers):
    if args.warmup:
        wrk(args.url, args.connections, args.warmup, tiers)
    before = read_count(args.count_url) if args.count_url else None
    result = {"connections": args.connections, "seconds": args.duration}
    result.update(wrk(args.url, args.connections, args.duration, tiers))
    served, failed = result["ok"], result["errors"]
    rate = args.paced_rps or args.paced * result["rps"]
    if rate:
        paced = wrk(args.url, args.connections, args.duration, tiers, rate=rate)
        result["paced"] = {"fraction": rate / max(result["rps"], 1.0), "target_rps": rate, **paced}
        served += paced["ok"]
        failed += paced["not_ok"] + paced["socket_errors"]
    if before is not None:
        time.sleep(0.5)
        result["counted"] = read_count(args.count_url) - before
        result["verdict"], result["reason"] = exactness.verdict(served, failed, result["counted"])
    line = f"{args.name:<12} {result['rps']:8.0f} req/s  p99 {result['p99_ms']:7.1f} ms"
    line += f"  errors {result['errors']}  CPU ms/request "
    line += ", ".join(f"{t} {ms:.3f}" for t, ms in result["cpu_ms_per_request"].items())
    if "paced" in result:
        paced = result["paced"]
        line += f"  | paced at {paced['target_rps']:.0f}: {paced['rps']:.0f} req/s"
        line += f", p99 {paced['p99_ms']:.1f} ms"
    print(line + (f"  {result['verdict']}" if "verdict" in result else ""))
    return result


def idle(args, tiers):
    before = tiers.read()
    time.sleep(args.duration)
    per_container = tiers.per_container(before, tiers.read(), args.duration)
    worst = {tier: max(values) for tier, values in per_container.items()}
    print(
        f"{args.name:<12} CPU ms per second, each container: "
        + ", ".join(
            f"{tier} {' '.join(f'{v:.1f}' for v in values)}" for tier, values in per_container.items()
        )
    )
    return {"seconds": args.duration, "idle_ms_per_s": per_container, "idle_worst_ms_per_s": worst}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument(
        "--kind", required=True, choices=["stack", "sentinel", "direct", "smallest", "lb", "tutorial", "idle"]
    )
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="which repetition of the point this is")
    parser.add_argument("--tier", action="append", default=[], help="NAME=CONTAINER_ID, once per container")
    parser.add_argument("--url", default="")
    parser.add_argument("--count-url", default="")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--paced", type=float, default=0.0, help="measure again at this fraction of the rate")
    parser.add_argument(
        "--paced-rps", type=float, default=0.0, help="measure again at this many requests a second"
    )
    parser.add_argument(
        "--unacknowledged", action="store_true", help="the web tier runs with REDIS_ACK_REPLICAS=0 (Sentinel)"
    )
    parser.add_argument("--tls", action="store_true", help="Redis's traffic is over TLS (REDIS_TLS=on)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        tiers = cpu.parse_tiers(args.tier)
        result = {"name": args.name, "kind": args.kind, "replicas": args.replicas, "repeat": args.repeat}
        result.update(acknowledged=not args.unacknowledged, tls=args.tls)
        if args.kind == "idle":
            result.update(idle(args, cpu.Tiers(tiers)))
        else:  # the generator is this container: wrk runs in it
            result.update(loaded(args, cpu.Tiers({**tiers, "generator": [cpu.own_container()]})))
    except (OSError, subprocess.CalledProcessError, StopIteration, ValueError, cpu.Unreadable) as error:
        print(f"bench: the point {args.name!r} failed: {error}", file=sys.stderr)
        return 1
    with open(args.out, "a") as out:
        out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
