"""Commands for operators: `flask --app counter stats` (what `make stats` runs in a replica)."""

import click
from flask.cli import with_appcontext

from .store import get_store


def table(stats):
    """The count and each replica's share of it, largest first."""
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


@click.command("stats")
@with_appcontext
def stats_command():
    """Show the count and each replica's share."""
    click.echo(table(get_store().stats()))


def init_app(app):
    app.cli.add_command(stats_command)
