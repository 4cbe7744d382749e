"""The view of ``linkguard lag``: consumer-group lag and Burrow's status as a rich table.

The figures come from :mod:`streams.lag` (see there for how end offsets, lag
in seconds and the statuses are worked out). Offsets, counts and topic names
only: no record content is read except each lagging partition's oldest
message *timestamp*.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

STYLE = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "bold red", "REWIND": "magenta"}


def render(report) -> Group:
    """Rich tables: one per group, partitions sorted by topic and partition."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(report.time, dt.timezone.utc).strftime("%H:%M:%S UTC")
    parts: list = [Text(f"{when} · window {report.window_seconds:.1f} s · end offsets: {report.end_offsets}",
                        style="dim")]
    for g in report.groups:
        status = g.status.value
        title = Text.assemble((g.group, "bold"), "  ", (status, STYLE[status]),
                              f"  lag {g.lag:,}" + (f" · oldest {_seconds(g.lag_seconds)}" if g.lag else ""))
        if not g.found:
            parts.append(Text.assemble(title, ("  (no such group on the cluster)", "dim")))
            continue
        if not g.partitions:
            parts.append(Text.assemble(title, ("  (no committed offsets)", "dim")))
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("topic", overflow="fold", ratio=1)
        for column in ("part", "committed", "end", "lag", "age", "rate/s"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        for p in g.partitions:
            table.add_row(p.topic, str(p.partition), "-" if p.committed is None else f"{p.committed:,}",
                          f"{p.end:,}", f"{p.lag:,}", _seconds(p.lag_seconds),
                          "-" if p.rate is None else f"{p.rate:,.1f}",
                          Text(p.status.value, style=STYLE[p.status.value]))
        parts.append(table)
    return Group(*parts)


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"
