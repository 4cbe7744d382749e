"""``linkguard lag``: consumer-group lag and Burrow's status, as a table or as JSON.

The figures come from :mod:`streams.lag` (see there for how end offsets, lag
in seconds and the statuses are worked out). Offsets, counts and topic names
only: no record content is read except each lagging partition's oldest
message *timestamp*.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Optional

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

STYLE = {"OK": "green", "WARN": "yellow", "STALL": "red", "STOP": "bold red", "REWIND": "magenta"}


def lag(
    group: Annotated[Optional[list[str]], typer.Option(metavar="GROUP",
        help="consumer group (repeatable); default: the guard's <app_id> and the sink's <app_id>-sink")] = None,
    watch: Annotated[bool, typer.Option(help="refresh every --interval seconds, evaluating a sliding --window")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between samples")] = 2.0,
    samples: Annotated[int, typer.Option(min=1, help="samples a single run takes (its window is (samples-1) x interval)")] = 3,
    window: Annotated[float, typer.Option(min=1, help="sliding window of --watch, in seconds")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (one object per refresh with --watch)")] = False,
) -> None:
    """Lag per consumer group, topic and partition, with Burrow's status (OK, WARN, STALL, STOP, REWIND).

    Committed offset, end offset, lag in records, lag in seconds (age of the
    oldest unconsumed message, "age") and the commit rate over the window. A single
    run takes --samples samples --interval seconds apart; --watch keeps a
    sliding --window and refreshes. Exit status 0 when every group is OK, 1 when
    any partition is WARN or worse, 2 when no cluster is configured.
    """
    from streams.lag import LagMonitor, LagReader, Status, deployment_groups, read_lag
    from streams.settings import KafkaSettings

    console = Console()
    settings = KafkaSettings()
    if not settings.kafka_bootstrap:
        Console(stderr=True).print(
            "[red]No Kafka cluster configured.[/] Set LINKGUARD_KAFKA_BOOTSTRAP=host:port "
            "(and LINKGUARD_LOCAL_MODE=1 for the local broker), or start one with `linkguard broker`.")
        raise typer.Exit(2)
    groups = list(group) if group else deployment_groups(settings)

    if not watch:
        report = read_lag(settings, groups, samples=samples, interval=interval)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        else:
            console.print(render(report))
        worst = max((g.status for g in report.groups), key=lambda s: s.severity, default=Status.OK)
        raise typer.Exit(0 if worst is Status.OK else 1)

    from kafka.errors import KafkaError

    with LagReader(settings) as reader:
        monitor = LagMonitor(reader, groups, window=window)

        def refresh():
            """The next view; a failed read (broker away) is shown and the watch goes on."""
            try:
                monitor.sample()
                report = monitor.report()
            except KafkaError as e:
                message = f"{type(e).__name__}: {e}"
                return ({"error": message} if as_json
                        else Text(f"could not read offsets ({message}); retrying", style="red"))
            return report.to_dict() if as_json else render(report)

        try:
            if as_json or not console.is_terminal:  # scripts and pipes: one view per refresh
                while True:
                    view = refresh()
                    if as_json:
                        typer.echo(json.dumps(view, ensure_ascii=False))
                    else:
                        console.print(view)
                    time.sleep(interval)
            from rich.live import Live

            with Live(refresh(), console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(refresh(), refresh=True)
        except KeyboardInterrupt:
            pass


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
