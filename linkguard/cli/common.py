"""Helpers every command group shares: the consoles, the one way a command fails, Kafka settings, progress bars."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err", "fail", "kafka_settings", "progress_bar", "database_engine", "database_failure"]

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print ``error: <message>`` on stderr (markup in the message shown as text) and exit with ``code``."""
    err.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def kafka_settings():
    """The configured cluster; exit 2 with what to set when there is none."""
    from streams.settings import KafkaSettings

    settings = KafkaSettings()
    if not settings.kafka_bootstrap:
        err.print("[red]No Kafka cluster configured.[/] Set LINKGUARD_KAFKA_BOOTSTRAP=host:port "
                  "(start a local one with `linkguard broker`), or run `linkguard demo`.")
        raise typer.Exit(2)
    return settings


def database_engine():
    """The sink database's engine (LINKGUARD_DATABASE_URL), one connection; exit 1 naming what is wrong."""
    from sqlalchemy.engine import make_url

    from sinks import DriverMissing, make_engine
    from sinks.settings import DatabaseSettings

    database = DatabaseSettings()
    try:
        return make_engine(database.database_url, pool_size=1)
    except (DriverMissing, ValueError) as e:
        fail(f"LINKGUARD_DATABASE_URL {make_url(database.database_url).render_as_string()}: {e}")


def database_failure(error: Exception) -> None:
    """Exit 1 with one line for a database error: the driver's class and SQLSTATE, never row values."""
    from sqlalchemy.engine import make_url

    from sinks import db_error_text
    from sinks.settings import DatabaseSettings

    url = make_url(DatabaseSettings().database_url).render_as_string(hide_password=True)
    fail(f"sink database {url} (LINKGUARD_DATABASE_URL): {db_error_text(error)}; "
         f"has `linkguard sink` created its tables there?")


def progress_bar():
    """A progress bar on stderr (stdout stays for results)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err)
