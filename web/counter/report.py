"""`make stats`: the count and each replica's share of it, as a table."""

from . import settings_from_env
from .store import CounterStore, connect


def table(stats):
    total = stats["total"]
    rows = [("replica", "requests", "share")]
    for name, n in sorted(stats["replicas"].items(), key=lambda item: (-item[1], item[0])):
        rows.append((name, str(n), f"{100 * n / total:.1f}%" if total else "-"))
    rows.append(("total", str(total), "100.0%" if total else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(-1, "-" * len(lines[0]))
    return "\n".join(lines)


def main():
    config = settings_from_env()
    print(table(CounterStore(connect(config), config["IDEMPOTENCY_WINDOW"]).stats()))


if __name__ == "__main__":
    main()
