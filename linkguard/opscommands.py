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
