"""`make bench`, one point: warm up, then run wrk with one thread per connection for --duration;
record requests per second and latency, the counter's delta against the 200s (the exactness
verdict) and the generator's own CPU use; with --paced, measure again at that fraction of the
throughput. Each point is appended to --out as one line of JSON.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url, connections, seconds, rate=0.0):
    """One wrk run through point.lua: its figures, plus the generator's CPU in cores."""
    per_connection = rate / connections if rate else 0
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds + 3}s"]
    command += [
        "--timeout",
        "2s",
        "-s",
        str(HERE / "point.lua"),
        url,
        "--",
        str(seconds),
        str(per_connection),
    ]
    used = cpu_seconds()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("POINT "))
    figures = json.loads(line.removeprefix("POINT "))
    figures["rps"] = figures["ok"] / seconds
    figures["errors"] = figures["not_ok"] + figures["socket_errors"]
    figures["generator_cpu"] = (cpu_seconds() - used) / seconds
    return figures


def read_count(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["count"]


def point(args):
    if args.warmup:
        wrk(args.url, args.connections, args.warmup)
    before = read_count(args.count_url) if args.count_url else None
    result = {"name": args.name, "kind": args.kind, "replicas": args.replicas}
    result.update(
        connections=args.connections, seconds=args.duration, **wrk(args.url, args.connections, args.duration)
    )
    served = result["ok"]
    if args.paced:
        paced = wrk(args.url, args.connections, args.duration, rate=args.paced * result["rps"])
        result["paced"] = {"fraction": args.paced, "target_rps": args.paced * result["rps"], **paced}
        served += paced["ok"]
    if before is not None:
        time.sleep(0.5)
        result["counted"] = read_count(args.count_url) - before
        result["verdict"] = "EXACT" if result["counted"] == served else "MISMATCH"
    with open(args.out, "a") as out:
        out.write(json.dumps(result) + "\n")
    line = f"{args.name:<12} {result['rps']:8.0f} req/s  p99 {result['p99_ms']:7.1f} ms"
    line += f"  errors {result['errors']}  generator {result['generator_cpu']:.0%} of a core"
    if "paced" in result:
        paced = result["paced"]
        line += f"  | at {args.paced:.0%}: {paced['rps']:.0f} req/s, p99 {paced['p99_ms']:.1f} ms"
    print(line + (f"  {result['verdict']}" if "verdict" in result else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--kind", required=True, choices=["stack", "direct", "lb", "tutorial"])
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count-url", default="")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--paced", type=float, default=0.0, help="measure again at this fraction of the rate")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        point(args)
    except (OSError, subprocess.CalledProcessError, StopIteration, ValueError) as error:
        print(f"bench: the point {args.name!r} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
