"""Operators' commands: ``linkguard metrics`` (Prometheus exporter) and ``linkguard reconcile`` (点検B).

Thin typer layers; the work is in :mod:`linkguard.metrics` and :mod:`linkguard.reconcile`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console


def metrics(
    port: Annotated[Optional[int], typer.Option(
        help="port of /metrics (default: LINKGUARD_METRICS_PORT, else 9464)")] = None,
    addr: Annotated[Optional[str], typer.Option(help="address to bind (default: LINKGUARD_METRICS_ADDR, 0.0.0.0)")] = None,
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
    from linkguard.metrics import DEFAULT_PORT, MetricsSettings, run_exporter
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
        err.print(f"[red]error:[/] {e}")
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
    from linkguard.reconcile import reconcile as compare_all
    from linkguard.reconcile_db import CopyStore
    from linkguard.reconcile_out import render_table, write_csv, write_html
    from sinks import make_engine
    from sinks.settings import DatabaseSettings
    from sinks.writer import _db_error_text
    from streams.csvio import CsvError, read_records

    console, err = Console(), Console(stderr=True)
    try:
        process = load_catalogue().get(system)
    except CatalogueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    try:
        records = list(read_records(file, system=system, encoding=encoding))
    except (CsvError, OSError) as e:
        err.print(f"[red]error:[/] {e}")
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
        err.print(f"[red]error:[/] cannot read the sink database ({_db_error_text(e)}); "
                  "check LINKGUARD_DATABASE_URL")
        raise typer.Exit(2) from e
    finally:
        engine.dispose()
    console.print(render_table(result, process, limit=limit))
    if csv_out:
        write_csv(result, csv_out)
        console.print(f"written: {csv_out}")
    if html_out:
        write_html(result, process, html_out, source=file.name)
        console.print(f"written: {html_out}")
    raise typer.Exit(0 if result.consistent else 1)
