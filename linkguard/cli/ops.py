"""Operators' commands: ``linkguard lag``, ``linkguard metrics`` (Prometheus exporter) and ``linkguard reconcile`` (点検B).

Thin typer layers; the work is in :mod:`linkguard.ops.lagview`, :mod:`linkguard.ops.metrics` and
:mod:`linkguard.ops.reconcile`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.console import Console


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
    from linkguard.ops.lagview import render
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



def metrics(
    port: Annotated[Optional[int], typer.Option(
        help="port of /metrics (default: LINKGUARD_METRICS_PORT, else 9464)")] = None,
    addr: Annotated[Optional[str], typer.Option(help="address to bind (default: LINKGUARD_METRICS_ADDR, 127.0.0.1)")] = None,
    group: Annotated[Optional[list[str]], typer.Option(metavar="GROUP",
        help="consumer group to watch (repeatable); default: the guard's and the sink's")] = None,
    lag: Annotated[bool, typer.Option(help="export consumer lag (needs LINKGUARD_KAFKA_BOOTSTRAP)")] = True,
    database: Annotated[bool, typer.Option(help="export the totals of the sink database")] = True,
) -> None:
    """Prometheus exporter: consumer lag (per group, topic, partition) and the guard's totals from the database.

    Lag is read every LINKGUARD_METRICS_LAG_INTERVAL seconds into a sliding
    window (Burrow's status); the database totals (records checked, holds per
    reason, review queue, dead letters) are queried at each scrape. Run one per
    deployment; each sink worker serves its own latency histograms on
    LINKGUARD_METRICS_PORT. No label ever carries personal data.
    """
    from linkguard.ops.metrics import DEFAULT_PORT, MetricsSettings, run_exporter
    from sinks import make_engine
    from sinks.settings import DatabaseSettings
    from streams.settings import KafkaSettings

    settings = MetricsSettings()
    err = Console(stderr=True)
    kafka = None
    if lag:
        kafka = KafkaSettings()
        if not kafka.kafka_bootstrap:
            err.print("[red]No Kafka cluster configured.[/] Set LINKGUARD_KAFKA_BOOTSTRAP=host:port, "
                      "or run with --no-lag to export the database totals only.")
            raise typer.Exit(2)
    engine = None
    if database:
        db = DatabaseSettings()
        engine = make_engine(db.database_url, pool_size=min(db.database_pool_size, 2))
    port = port or settings.metrics_port or DEFAULT_PORT
    addr = addr or settings.metrics_addr
    try:
        run_exporter(port, addr, engine=engine, kafka=kafka, groups=group, interval=settings.metrics_lag_interval,
                     window=settings.metrics_lag_window,
                     on_ready=lambda where: err.print(f"serving metrics on http://{where[0]}:{where[1]}/metrics"))
    except RuntimeError as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from e


def reconcile(
    file: Annotated[Path, typer.Argument(help="business-system extract (CSV: CP932/UTF-8, Japanese or English headers)")],
    system: Annotated[str, typer.Option(help="process code whose copies to check, e.g. shintai-techo")],
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="write every finding to this CSV (UTF-8 with BOM)")] = None,
    html_out: Annotated[Optional[Path], typer.Option("--html", help="write the findings as an HTML page")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="override encoding detection, e.g. cp932")] = None,
    limit: Annotated[int, typer.Option(help="rows shown on screen (the files hold all)")] = 200,
) -> None:
    """点検B: compare the sink's intermediate-server copies of one process with its business-system extract.

    Reports copies that differ (which fields, after the guard's normalisation:
    異体字, widths, era dates and address notations are not differences),
    linked extract rows with no live copy, and live copies that should not
    exist (not in the extract, deleted there, or not linked). My Numbers are
    masked everywhere. Exit status 0 when everything matches, 1 when anything
    differs, 2 when the extract or the database cannot be read.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from linkguard.catalogue import CatalogueError, load_catalogue
    from linkguard.ops.reconcile.compare import reconcile as compare_all
    from linkguard.ops.reconcile.store import CopyStore
    from linkguard.ops.reconcile.output import render_table, write_csv, write_html
    from sinks import make_engine
    from sinks.settings import DatabaseSettings
    from sinks import db_error_text
    from streams.csvio import CsvError, read_records

    console, err = Console(), Console(stderr=True)
    try:
        process = load_catalogue().get(system)
    except CatalogueError as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2) from e
    try:
        records = list(read_records(file, system=system, encoding=encoding))
    except (CsvError, OSError) as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2) from e
    database = DatabaseSettings()
    engine = make_engine(database.database_url, pool_size=1)
    try:
        store = CopyStore(engine)
        result = compare_all(process.code, store.copies(process.code), records,
                             open_holds=store.open_holds(process.code))
        if not result.copies:  # a mistyped code finds nothing: say which codes the sink knows
            known = store.systems()
            if known and process.code not in known:
                err.print(f"[yellow]note:[/] the sink has no copies of {process.code!r}; "
                          f"it has copies of: {', '.join(known)}")
    except SQLAlchemyError as e:
        err.print(f"[red]error:[/] cannot read the sink database ({db_error_text(e)}); "
                  "check LINKGUARD_DATABASE_URL")
        raise typer.Exit(2) from e
    finally:
        engine.dispose()
    console.print(render_table(result, process, limit=limit))
    if csv_out:
        write_csv(result, csv_out)
        console.print(f"written: {escape(str(csv_out))}")
    if html_out:
        write_html(result, process, html_out, source=file.name)
        console.print(f"written: {escape(str(html_out))}")
    raise typer.Exit(0 if result.consistent else 1)
